//! The ledger file: opening it safely, appending to it, reading it.

use crate::entry::{Canonical, EntryKind, Op, Outcome, Resolve, StoredEntry, hash_canonical};
use crate::migrate;
use crate::{Entry, IdempotencyKey, LedgerError};
use kiosk_core::{Account, Transfer, TransferCode};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Marks a SQLite file as a kiosk ledger (`KLDG`), so a foreign database is refused.
const APPLICATION_ID: i32 = 0x4B4C_4447;
/// How long a writer waits for a lock held by a reader before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Page size of a new ledger (see `open`).
const PAGE_SIZE: u32 = 1024;
/// The chain's anchor: the "previous hash" of entry 1.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// One account's balance, as stored (and as `verify` re-derives it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// The account's name (`hopper:500`, `paper:tray`, ...).
    pub account: String,
    /// `krw` or `sheets`.
    pub unit: String,
    /// Posted debits minus posted credits: positive for what the kiosk holds.
    pub posted: i64,
    /// Pending debits (e.g. a note in escrow).
    pub debits_pending: i64,
    /// Pending credits.
    pub credits_pending: i64,
}

/// The kiosk's journal. The value owns the one writing connection: writes take
/// `&mut self`, so there is one writer by construction.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).finish()
    }
}

fn not_a_ledger(path: &Path, reason: impl Into<String>) -> LedgerError {
    LedgerError::NotALedger {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Refuses, without opening it through SQLite, a file that is not a SQLite database or
/// has been truncated: SQLite itself would only notice on the page it reads.
fn precheck(path: &Path) -> Result<(), LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(());
    }
    let mut header = [0u8; 100];
    if len < 100 || file.read_exact(&mut header).is_err() {
        return Err(not_a_ledger(
            path,
            format!("{len} bytes is shorter than a SQLite header"),
        ));
    }
    if &header[..16] != b"SQLite format 3\0" {
        return Err(not_a_ledger(path, "not a SQLite database"));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536u64,
        n if n >= 512 && n.is_power_of_two() => u64::from(n),
        n => return Err(not_a_ledger(path, format!("bad page size {n}"))),
    };
    // A write-ahead log with frames in it is part of the database: the main file may
    // legitimately be shorter than its header says (a checkpoint interrupted between
    // writing page 1 and the last page), and SQLite recovers it from the log. Leave that
    // case to SQLite, whose own checks still refuse real corruption.
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Ok(());
    }
    if len % page_size != 0 {
        return Err(not_a_ledger(
            path,
            format!("{len} bytes is not whole pages of {page_size}: truncated"),
        ));
    }
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let change = &header[24..28];
    let valid_for = &header[92..96];
    if pages > 0 && change == valid_for && len < pages * page_size {
        return Err(not_a_ledger(
            path,
            format!(
                "header says {pages} pages, file holds {}: truncated",
                len / page_size
            ),
        ));
    }
    Ok(())
}

/// The last entry: the next one chains to it.
struct Tail {
    seq: u64,
    hash: [u8; 32],
}

fn read_tail(tx: &Transaction<'_>) -> Result<Tail, LedgerError> {
    let seq: i64 = tx.query_row(
        "SELECT value FROM counters WHERE name = 'journal_seq'",
        [],
        |r| r.get(0),
    )?;
    let seq = u64::try_from(seq).map_err(|_| LedgerError::BadRow {
        seq: 0,
        field: "counter",
        reason: format!("negative sequence {seq}"),
    })?;
    if seq == 0 {
        return Ok(Tail { seq, hash: GENESIS });
    }
    let hash: Vec<u8> = tx.query_row(
        "SELECT hash FROM journal WHERE seq = ?1",
        [seq as i64],
        |r| r.get(0),
    )?;
    let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| LedgerError::BadRow {
        seq,
        field: "hash",
        reason: "not 32 bytes".into(),
    })?;
    Ok(Tail { seq, hash })
}

fn seq_i64(seq: u64) -> i64 {
    // Sequences start at 1 and grow by one per entry; 2^63 entries is not reachable.
    i64::try_from(seq).unwrap_or(i64::MAX)
}

struct Row<'a> {
    kind: EntryKind,
    at_ms: i64,
    debit: &'a str,
    credit: &'a str,
    unit: &'a str,
    amount: i64,
    code: &'a str,
    session: Option<u64>,
    document: Option<&'a str>,
    issue: Option<&'a str>,
    key: Option<&'a str>,
    resolves: Option<u64>,
}

