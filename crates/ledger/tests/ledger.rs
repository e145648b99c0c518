//! Behaviour of the ledger file: migrations, append-only, exactly once, balances, verify.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kiosk_core::{Account, Coin, Note, Transfer, TransferCode};
use kiosk_ledger::{Entry, IdempotencyKey, Ledger, LedgerError, Op, Outcome, Resolve, VerifyError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ledger.db")
}

/// A second connection that drops the append-only triggers, as an attacker with file
/// access could; used to prove `verify` notices.
fn tamper(path: &Path, sql: &str) {
    let c = Connection::open(path).unwrap();
    let triggers: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in triggers {
        c.execute_batch(&format!("DROP TRIGGER {t};")).unwrap();
    }
    c.execute_batch(sql).unwrap();
}

fn filled(path: &Path) -> Ledger {
    let mut l = Ledger::open(path).unwrap();
    for i in 0..5 {
        l.post(coin(Coin::W100, i)).unwrap();
    }
    l.post(paper_load(500)).unwrap();
    l
}

#[test]
fn migrations_are_recorded_once_and_pragmas_hold() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(db(&dir)).unwrap());
    drop(Ledger::open(db(&dir)).unwrap());
    let c = Connection::open(db(&dir)).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, kiosk_ledger::MIGRATIONS.len() as i64);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(c.execute("DELETE FROM schema_migrations", []).is_err());
}

#[test]
fn a_newer_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(db(&dir)).unwrap());
    let c = Connection::open(db(&dir)).unwrap();
    c.execute_batch(
        "DROP TRIGGER schema_migrations_no_update; DROP TRIGGER schema_migrations_no_delete;",
    )
    .unwrap();
    c.execute(
        "INSERT INTO schema_migrations VALUES (99, 'future', 'x')",
        [],
    )
    .unwrap();
    drop(c);
    let before = std::fs::read(db(&dir)).unwrap();
    match Ledger::open(db(&dir)) {
        Err(LedgerError::TooNew { found: 99, known }) => {
            assert_eq!(known, kiosk_ledger::MIGRATIONS.len() as i64)
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert_eq!(std::fs::read(db(&dir)).unwrap(), before);
}

#[test]
fn garbage_truncated_and_foreign_files_are_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // Garbage.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5Au8; 8192]).unwrap();
    assert!(matches!(
        Ledger::open(&garbage),
        Err(LedgerError::NotALedger { .. })
    ));
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x5Au8; 8192]);
    // Truncated: a real ledger cut in the middle of a page, and cut to whole pages.
    let path = db(&dir);
    let mut l = filled(&path);
    for i in 0..300 {
        l.post(coin(Coin::W500, i)).unwrap();
    }
    drop(l);
    // Checkpoint so the main file holds everything, then cut it.
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let full = std::fs::read(&path).unwrap();
    assert!(full.len() > 8192, "test needs a multi-page database");
    for cut in [full.len() - 100, full.len() - 4096, 50] {
        let t = dir.path().join(format!("cut{cut}.db"));
        std::fs::write(&t, &full[..cut]).unwrap();
        let err = Ledger::open(&t).unwrap_err();
        assert!(
            matches!(err, LedgerError::NotALedger { .. }),
            "cut {cut}: {err}"
        );
        assert!(
            err.to_string().contains("truncated") || err.to_string().contains("shorter"),
            "{err}"
        );
        assert_eq!(std::fs::read(&t).unwrap(), &full[..cut]);
    }
    // Foreign SQLite database.
    let foreign = dir.path().join("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER);")
        .unwrap();
    let before = std::fs::read(&foreign).unwrap();
    assert!(matches!(
        Ledger::open(&foreign),
        Err(LedgerError::NotALedger { .. })
    ));
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
}

