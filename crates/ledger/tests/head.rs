//! Signed chain heads: a ledger rewritten, truncated or wound back no longer reaches a head
//! signed before, even when it is consistent with itself.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ed25519_dalek::SigningKey;
use kiosk_core::Coin;
use kiosk_ledger::{HeadError, Ledger, SignedHead};
use std::path::{Path, PathBuf};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn db(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// A ledger with `coins` coin entries at times 0..coins, each worth `coin`.
fn ledger_with(path: &Path, coins: i64, c: Coin) -> Ledger {
    let mut l = Ledger::open(path).unwrap();
    for i in 0..coins {
        l.post(coin(c, i)).unwrap();
    }
    l
}

#[test]
fn a_ledger_reaches_its_own_head_now_and_after_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = ledger_with(&db(&dir, "a.db"), 5, Coin::W100);
    let head = l.sign_head("K-1", &key(), 1_000).unwrap();
    assert_eq!(head.seq, 5);
    assert_eq!(head.kiosk, "K-1");
    let report = l.verify_against(&head, &key().verifying_key()).unwrap();
    assert_eq!(report.last_seq, 5);
    assert_eq!(report.last_hash, head.hash);

    l.post(coin(Coin::W500, 9)).unwrap();
    let report = l.verify_against(&head, &key().verifying_key()).unwrap();
    assert_eq!(report.last_seq, 6, "entries after the head are fine");

    // It survives a JSON round trip, as it travels to the district.
    let text = serde_json::to_string(&head).unwrap();
    let back: SignedHead = serde_json::from_str(&text).unwrap();
    assert_eq!(back, head);
}

#[test]
fn an_empty_journal_signs_a_zero_head() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(db(&dir, "a.db")).unwrap();
    let head = l.sign_head("K-1", &key(), 0).unwrap();
    assert_eq!(head.seq, 0);
    assert_eq!(head.hash, "00".repeat(32));
    l.verify_against(&head, &key().verifying_key()).unwrap();
}

#[test]
fn a_ledger_wound_back_to_an_earlier_copy_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir, "a.db");
    let early = db(&dir, "early.db");
    // The attacker's copy: the same ledger, taken at entry 3 (consistent by itself).
    drop(ledger_with(&path, 3, Coin::W100));
    std::fs::copy(&path, &early).unwrap();
    let mut l = Ledger::open(&path).unwrap();
    for i in 3..6 {
        l.post(coin(Coin::W100, i)).unwrap();
    }
    let head = l.sign_head("K-1", &key(), 2_000).unwrap();
    drop(l);

    let wound_back = Ledger::open(&early).unwrap();
    wound_back
        .verify()
        .expect("the copy is consistent by itself");
    match wound_back.verify_against(&head, &key().verifying_key()) {
        Err(HeadError::Truncated { last, head }) => {
            assert_eq!((last, head), (3, 6));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn a_consistently_rewritten_ledger_does_not_reach_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let honest = ledger_with(&db(&dir, "a.db"), 6, Coin::W100);
    let head = honest.sign_head("K-1", &key(), 3_000).unwrap();
    // The same number of entries, every hash recomputed, but the coins were 10 won.
    let forged = ledger_with(&db(&dir, "b.db"), 6, Coin::W10);
    forged
        .verify()
        .expect("the forgery is consistent by itself");
    match forged.verify_against(&head, &key().verifying_key()) {
        Err(HeadError::Rewritten { seq, signed, found }) => {
            assert_eq!(seq, 6);
            assert_eq!(signed, head.hash);
            assert_ne!(found, signed);
        }
        other => panic!("expected Rewritten, got {other:?}"),
    }
    // Even a forgery that outgrows the head is caught at the head's entry.
    let mut longer = ledger_with(&db(&dir, "c.db"), 6, Coin::W10);
    longer.post(coin(Coin::W500, 7)).unwrap();
    assert!(matches!(
        longer.verify_against(&head, &key().verifying_key()),
        Err(HeadError::Rewritten { seq: 6, .. })
    ));
}

#[test]
fn a_head_altered_or_checked_with_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger_with(&db(&dir, "a.db"), 4, Coin::W100);
    let head = l.sign_head("K-1", &key(), 4_000).unwrap();
    let vk = key().verifying_key();
    let other = SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert!(matches!(
        l.verify_against(&head, &other),
        Err(HeadError::BadHead("signature"))
    ));
    let altered = [
        SignedHead {
            seq: 2,
            ..head.clone()
        },
        SignedHead {
            kiosk: "K-2".into(),
            ..head.clone()
        },
        SignedHead {
            at_ms: 1,
            ..head.clone()
        },
        SignedHead {
            hash: l
                .sign_head("K-1", &key(), 0)
                .unwrap()
                .hash
                .replace('a', "b"),
            ..head.clone()
        },
    ];
    for h in altered {
        if h == head {
            continue; // the hash had no 'a' to change
        }
        assert!(
            matches!(l.verify_against(&h, &vk), Err(HeadError::BadHead(_))),
            "{h:?}"
        );
    }
    for (hash, sig) in [("zz", head.signature.as_str()), (head.hash.as_str(), "00")] {
        let h = SignedHead {
            hash: hash.into(),
            signature: sig.into(),
            ..head.clone()
        };
        assert!(matches!(
            l.verify_against(&h, &vk),
            Err(HeadError::BadHead(_))
        ));
    }
}