fn insert(tx: &Transaction<'_>, tail: &mut Tail, r: &Row<'_>) -> Result<u64, LedgerError> {
    let seq = tail.seq + 1;
    let hash = hash_canonical(
        &tail.hash,
        &Canonical {
            seq,
            at_ms: r.at_ms,
            kind: r.kind,
            debit: r.debit,
            credit: r.credit,
            unit: r.unit,
            amount: r.amount,
            code: r.code,
            session: r.session,
            document: r.document,
            issue: r.issue,
            key: r.key,
            resolves: r.resolves,
        },
    );
    tx.prepare_cached(
        "INSERT INTO journal (seq, at_ms, kind, debit, credit, unit, amount, code, session,
             document, issue, idempotency_key, resolves, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        seq_i64(seq),
        r.at_ms,
        r.kind.as_str(),
        r.debit,
        r.credit,
        r.unit,
        r.amount,
        r.code,
        r.session.map(seq_i64),
        r.document,
        r.issue,
        r.key,
        r.resolves.map(seq_i64),
        &tail.hash[..],
        &hash[..],
    ])?;
    // Posted columns: (debits, credits); pending columns likewise. Signed deltas.
    let (posted, pending) = match r.kind {
        EntryKind::Posted => (r.amount, 0),
        EntryKind::Pending => (0, r.amount),
        EntryKind::Post => (r.amount, -r.amount),
        EntryKind::Void => (0, -r.amount),
    };
    let mut bump = tx.prepare_cached(
        "INSERT INTO balances (account, unit, debits_posted, credits_posted, debits_pending, credits_pending)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (account) DO UPDATE SET
             debits_posted = debits_posted + excluded.debits_posted,
             credits_posted = credits_posted + excluded.credits_posted,
             debits_pending = debits_pending + excluded.debits_pending,
             credits_pending = credits_pending + excluded.credits_pending",
    )?;
    bump.execute(params![r.debit, r.unit, posted, 0, pending, 0])?;
    bump.execute(params![r.credit, r.unit, 0, posted, 0, pending])?;
    // The counter steps with every entry (a trigger refuses any other step).
    tx.prepare_cached("UPDATE counters SET value = ?1 WHERE name = 'journal_seq'")?
        .execute([seq_i64(seq)])?;
    *tail = Tail { seq, hash };
    Ok(seq)
}

