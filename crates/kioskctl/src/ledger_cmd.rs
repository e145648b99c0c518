//! `kioskctl ledger`: verify, balances, export, and the ledger side of `simulate`.

use crate::simulate::{Books, Meta, PendingRef};
use anyhow::{Context, Result};
use kiosk_core::{Account, Transfer};
use kiosk_ledger::{Entry, IdempotencyKey, Ledger, LedgerError, Resolve};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Opens an existing ledger: reading commands never create one by mistake.
fn open_existing(db: &Path) -> Result<Ledger> {
    if !db.exists() {
        anyhow::bail!("{}: no such ledger", db.display());
    }
    Ok(Ledger::open(db)?)
}

/// `kioskctl ledger verify`: exit 0 when sound, 1 naming the first bad sequence number.
pub fn verify(db: &Path) -> Result<ExitCode> {
    let ledger = open_existing(db)?;
    match ledger.verify() {
        Ok(r) => {
            println!(
                "ledger ok: {} entries, {} accounts, last hash {}",
                r.entries, r.accounts, r.last_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(LedgerError::Verify(v)) => {
            println!("ledger BAD at entry {}: {v}", v.first_bad_seq());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// `kioskctl ledger balances`.
pub fn balances(db: &Path, json: bool) -> Result<ExitCode> {
    let ledger = open_existing(db)?;
    let balances = ledger.balances()?;
    if json {
        crate::emit(&serde_json::to_string_pretty(&balances)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{:<28} {:>7} {:>14} {:>10}",
        "account", "unit", "balance", "pending"
    );
    for b in &balances {
        let pending = b.debits_pending - b.credits_pending;
        text.push_str(&format!(
            "\n{:<28} {:>7} {:>14} {:>10}",
            b.account, b.unit, b.posted, pending
        ));
    }
    crate::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `kioskctl ledger export`: JSON lines after `since`, streamed.
pub fn export(db: &Path, since: u64) -> Result<ExitCode> {
    let ledger = open_existing(db)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_err = None;
    ledger.for_each_since(since, |e| {
        if write_err.is_none() {
            let line = serde_json::to_string(&e).map_err(std::io::Error::other);
            if let Err(err) = line.and_then(|l| writeln!(out, "{l}")) {
                write_err = Some(err);
            }
        }
        Ok(())
    })?;
    match write_err.map_or_else(|| out.flush(), Err) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing the export");
        }
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// The simulation's bookings, written to a real ledger one transaction per booking, as
/// the daemon does.
pub struct LedgerBooks {
    /// The ledger written to.
    pub ledger: Ledger,
}

impl LedgerBooks {
    /// Opens (or creates) the ledger at `db`.
    pub fn open(db: &Path) -> Result<LedgerBooks> {
        Ok(LedgerBooks {
            ledger: Ledger::open(db)?,
        })
    }
}

/// The key a session's escrow entry is booked under; the daemon uses the same form.
fn escrow_key(p: PendingRef) -> Result<IdempotencyKey> {
    Ok(IdempotencyKey::new(&format!(
        "escrow:{}:{}",
        p.session, p.seq
    ))?)
}

fn entry(t: &Transfer, m: &Meta) -> Entry {
    Entry {
        transfer: t.clone(),
        at_ms: m.at_ms,
        session: m.session,
        document: m.document.clone(),
        issue: m.issue.clone(),
        key: None,
    }
}

impl Books for LedgerBooks {
    fn book(&mut self, t: &Transfer, m: &Meta, pending: Option<PendingRef>) -> Result<()> {
        match pending {
            None => self.ledger.post(entry(t, m))?,
            Some(p) => self.ledger.pending(entry(t, m).key(escrow_key(p)?))?,
        };
        Ok(())
    }

    fn post(&mut self, p: PendingRef, m: &Meta) -> Result<()> {
        self.ledger
            .post_pending(Resolve::Key(escrow_key(p)?), m.at_ms)?;
        Ok(())
    }

    fn void(&mut self, p: PendingRef, m: &Meta) -> Result<()> {
        self.ledger
            .void_pending(Resolve::Key(escrow_key(p)?), m.at_ms)?;
        Ok(())
    }

    fn count(&mut self, account: &Account, counted: i64, m: &Meta) -> Result<()> {
        self.ledger.record_count(account, counted, m.at_ms)?;
        Ok(())
    }
}