#[test]
fn the_journal_refuses_update_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(&db(&dir)));
    let c = Connection::open(db(&dir)).unwrap();
    let e = c
        .execute("UPDATE journal SET amount = 1 WHERE seq = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = c
        .execute("DELETE FROM journal WHERE seq = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
}

#[test]
fn a_replayed_device_event_is_booked_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(db(&dir)).unwrap();
    let first = l.post(keyed_coin(Coin::W500, 7)).unwrap();
    assert_eq!(first, Outcome::Booked(1));
    assert_eq!(
        l.post(keyed_coin(Coin::W500, 7)).unwrap(),
        Outcome::Duplicate(1)
    );
    assert_eq!(
        l.post(keyed_coin(Coin::W500, 8)).unwrap(),
        Outcome::Booked(2)
    );
    assert_eq!(l.balance(&Account::Hopper(Coin::W500)).unwrap(), 1000);
    assert_eq!(l.last_seq().unwrap(), 2);
    let key = IdempotencyKey::device_event("coin", "SN1", 7).unwrap();
    assert_eq!(l.find(&key).unwrap(), Some(1));
}

#[test]
fn a_pending_transfer_is_resolved_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(db(&dir)).unwrap();
    let p = l.pending(escrow(Note::W1000, "escrow:S1:0")).unwrap().seq();
    assert_eq!(
        l.balance(&Account::Escrow).unwrap(),
        0,
        "pending is not posted"
    );
    assert_eq!(l.open_pending().unwrap().len(), 1);
    l.post_pending(Resolve::Seq(p), 1).unwrap();
    assert_eq!(l.balance(&Account::Escrow).unwrap(), 1000);
    assert!(matches!(
        l.post_pending(Resolve::Seq(p), 2),
        Err(LedgerError::AlreadyResolved { .. })
    ));
    assert!(matches!(
        l.void_pending(Resolve::Seq(p), 2),
        Err(LedgerError::AlreadyResolved { .. })
    ));
    assert!(l.open_pending().unwrap().is_empty());
    // Void by key.
    l.pending(escrow(Note::W5000, "escrow:S1:1")).unwrap();
    l.void_pending(Resolve::Key(IdempotencyKey::new("escrow:S1:1").unwrap()), 3)
        .unwrap();
    assert_eq!(l.balance(&Account::Escrow).unwrap(), 1000);
    // Resolving something that is not pending.
    let posted = l.post(coin(Coin::W100, 4)).unwrap().seq();
    assert!(matches!(
        l.post_pending(Resolve::Seq(posted), 5),
        Err(LedgerError::NotPending(_))
    ));
    assert!(matches!(
        l.post_pending(Resolve::Seq(999), 5),
        Err(LedgerError::UnknownPending(_))
    ));
    let b: Vec<_> = l.balances().unwrap();
    let escrow = b.iter().find(|b| b.account == "escrow").unwrap();
    assert_eq!((escrow.debits_pending, escrow.credits_pending), (0, 0));
    l.verify().unwrap();
}

#[test]
fn a_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(db(&dir)).unwrap();
    let ops = vec![
        Op::Pending(escrow(Note::W10000, "escrow:S2:0")),
        Op::PostPending {
            pending: Resolve::Key(IdempotencyKey::new("escrow:S2:0").unwrap()),
            at_ms: 1,
        },
        Op::Post(coin(Coin::W100, 2)),
    ];
    let out = l.apply(&ops).unwrap();
    assert_eq!(
        out.iter().map(|o| o.seq()).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // The second op fails: nothing of the batch is written.
    let bad = vec![
        Op::Post(coin(Coin::W100, 3)),
        Op::VoidPending {
            pending: Resolve::Seq(1),
            at_ms: 4,
        },
    ];
    assert!(l.apply(&bad).is_err());
    assert_eq!(l.last_seq().unwrap(), 3);
    assert_eq!(l.balance(&Account::Hopper(Coin::W100)).unwrap(), 100);
    l.verify().unwrap();
}

#[test]
fn balances_sum_to_zero_and_counts_book_discrepancies() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = filled(&db(&dir));
    let (diff, seq) = l.record_count(&Account::PaperTray, 497, 9).unwrap();
    assert_eq!(diff, -3);
    assert!(seq.is_some());
    assert_eq!(l.balance(&Account::PaperTray).unwrap(), 497);
    assert_eq!(
        l.balance(&Account::Discrepancy(kiosk_core::Unit::Sheets))
            .unwrap(),
        3
    );
    assert_eq!(
        l.record_count(&Account::PaperTray, 497, 10).unwrap(),
        (0, None)
    );
    assert!(matches!(
        l.record_count(&Account::PaperTray, -1, 10),
        Err(LedgerError::BadCount(-1))
    ));
    for unit in ["krw", "sheets"] {
        let sum: i64 = l
            .balances()
            .unwrap()
            .iter()
            .filter(|b| b.unit == unit)
            .map(|b| b.posted)
            .sum();
        assert_eq!(sum, 0, "{unit}");
    }
    let report = l.verify().unwrap();
    assert_eq!(report.entries, 7);
}