fn find_key(tx: &Connection, key: &str) -> Result<Option<u64>, LedgerError> {
    let seq: Option<i64> = tx
        .prepare_cached("SELECT seq FROM journal WHERE idempotency_key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    Ok(seq.map(|s| s as u64))
}

fn append_entry(
    tx: &Transaction<'_>,
    tail: &mut Tail,
    e: &Entry,
    kind: EntryKind,
) -> Result<Outcome, LedgerError> {
    if let Some(key) = &e.key {
        if let Some(seq) = find_key(tx, key.as_str())? {
            return Ok(Outcome::Duplicate(seq));
        }
    }
    let t = &e.transfer;
    let (debit, credit) = (t.debit().to_string(), t.credit().to_string());
    let amount = i64::try_from(t.amount()).map_err(|_| LedgerError::Overflow(debit.clone()))?;
    let seq = insert(
        tx,
        tail,
        &Row {
            kind,
            at_ms: e.at_ms,
            debit: &debit,
            credit: &credit,
            unit: t.unit().as_str(),
            amount,
            code: t.code().as_str(),
            session: e.session.map(|s| s.0),
            document: e.document.as_ref().map(|d| d.as_str()),
            issue: e.issue.as_ref().map(|i| i.as_str()),
            key: e.key.as_ref().map(IdempotencyKey::as_str),
            resolves: None,
        },
    )?;
    Ok(Outcome::Booked(seq))
}

fn resolve(
    tx: &Transaction<'_>,
    tail: &mut Tail,
    target: &Resolve,
    at_ms: i64,
    kind: EntryKind,
) -> Result<Outcome, LedgerError> {
    let pending = match target {
        Resolve::Seq(s) => *s,
        Resolve::Key(k) => {
            find_key(tx, k.as_str())?.ok_or_else(|| LedgerError::UnknownPending(k.to_string()))?
        }
    };
    type Pending = (
        String,
        String,
        String,
        String,
        i64,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Pending> = tx
        .prepare_cached(
            "SELECT kind, debit, credit, unit, amount, code, session, document, issue
             FROM journal WHERE seq = ?1",
        )?
        .query_row([seq_i64(pending)], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .optional()?;
    let (pkind, debit, credit, unit, amount, code, session, document, issue) =
        row.ok_or_else(|| LedgerError::UnknownPending(pending.to_string()))?;
    if pkind != EntryKind::Pending.as_str() {
        return Err(LedgerError::NotPending(pending));
    }
    let by: Option<i64> = tx
        .prepare_cached("SELECT seq FROM journal WHERE resolves = ?1")?
        .query_row([seq_i64(pending)], |r| r.get(0))
        .optional()?;
    if let Some(by) = by {
        return Err(LedgerError::AlreadyResolved {
            pending,
            by: by as u64,
        });
    }
    let seq = insert(
        tx,
        tail,
        &Row {
            kind,
            at_ms,
            debit: &debit,
            credit: &credit,
            unit: &unit,
            amount,
            code: &code,
            session: session.map(|s| s as u64),
            document: document.as_deref(),
            issue: issue.as_deref(),
            key: None,
            resolves: Some(pending),
        },
    )?;
    Ok(Outcome::Booked(seq))
}

pub(crate) fn stored_entry(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<StoredEntry, LedgerError>> {
    let seq = r.get::<_, i64>(0)? as u64;
    let kind: String = r.get(2)?;
    let hash32 = |v: Vec<u8>, field| {
        <[u8; 32]>::try_from(v.as_slice()).map_err(|_| LedgerError::BadRow {
            seq,
            field,
            reason: "not 32 bytes".into(),
        })
    };
    let Some(kind) = EntryKind::parse(&kind) else {
        return Ok(Err(LedgerError::BadRow {
            seq,
            field: "kind",
            reason: kind,
        }));
    };
    let prev_hash = match hash32(r.get(13)?, "prev_hash") {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    let hash = match hash32(r.get(14)?, "hash") {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(StoredEntry {
        seq,
        at_ms: r.get(1)?,
        kind,
        debit: r.get(3)?,
        credit: r.get(4)?,
        unit: r.get(5)?,
        amount: r.get(6)?,
        code: r.get(7)?,
        session: r.get::<_, Option<i64>>(8)?.map(|s| s as u64),
        document: r.get(9)?,
        issue: r.get(10)?,
        key: r.get(11)?,
        resolves: r.get::<_, Option<i64>>(12)?.map(|s| s as u64),
        prev_hash,
        hash,
    }))
}

pub(crate) const SELECT_ENTRY: &str =
    "SELECT seq, at_ms, kind, debit, credit, unit, amount, code, session,
    document, issue, idempotency_key, resolves, prev_hash, hash FROM journal";

impl Ledger {
    /// Opens (or creates) the ledger at `path`: refuses files that are not a ledger or are
    /// newer than this code, before writing anything; then sets WAL, `synchronous=FULL`
    /// and foreign keys, and applies pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<Ledger, LedgerError> {
        let path = path.as_ref();
        precheck(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let classify = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase)
            | Some(rusqlite::ErrorCode::DatabaseCorrupt) => not_a_ledger(path, e.to_string()),
            _ => LedgerError::Sqlite(e),
        };
        // Read-only checks first: a foreign or newer database is left untouched.
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(classify)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(classify)?;
        if tables > 0 && app_id != APPLICATION_ID {
            return Err(not_a_ledger(
                path,
                "a SQLite database, but not a kiosk ledger",
            ));
        }
        migrate::refuse_newer(&conn)?;
        if tables == 0 {
            // Small pages: a commit writes a few pages to the WAL before its one fdatasync,
            // so smaller pages mean fewer bytes per commit. Only possible before the
            // first table exists.
            conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}"))?;
        }
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::NotWal(mode));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        for (name, wanted, label) in [("synchronous", 2, "FULL"), ("foreign_keys", 1, "ON")] {
            let value: i64 = conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
            if value != wanted {
                return Err(LedgerError::Pragma {
                    name,
                    value: value.to_string(),
                    wanted: label,
                });
            }
        }
        if app_id != APPLICATION_ID {
            conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
        }
        migrate::migrate(&mut conn)?;
        Ok(Ledger {
            conn,
            path: path.to_owned(),
        })
    }

    /// The file this ledger lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `ops` in one transaction (one fsync): all of them or none.
    pub fn apply(&mut self, ops: &[Op]) -> Result<Vec<Outcome>, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut tail = read_tail(&tx)?;
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(match op {
                Op::Post(e) => append_entry(&tx, &mut tail, e, EntryKind::Posted)?,
                Op::Pending(e) => append_entry(&tx, &mut tail, e, EntryKind::Pending)?,
                Op::PostPending { pending, at_ms } => {
                    resolve(&tx, &mut tail, pending, *at_ms, EntryKind::Post)?
                }
                Op::VoidPending { pending, at_ms } => {
                    resolve(&tx, &mut tail, pending, *at_ms, EntryKind::Void)?
                }
                side @ (Op::Intent(_) | Op::Settle { .. } | Op::Cursor(_)) => {
                    crate::intents::apply_side(&tx, side)?;
                    Outcome::Recorded
                }
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// Books one posted transfer.
    pub fn post(&mut self, entry: Entry) -> Result<Outcome, LedgerError> {
        self.one(Op::Post(entry))
    }

    /// Books one pending transfer (a note in escrow).
    pub fn pending(&mut self, entry: Entry) -> Result<Outcome, LedgerError> {
        self.one(Op::Pending(entry))
    }

    /// Posts a pending transfer, exactly once.
    pub fn post_pending(&mut self, pending: Resolve, at_ms: i64) -> Result<u64, LedgerError> {
        self.one(Op::PostPending { pending, at_ms })
            .map(Outcome::seq)
    }

    /// Voids a pending transfer, exactly once.
    pub fn void_pending(&mut self, pending: Resolve, at_ms: i64) -> Result<u64, LedgerError> {
        self.one(Op::VoidPending { pending, at_ms })
            .map(Outcome::seq)
    }

    fn one(&mut self, op: Op) -> Result<Outcome, LedgerError> {
        let mut v = self.apply(std::slice::from_ref(&op))?;
        // apply returns exactly one outcome per op.
        v.pop()
            .ok_or_else(|| LedgerError::UnknownPending("no outcome".into()))
    }

    /// Records a physical count of `account` by staff: the difference from the books is
    /// booked against the unit's discrepancy account, never edited in. Returns the
    /// difference (counted minus booked) and the entry, if any.
    pub fn record_count(
        &mut self,
        account: &Account,
        counted: i64,
        at_ms: i64,
    ) -> Result<(i64, Option<u64>), LedgerError> {
        if counted < 0 {
            return Err(LedgerError::BadCount(counted));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let name = account.to_string();
        let booked: i64 = tx
            .query_row(
                "SELECT debits_posted - credits_posted FROM balances WHERE account = ?1",
                [&name],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let diff = counted
            .checked_sub(booked)
            .ok_or(LedgerError::BadCount(counted))?;
        if diff == 0 {
            return Ok((0, None));
        }
        let other = Account::Discrepancy(account.unit());
        let (debit, credit) = if diff > 0 {
            (account.clone(), other)
        } else {
            (other, account.clone())
        };
        let transfer = Transfer::new(
            debit,
            credit,
            diff.unsigned_abs(),
            TransferCode::CountDiscrepancy,
        )?;
        let mut tail = read_tail(&tx)?;
        let seq = append_entry(
            &tx,
            &mut tail,
            &Entry::new(transfer, at_ms),
            EntryKind::Posted,
        )?
        .seq();
        tx.commit()?;
        Ok((diff, Some(seq)))
    }

    /// A second connection to the same ledger, for a reader or a side-table writer in the
    /// same process (the daemon's reconciler). It skips the pre-check on purpose: opening
    /// and closing the file outside SQLite would release every POSIX lock this process
    /// holds on it (fcntl locks are per process, dropped on any close), after which
    /// another process closing its connection would believe itself the last and delete
    /// the write-ahead log under this one: committed entries lost at the next crash.
    pub fn second_connection(&self) -> Result<Ledger, LedgerError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        Ok(Ledger {
            conn,
            path: self.path.clone(),
        })
    }

    /// The connection, for the side tables of this crate (the e-government message log).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Every account's stored balance, by account name.
    pub fn balances(&self) -> Result<Vec<Balance>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT account, unit, debits_posted - credits_posted, debits_pending, credits_pending
             FROM balances ORDER BY unit, account",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Balance {
                account: r.get(0)?,
                unit: r.get(1)?,
                posted: r.get(2)?,
                debits_pending: r.get(3)?,
                credits_pending: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The posted balance of one account (0 if it never moved).
    pub fn balance(&self, account: &Account) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT debits_posted - credits_posted FROM balances WHERE account = ?1",
                [account.to_string()],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// The last sequence number booked (0 for an empty journal).
    pub fn last_seq(&self) -> Result<u64, LedgerError> {
        let v: i64 = self.conn.query_row(
            "SELECT value FROM counters WHERE name = 'journal_seq'",
            [],
            |r| r.get(0),
        )?;
        Ok(v.max(0) as u64)
    }

    /// The hash of entry `seq`, if there is one.
    pub fn hash_at(&self, seq: u64) -> Result<Option<[u8; 32]>, LedgerError> {
        let h: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT hash FROM journal WHERE seq = ?1",
                [seq_i64(seq)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(h.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok()))
    }

    /// The entry booked under `key`, if any: how a restarted daemon learns whether a
    /// device event was already booked.
    pub fn find(&self, key: &IdempotencyKey) -> Result<Option<u64>, LedgerError> {
        find_key(&self.conn, key.as_str())
    }

    /// Calls `f` with every entry after `since`, in order, without holding them all in
    /// memory: the export to the district server.
    pub fn for_each_since(
        &self,
        since: u64,
        mut f: impl FnMut(StoredEntry) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut stmt = self
            .conn
            .prepare(&format!("{SELECT_ENTRY} WHERE seq > ?1 ORDER BY seq"))?;
        let mut rows = stmt.query([seq_i64(since)])?;
        while let Some(r) = rows.next()? {
            f(stored_entry(r)??)?;
        }
        Ok(())
    }

    /// Writes every entry after `since` to `out` as JSON lines (one [`StoredEntry`] object
    /// per line), streaming: the export the district server ingests. Returns the number
    /// of lines written; `out` is not flushed.
    pub fn export_jsonl(
        &self,
        since: u64,
        out: &mut impl std::io::Write,
    ) -> Result<u64, LedgerError> {
        let mut lines = 0u64;
        self.for_each_since(since, |e| {
            serde_json::to_writer(&mut *out, &e).map_err(|e| LedgerError::Export(e.into()))?;
            out.write_all(b"\n").map_err(LedgerError::Export)?;
            lines += 1;
            Ok(())
        })?;
        Ok(lines)
    }

    /// Entries after `since`, at most `limit` of them.
    pub fn entries_since(&self, since: u64, limit: usize) -> Result<Vec<StoredEntry>, LedgerError> {
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT_ENTRY} WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))?;
        let mut rows = stmt.query(params![
            seq_i64(since),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(stored_entry(r)??);
        }
        Ok(out)
    }

    /// Pending transfers not yet posted or voided: what crash recovery must settle (a note
    /// left in escrow).
    pub fn open_pending(&self) -> Result<Vec<StoredEntry>, LedgerError> {
        let mut stmt = self.conn.prepare(&format!(
            "{SELECT_ENTRY} j WHERE kind = 'pending'
             AND NOT EXISTS (SELECT 1 FROM journal r WHERE r.resolves = j.seq) ORDER BY seq"
        ))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(stored_entry(r)??);
        }
        Ok(out)
    }

    /// How far the district server has acknowledged the journal.
    pub fn acked_through(&self) -> Result<u64, LedgerError> {
        let v: i64 =
            self.conn
                .query_row("SELECT acked_through FROM outbox WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        Ok(v.max(0) as u64)
    }

    /// Moves the outbox cursor forward to `seq` (the district server acknowledged it).
    pub fn ack_through(&mut self, seq: u64) -> Result<(), LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let acked: i64 =
            tx.query_row("SELECT acked_through FROM outbox WHERE id = 1", [], |r| {
                r.get(0)
            })?;
        let last = read_tail(&tx)?.seq;
        let acked = acked.max(0) as u64;
        if seq < acked || seq > last {
            return Err(LedgerError::BadAck {
                asked: seq,
                acked,
                last,
            });
        }
        tx.execute(
            "UPDATE outbox SET acked_through = ?1 WHERE id = 1",
            [seq_i64(seq)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Re-walks the chain and re-derives every balance; see [`crate::VerifyReport`].
    pub fn verify(&self) -> Result<crate::VerifyReport, LedgerError> {
        crate::verify::verify(&self.conn)
    }
}
