//! Signed chain heads of the ledger, kept beside it in `signed-heads.jsonl`.
//!
//! At every start (so at least daily: the daemon restarts at 02:00) the daemon first checks
//! that the ledger still reaches the last head it signed, then signs the head it has now
//! and appends it. The file is for the district, which keeps the heads where no one with
//! root on the kiosk can reach them; `kioskctl ledger verify --expect-head` checks a ledger
//! against them. Kept here alone they catch a ledger restored from an old copy, not an
//! attacker who rewrites this file too.

use anyhow::{Context, Result};
use kiosk_ledger::{HeadError, Ledger, SignedHead};
use kiosk_render::{SigningKey, VerifyingKey};
use std::io::Write;
use std::path::Path;

/// The file of signed heads inside the data directory.
pub const HEADS_FILE: &str = "signed-heads.jsonl";

/// Heads kept on the kiosk: about three years of daily starts. Older ones are dropped
/// (the district has them).
pub const KEEP: usize = 1024;

/// A line is about 330 bytes; anything much larger is not a file this daemon wrote.
const MAX_FILE: u64 = (KEEP as u64 + 1) * 1024;

/// What the start-up check found.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadCheck {
    /// The ledger reaches the last signed head; a new one was appended.
    Reached {
        /// The new head's sequence number.
        seq: u64,
    },
    /// No head was signed before (a new kiosk); the first one was appended.
    First {
        /// Its sequence number.
        seq: u64,
    },
    /// The ledger does not reach the last head: restored from an older copy, truncated or
    /// rewritten. No new head is signed, so every start finds it again until a technician
    /// has looked.
    Behind(String),
}

/// Checks the ledger against the last head in `data`, then signs and appends a new one.
pub fn check_and_sign(
    data: &Path,
    ledger: &Ledger,
    kiosk: &str,
    key: &SigningKey,
    now_ms: i64,
) -> Result<HeadCheck> {
    let path = data.join(HEADS_FILE);
    let (heads, torn) = read(&path)?;
    let first = heads.is_empty();
    if let Some(last) = heads.last() {
        // Checked with the key that signed it, which is this kiosk's key before a rotation.
        // Here that only guards against a restored or damaged ledger; against someone with
        // root it is the district's copy, checked with the published keys, that counts.
        let signer = hex_key(&last.public_key).context("the last signed head's key")?;
        match ledger.reaches(last, &signer) {
            Ok(()) => {}
            Err(HeadError::Ledger(e)) => return Err(e).context("the ledger does not verify"),
            Err(e) => return Ok(HeadCheck::Behind(e.to_string())),
        }
    }
    let head = ledger.sign_head(kiosk, key, now_ms)?;
    let seq = head.seq;
    append(&path, heads, torn, head)?;
    Ok(if first {
        HeadCheck::First { seq }
    } else {
        HeadCheck::Reached { seq }
    })
}

fn hex_key(text: &str) -> Result<VerifyingKey> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(text, &mut b).context("not 64 hex digits")?;
    VerifyingKey::from_bytes(&b).context("not an ed25519 public key")
}

/// The heads in the file, oldest first, and whether a torn last line (a crash in the
/// middle of an append: no newline at the end) was left out. A missing file is none. A
/// complete line that does not parse is an error: the file is written only here.
pub fn read(path: &Path) -> Result<(Vec<SignedHead>, bool)> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), false)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    anyhow::ensure!(
        len <= MAX_FILE,
        "{}: {len} bytes, more than {MAX_FILE}",
        path.display()
    );
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let torn = complete < bytes.len();
    let text = std::str::from_utf8(&bytes[..complete])
        .with_context(|| format!("{}: not UTF-8", path.display()))?;
    let heads = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a signed head", path.display(), n + 1))
        })
        .collect::<Result<_>>()?;
    Ok((heads, torn))
}