#[test]
fn the_outbox_cursor_only_moves_forward() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = filled(&db(&dir));
    assert_eq!(l.acked_through().unwrap(), 0);
    l.ack_through(3).unwrap();
    assert!(matches!(l.ack_through(2), Err(LedgerError::BadAck { .. })));
    assert!(matches!(l.ack_through(99), Err(LedgerError::BadAck { .. })));
    assert_eq!(l.acked_through().unwrap(), 3);
    let after: Vec<u64> = l
        .entries_since(3, 100)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(after, vec![4, 5, 6]);
    // Exported entries carry their hashes; anyone can re-check the chain.
    for e in l.entries_since(0, 100).unwrap() {
        assert_eq!(kiosk_ledger::entry_hash(&e), e.hash);
    }
}

fn verify_error(path: &Path) -> VerifyError {
    match Ledger::open(path).unwrap().verify() {
        Err(LedgerError::Verify(v)) => v,
        other => panic!("expected a verify error, got {other:?}"),
    }
}

#[test]
fn verify_names_the_first_bad_entry() {
    let dir = tempfile::tempdir().unwrap();
    // Edited amount (and the balance fixed up to match, to hide it).
    let p = dir.path().join("edited.db");
    filled(&p).verify().unwrap();
    tamper(&p, "UPDATE journal SET amount = 500 WHERE seq = 3;
                UPDATE balances SET debits_posted = debits_posted + 400 WHERE account = 'hopper:100';
                UPDATE balances SET credits_posted = credits_posted + 400 WHERE account = 'session-credit';");
    assert_eq!(verify_error(&p), VerifyError::Edited(3));
    // Deleted row in the middle.
    let p = dir.path().join("deleted.db");
    drop(filled(&p));
    tamper(&p, "DELETE FROM journal WHERE seq = 2;");
    assert_eq!(
        verify_error(&p),
        VerifyError::Gap {
            expected: 2,
            found: 3
        }
    );
    // Deleted last row.
    let p = dir.path().join("tail.db");
    drop(filled(&p));
    tamper(&p, "DELETE FROM journal WHERE seq = 6;");
    assert_eq!(verify_error(&p).first_bad_seq(), 6);
    // Broken link: a rewritten prev_hash.
    let p = dir.path().join("link.db");
    drop(filled(&p));
    tamper(
        &p,
        "UPDATE journal SET prev_hash = zeroblob(32) WHERE seq = 4;",
    );
    assert_eq!(verify_error(&p), VerifyError::BrokenLink(4));
    // A tampered balance.
    let p = dir.path().join("balance.db");
    drop(filled(&p));
    tamper(
        &p,
        "UPDATE balances SET debits_posted = 1 WHERE account = 'paper:tray';",
    );
    match verify_error(&p) {
        VerifyError::Balance { account, first_seq } => {
            assert_eq!(account, "paper:tray");
            assert_eq!(first_seq, 6);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_column_can_hold_personal_data() {
    // Every text column is a validated code; constraints bound them in SQL too.
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(db(&dir)).unwrap();
    let fee = Entry::new(
        Transfer::new(
            Account::SessionCredit,
            Account::Revenue(kiosk_core::DocCode::new("RES-COPY").unwrap()),
            200,
            TransferCode::Fee,
        )
        .unwrap(),
        0,
    )
    .issue(kiosk_core::IssueNumber::new("20261123-0001").unwrap());
    l.post(fee).unwrap();
    assert!(kiosk_core::IssueNumber::new("900101-1234567 홍길동").is_err());
    assert!(IdempotencyKey::new("홍길동").is_err());
    let c = Connection::open(db(&dir)).unwrap();
    let cols: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('journal')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for forbidden in [
        "name",
        "resident",
        "address",
        "rrn",
        "fingerprint",
        "note",
        "memo",
        "text",
    ] {
        assert!(
            cols.iter().all(|c| !c.contains(forbidden)),
            "{forbidden} in {cols:?}"
        );
    }
}

#[test]
fn a_ledger_at_an_older_version_is_brought_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = filled(&db(&dir));
    l.pending(escrow(Note::W1000, "escrow:S3:0")).unwrap();
    drop(l);
    // Make it a version-1 ledger: migration 2's triggers and record gone.
    tamper(
        &db(&dir),
        "DELETE FROM schema_migrations WHERE version = 2;
         CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
         BEGIN SELECT RAISE(ABORT, 'the journal is append-only: UPDATE refused'); END;
         CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
         BEGIN SELECT RAISE(ABORT, 'the journal is append-only: DELETE refused'); END;",
    );
    let mut l = Ledger::open(db(&dir)).unwrap();
    let c = Connection::open(db(&dir)).unwrap();
    let versions: Vec<(i64, String)> = c
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        versions,
        vec![
            (1, "journal".to_owned()),
            (2, "sql_guards".to_owned()),
            (3, "egov_messages".to_owned()),
            (4, "device_intents".to_owned())
        ]
    );
    assert!(c.execute("DELETE FROM counters", []).is_err());
    // The ledger carries on from where it was.
    l.post_pending(Resolve::Seq(7), 1).unwrap();
    assert_eq!(l.verify().unwrap().last_seq, 8);
}

#[test]
fn a_changed_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(db(&dir)).unwrap());
    tamper(
        &db(&dir),
        "UPDATE schema_migrations SET checksum = 'x' WHERE version = 1;",
    );
    match Ledger::open(db(&dir)) {
        Err(LedgerError::MigrationChanged { version: 1, name }) => assert_eq!(name, "journal"),
        other => panic!("expected MigrationChanged, got {other:?}"),
    }
}

