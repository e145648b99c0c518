//! Re-walking the journal: the hash chain, the sequence, pending resolutions, balances.

use crate::entry::{Canonical, EntryKind, hash_canonical};
use crate::error::{LedgerError, VerifyError};
use crate::store::GENESIS;
use rusqlite::Connection;
use serde::Serialize;
use std::collections::HashMap;

/// What a sound ledger looks like: how many entries, where the chain ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The last sequence number.
    pub last_seq: u64,
    /// The last entry's hash (hex), which the district server can compare with its copy.
    pub last_hash: String,
    /// Accounts whose balances were re-derived.
    pub accounts: usize,
}

/// Posted debits, posted credits, pending debits, pending credits, and the first entry
/// that touched the account.
#[derive(Default)]
struct Sums {
    unit: String,
    d: i64,
    c: i64,
    dp: i64,
    cp: i64,
    first: u64,
}

fn bad(seq: u64, reason: impl Into<String>) -> LedgerError {
    VerifyError::BadEntry {
        seq,
        reason: reason.into(),
    }
    .into()
}

fn add(a: i64, b: i64, seq: u64) -> Result<i64, LedgerError> {
    a.checked_add(b).ok_or_else(|| bad(seq, "balance overflow"))
}

pub(crate) fn verify(conn: &Connection) -> Result<VerifyReport, LedgerError> {
    // One read transaction: the journal, the counter and the balances are read from the
    // same snapshot even if another process appends meanwhile. Dropping it ends it.
    let snapshot = conn.unchecked_transaction()?;
    let conn: &Connection = &snapshot;
    let mut stmt = conn.prepare(
        "SELECT seq, at_ms, kind, debit, credit, unit, amount, code, session,
                document, issue, idempotency_key, resolves, prev_hash, hash
         FROM journal ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut last_seq = 0u64;
    let mut last_hash = GENESIS;
    let mut sums: HashMap<String, Sums> = HashMap::new();
    // Open pending entries: seq -> (debit, credit, amount).
    let mut open: HashMap<u64, (String, String, i64)> = HashMap::new();
    while let Some(r) = rows.next()? {
        let seq = r.get::<_, i64>(0)? as u64;
        if seq != last_seq + 1 {
            return Err(VerifyError::Gap {
                expected: last_seq + 1,
                found: seq,
            }
            .into());
        }
        let kind_s = r
            .get_ref(2)?
            .as_str()
            .map_err(|_| bad(seq, "kind is not text"))?;
        let kind = EntryKind::parse(kind_s).ok_or_else(|| bad(seq, "unknown kind"))?;
        let text = |i: usize| -> Result<&str, LedgerError> {
            r.get_ref(i)?
                .as_str()
                .map_err(|_| bad(seq, "a text column is not text"))
        };
        let opt_text = |i: usize| -> Result<Option<&str>, LedgerError> {
            r.get_ref(i)?
                .as_str_or_null()
                .map_err(|_| bad(seq, "a text column is not text"))
        };
        let debit = text(3)?;
        let credit = text(4)?;
        let unit = text(5)?;
        let amount: i64 = r.get(6)?;
        let resolves = r.get::<_, Option<i64>>(12)?.map(|s| s as u64);
        let prev = r
            .get_ref(13)?
            .as_blob()
            .map_err(|_| bad(seq, "prev_hash is not a blob"))?;
        let hash = r
            .get_ref(14)?
            .as_blob()
            .map_err(|_| bad(seq, "hash is not a blob"))?;
        if prev != last_hash {
            return Err(VerifyError::BrokenLink(seq).into());
        }
        let computed = hash_canonical(
            &last_hash,
            &Canonical {
                seq,
                at_ms: r.get(1)?,
                kind,
                debit,
                credit,
                unit,
                amount,
                code: text(7)?,
                session: r.get::<_, Option<i64>>(8)?.map(|s| s as u64),
                document: opt_text(9)?,
                issue: opt_text(10)?,
                key: opt_text(11)?,
                resolves,
            },
        );
        if hash != computed {
            return Err(VerifyError::Edited(seq).into());
        }
        if amount <= 0 || debit == credit {
            return Err(bad(seq, "not a valid transfer"));
        }
        let (posted, pending) = match kind {
            EntryKind::Posted => (amount, 0),
            EntryKind::Pending => {
                open.insert(seq, (debit.to_owned(), credit.to_owned(), amount));
                (0, amount)
            }
            EntryKind::Post | EntryKind::Void => {
                let p = resolves.ok_or_else(|| bad(seq, "resolution without a pending entry"))?;
                match open.remove(&p) {
                    Some((d, c, a)) if d == debit && c == credit && a == amount => {}
                    _ => return Err(VerifyError::BadResolution { seq, pending: p }.into()),
                }
                if kind == EntryKind::Post {
                    (amount, -amount)
                } else {
                    (0, -amount)
                }
            }
        };
        for (account, is_debit) in [(debit, true), (credit, false)] {
            let s = match sums.get_mut(account) {
                Some(s) => s,
                None => sums.entry(account.to_owned()).or_insert_with(|| Sums {
                    unit: unit.to_owned(),
                    first: seq,
                    ..Sums::default()
                }),
            };
            if s.unit != unit {
                return Err(bad(seq, format!("{account} used in two units")));
            }
            if is_debit {
                s.d = add(s.d, posted, seq)?;
                s.dp = add(s.dp, pending, seq)?;
            } else {
                s.c = add(s.c, posted, seq)?;
                s.cp = add(s.cp, pending, seq)?;
            }
        }
        last_seq = seq;
        last_hash.copy_from_slice(hash);
    }
    let counter: i64 = conn.query_row(
        "SELECT value FROM counters WHERE name = 'journal_seq'",
        [],
        |r| r.get(0),
    )?;
    if counter.max(0) as u64 > last_seq {
        return Err(VerifyError::Truncated(last_seq + 1).into());
    }
    if (counter.max(0) as u64) < last_seq {
        return Err(bad(last_seq, "entries beyond the sequence counter"));
    }
    // Compare with the stored balances, both ways.
    let mut stmt = conn.prepare(
        "SELECT account, unit, debits_posted, credits_posted, debits_pending, credits_pending FROM balances",
    )?;
    let mut rows = stmt.query([])?;
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut unit_sums: HashMap<String, i64> = HashMap::new();
    while let Some(r) = rows.next()? {
        let account: String = r.get(0)?;
        let unit: String = r.get(1)?;
        let stored: [i64; 4] = [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?];
        seen.insert(account.clone());
        match sums.get(&account) {
            Some(s) if s.unit == unit && [s.d, s.c, s.dp, s.cp] == stored => {
                let total = unit_sums.entry(unit).or_default();
                *total = total.wrapping_add(s.d.wrapping_sub(s.c));
            }
            other => {
                let first_seq = other.map_or(0, |s| s.first);
                return Err(VerifyError::Balance { account, first_seq }.into());
            }
        }
    }
    // An account the journal moves that has no stored balance: report the earliest.
    if let Some((account, s)) = sums
        .iter()
        .filter(|(a, _)| !seen.contains(*a))
        .min_by_key(|(_, s)| s.first)
    {
        return Err(VerifyError::Balance {
            account: account.clone(),
            first_seq: s.first,
        }
        .into());
    }
    for (unit, sum) in unit_sums {
        if sum != 0 {
            return Err(VerifyError::Unbalanced { unit, sum }.into());
        }
    }
    Ok(VerifyReport {
        entries: last_seq,
        last_seq,
        last_hash: hex::encode(last_hash),
        accounts: sums.len(),
    })
}