/// Appends `head`; past `KEEP` heads the file is rewritten with the newest, atomically.
/// A torn last line is dropped by the same rewrite.
fn append(path: &Path, mut heads: Vec<SignedHead>, torn: bool, head: SignedHead) -> Result<()> {
    let line = serde_json::to_string(&head)?;
    if heads.len() < KEEP && !torn {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        writeln!(f, "{line}")?;
        return Ok(f.sync_all()?);
    }
    heads.push(head);
    let keep = &heads[heads.len().saturating_sub(KEEP)..];
    let mut text = String::new();
    for h in keep {
        text.push_str(&serde_json::to_string(h)?);
        text.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kiosk_core::{Account, Coin, Transfer, TransferCode};
    use kiosk_ledger::Entry;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn coin(l: &mut Ledger, at: i64) {
        let t = Transfer::new(
            Account::Hopper(Coin::W100),
            Account::SessionCredit,
            100,
            TransferCode::CoinInserted,
        )
        .unwrap();
        l.post(Entry::new(t, at)).unwrap();
    }

    #[test]
    fn every_start_appends_a_head_and_a_restored_older_ledger_is_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.db");
        let mut l = Ledger::open(&db).unwrap();
        coin(&mut l, 1);
        assert_eq!(
            check_and_sign(dir.path(), &l, "K", &key(), 10).unwrap(),
            HeadCheck::First { seq: 1 }
        );
        drop(l);
        // A backup taken now, restored later.
        let backup = dir.path().join("backup.db");
        std::fs::copy(&db, &backup).unwrap();
        let mut l = Ledger::open(&db).unwrap();
        coin(&mut l, 2);
        assert_eq!(
            check_and_sign(dir.path(), &l, "K", &key(), 20).unwrap(),
            HeadCheck::Reached { seq: 2 }
        );
        assert_eq!(read(&dir.path().join(HEADS_FILE)).unwrap().0.len(), 2);
        drop(l);

        std::fs::copy(&backup, &db).unwrap();
        let l = Ledger::open(&db).unwrap();
        let found = check_and_sign(dir.path(), &l, "K", &key(), 30).unwrap();
        assert!(
            matches!(&found, HeadCheck::Behind(why) if why.contains("truncated")),
            "{found:?}"
        );
        assert_eq!(
            read(&dir.path().join(HEADS_FILE)).unwrap().0.len(),
            2,
            "no head is signed over a ledger that is behind"
        );
    }

    #[test]
    fn the_file_keeps_the_newest_heads_only() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path().join("ledger.db")).unwrap();
        let path = dir.path().join(HEADS_FILE);
        for i in 0..(KEEP + 3) {
            check_and_sign(dir.path(), &l, "K", &key(), i as i64).unwrap();
        }
        let (heads, _) = read(&path).unwrap();
        assert_eq!(heads.len(), KEEP);
        assert_eq!(heads[0].at_ms, 3);
        assert_eq!(heads[KEEP - 1].at_ms, (KEEP + 2) as i64);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_new_start() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path().join("ledger.db")).unwrap();
        std::fs::write(dir.path().join(HEADS_FILE), "{not json\n").unwrap();
        assert!(check_and_sign(dir.path(), &l, "K", &key(), 1).is_err());
    }

    #[test]
    fn a_line_torn_by_a_crash_is_dropped_and_a_rotated_key_is_not_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path().join("ledger.db")).unwrap();
        coin(&mut l, 1);
        let path = dir.path().join(HEADS_FILE);
        check_and_sign(dir.path(), &l, "K", &key(), 1).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"kiosk":"K","seq":"#).unwrap();
        drop(f);
        let rotated = SigningKey::from_bytes(&[4; 32]);
        assert_eq!(
            check_and_sign(dir.path(), &l, "K", &rotated, 2).unwrap(),
            HeadCheck::Reached { seq: 1 }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.ends_with('\n'));
        let (heads, torn) = read(&path).unwrap();
        assert!(!torn);
        assert_eq!(
            heads[1].public_key,
            hex::encode(rotated.verifying_key().to_bytes())
        );
    }
}