#[test]
fn a_corrupted_file_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(&db(&dir)));
    Connection::open(db(&dir))
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let good = std::fs::read(db(&dir)).unwrap();
    // Scribble over page 1 after the file header: the schema's b-tree page.
    let mut bad = good.clone();
    for b in &mut bad[100..1024] {
        *b ^= 0xFF;
    }
    let p = dir.path().join("scribbled.db");
    std::fs::write(&p, &bad).unwrap();
    let err = Ledger::open(&p).unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err}");
    assert_eq!(std::fs::read(&p).unwrap(), bad);
    // A bad page size in the header.
    let mut bad = good.clone();
    bad[16..18].copy_from_slice(&1000u16.to_be_bytes());
    let p = dir.path().join("pagesize.db");
    std::fs::write(&p, &bad).unwrap();
    let err = Ledger::open(&p).unwrap_err();
    assert!(err.to_string().contains("page size"), "{err}");
    assert_eq!(std::fs::read(&p).unwrap(), bad);
}

#[test]
fn a_corrupted_journal_page_fails_verify_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = filled(&db(&dir));
    let ops: Vec<Op> = (0..400).map(|i| Op::Post(coin(Coin::W10, i))).collect();
    l.apply(&ops).unwrap();
    drop(l);
    Connection::open(db(&dir))
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let good = std::fs::read(db(&dir)).unwrap();
    let pages = good.len() / 1024;
    assert!(pages > 20);
    // Every page from the middle on, one at a time: scribble over its second half.
    for page in pages / 2..pages {
        let mut bad = good.clone();
        for b in &mut bad[page * 1024 + 512..(page + 1) * 1024] {
            *b ^= 0x5A;
        }
        let p = dir.path().join(format!("page{page}.db"));
        std::fs::write(&p, &bad).unwrap();
        // Open may notice (NotALedger) or not; verify must then fail with an error.
        if let Ok(l) = Ledger::open(&p) {
            assert!(l.verify().is_err(), "page {page} scribbled, verify passed");
        }
    }
}

