//! `kioskctl ledger`: verify, balances, export, and the ledger side of `simulate`.

use crate::simulate::{Books, Meta, PendingRef};
use anyhow::{Context, Result, bail};
use kiosk_core::{Account, Transfer};
use kiosk_ledger::{Entry, HeadError, IdempotencyKey, Ledger, LedgerError, Resolve, SignedHead};
use kiosk_render::{SigningKey, VerifyingKey};
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

/// `kioskctl ledger verify`: exit 0 when sound, 1 naming the first bad sequence number;
/// with `expect_head`, 1 also when the ledger does not reach a head signed earlier.
pub fn verify(
    db: &Path,
    expect_head: Option<&Path>,
    public_key: Option<VerifyingKey>,
    keys: Option<&Path>,
) -> Result<ExitCode> {
    // The heads and keys first: a bad file is a usage error whatever the ledger says.
    let heads = match expect_head {
        Some(path) => {
            let mut trusted: Vec<(String, VerifyingKey)> = Vec::new();
            if let Some(k) = public_key {
                trusted.push(("--public-key".into(), k));
            }
            if let Some(path) = keys {
                trusted.extend(crate::render_cmd::read_key_set(path)?);
            }
            if trusted.is_empty() {
                bail!(
                    "whose signature? --expect-head needs --public-key or --keys (the key in the head itself proves nothing)"
                );
            }
            Some((read_heads(path)?, trusted))
        }
        None => None,
    };
    let ledger = open_existing(db)?;
    let report = match ledger.verify() {
        Ok(r) => r,
        Err(LedgerError::Verify(v)) => {
            println!("ledger BAD at entry {}: {v}", v.first_bad_seq());
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some((heads, trusted)) = heads {
        for (line, head) in &heads {
            let Some((name, key)) = trusted
                .iter()
                .find(|(_, k)| hex::encode(k.to_bytes()) == head.public_key)
            else {
                println!(
                    "ledger BAD: the head on line {line} is signed by a key that is not trusted ({})",
                    head.public_key
                );
                return Ok(ExitCode::FAILURE);
            };
            match ledger.verify_against(head, key) {
                Ok(_) => {}
                Err(HeadError::Ledger(e)) => return Err(e.into()),
                Err(e) => {
                    println!(
                        "ledger BAD against the head on line {line} (kiosk {}, entry {}, key {name}): {e}",
                        head.kiosk, head.seq
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        println!(
            "ledger ok: {} entries, {} accounts, last hash {}; reaches {} signed head(s)",
            report.entries,
            report.accounts,
            report.last_hash,
            heads.len()
        );
    } else {
        println!(
            "ledger ok: {} entries, {} accounts, last hash {}",
            report.entries, report.accounts, report.last_hash
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Bounds a heads file: two a day for years is far below it.
const MAX_HEADS_FILE: u64 = 16 << 20;

/// Reads signed heads, one JSON object a line (blank lines skipped), with line numbers.
fn read_heads(path: &Path) -> Result<Vec<(usize, SignedHead)>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read the signed heads {}", path.display()))?
        .len();
    if len > MAX_HEADS_FILE {
        bail!("{}: larger than {MAX_HEADS_FILE} bytes", path.display());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the signed heads {}", path.display()))?;
    let mut heads = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let head: SignedHead = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a signed head", path.display(), n + 1))?;
        heads.push((n + 1, head));
    }
    if heads.is_empty() {
        bail!("{}: no signed heads", path.display());
    }
    Ok(heads)
}

/// `kioskctl ledger sign-head`: the ledger's head signed with the kiosk's key, one JSON line.
pub fn sign_head(db: &Path, kiosk: &str, key: &Path) -> Result<ExitCode> {
    let secret = zeroize::Zeroizing::new(crate::render_cmd::read_key_file(
        key,
        "an ed25519 secret key",
    )?);
    let key = SigningKey::from_bytes(&secret);
    let ledger = open_existing(db)?;
    let now = jiff::Timestamp::now().as_millisecond();
    let head = ledger.sign_head(kiosk, &key, now)?;
    crate::emit(&serde_json::to_string(&head)?)?;
    Ok(ExitCode::SUCCESS)
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