/// A raw connection with the triggers in place: SQLite itself refuses entries that break
/// the journal's rules, whoever writes them.
#[test]
fn sql_refuses_entries_that_break_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = filled(&db(&dir));
    let p = l.pending(escrow(Note::W1000, "escrow:S9:0")).unwrap().seq();
    l.post_pending(Resolve::Seq(p), 1).unwrap();
    let last = l.entries_since(0, 100).unwrap().pop().unwrap();
    drop(l);
    let c = Connection::open(db(&dir)).unwrap();
    let insert = |seq: i64, prev: &[u8], kind: &str, resolves: Option<i64>| {
        c.execute(
            "INSERT INTO journal (seq, at_ms, kind, debit, credit, unit, amount, code,
                 resolves, prev_hash, hash)
             VALUES (?1, 0, ?2, 'escrow', 'session-credit', 'krw', 1000, 'note-escrowed',
                 ?3, ?4, zeroblob(32))",
            rusqlite::params![seq, kind, resolves, prev],
        )
        .unwrap_err()
        .to_string()
    };
    let next = last.seq as i64 + 1;
    for (seq, prev, kind, resolves, why) in [
        // A second entry numbered like the last, linked like it.
        (
            next - 1,
            &last.prev_hash[..],
            "posted",
            None,
            "next sequence",
        ),
        (next, &[0; 32][..], "posted", None, "link"),
        // Resolving again (the unique index), or resolving a posted entry.
        (next, &last.hash[..], "void", Some(p as i64), "UNIQUE"),
        (next, &last.hash[..], "post", Some(1), "resolve a pending"),
    ] {
        let e = insert(seq, prev, kind, resolves);
        assert!(e.contains(why), "{seq} {kind}: {e}");
    }
    for (sql, why) in [
        ("UPDATE counters SET value = value + 2", "forward by one"),
        ("UPDATE counters SET value = value - 1", "forward by one"),
        ("DELETE FROM counters", "cannot be deleted"),
        (
            "UPDATE balances SET debits_posted = 0 WHERE account = 'hopper:100'",
            "balances move",
        ),
        ("DELETE FROM balances", "cannot be deleted"),
        ("UPDATE outbox SET acked_through = -1", "forward"),
        ("DELETE FROM outbox", "cannot be deleted"),
        ("UPDATE schema_migrations SET checksum = 'x'", "append-only"),
    ] {
        let e = c.execute(sql, []).unwrap_err().to_string();
        assert!(e.contains(why), "{sql}: {e}");
    }
    drop(c);
    Ledger::open(db(&dir)).unwrap().verify().unwrap();
}

#[test]
fn export_writes_json_lines_that_recheck() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = filled(&db(&dir));
    l.post(keyed_coin(Coin::W500, 1).session(kiosk_core::SessionId(7)))
        .unwrap();
    let mut out = Vec::new();
    assert_eq!(l.export_jsonl(2, &mut out).unwrap(), 5);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["seq"], 3);
    let last = &lines[4];
    assert_eq!(last["seq"], 7);
    assert_eq!(last["kind"], "posted");
    assert_eq!(last["debit"], "hopper:500");
    assert_eq!(last["session"], 7);
    assert_eq!(last["key"], "coin:SN1:1");
    // Consecutive lines chain: each prev_hash is the line before's hash.
    for w in lines.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["hash"]);
    }
    assert_eq!(
        last["hash"].as_str().unwrap(),
        l.verify().unwrap().last_hash
    );
}

/// A second connection in the same process must keep this process's locks, or another
/// process closing its connection deletes the write-ahead log under the writer.
#[test]
fn a_second_connection_keeps_the_write_ahead_log_alive() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let mut l = filled(&path);
    let second = l.second_connection().unwrap();
    drop(second);
    l.post(coin(Coin::W100, 9)).unwrap();
    // Another process opens and closes the ledger, as staff's kioskctl would.
    let st = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("SELECT count(*) FROM journal;")
        .output();
    let Ok(st) = st else {
        eprintln!("sqlite3 is not installed: skipped");
        return;
    };
    assert!(st.status.success());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert!(
        std::path::Path::new(&wal).exists(),
        "the write-ahead log was deleted while the writer had it open"
    );
}
