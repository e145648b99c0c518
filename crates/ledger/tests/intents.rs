//! Device intents and cursors: journaled with the bookings they go with, settled once.

#![allow(clippy::unwrap_used)]

use kiosk_core::{Account, Coin, SessionId, Transfer, TransferCode};
use kiosk_ledger::{Cursor, Entry, IdempotencyKey, Intent, IntentKind, Ledger, LedgerError, Op};

fn dispense(id: &str) -> Intent {
    Intent {
        id: id.into(),
        kind: IntentKind::Dispense,
        session: SessionId(7),
        device: "hopper:500".into(),
        amount: 3,
        before: Some(41),
        job_name: None,
        document: None,
        issue: None,
        fee: None,
        code: Some(TransferCode::ChangePaid),
        at_ms: 1,
    }
}

fn paid(amount: u64, key: &str) -> Op {
    Op::Post(
        Entry::new(
            Transfer::new(
                Account::SessionCredit,
                Account::Hopper(Coin::W500),
                amount,
                TransferCode::ChangePaid,
            )
            .unwrap(),
            2,
        )
        .session(SessionId(7))
        .key(IdempotencyKey::new(key).unwrap()),
    )
}

#[test]
fn an_intent_is_open_until_settled_with_its_bookings_and_settles_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(dir.path().join("l.db")).unwrap();
    l.apply(&[Op::Intent(dispense("dispense:7:0"))]).unwrap();
    assert_eq!(l.open_intents().unwrap(), vec![dispense("dispense:7:0")]);
    assert_eq!(l.sessions_with_open_intents().unwrap(), vec![SessionId(7)]);
    let settle = Op::Settle {
        intent: "dispense:7:0".into(),
        outcome: 2,
        at_ms: 3,
    };
    l.apply(&[paid(1000, "dispense:7:0"), settle.clone()])
        .unwrap();
    assert!(l.open_intents().unwrap().is_empty());
    assert_eq!(l.intent_outcome("dispense:7:0").unwrap(), Some(2));
    // A second settlement (recovery after the live path did it) is refused with the
    // bookings that came with it: the payout is not booked twice.
    let seq = l.last_seq().unwrap();
    let e = l.apply(&[paid(1000, "dispense:7:0b"), settle]).unwrap_err();
    assert!(matches!(e, LedgerError::IntentNotOpen(_)), "{e}");
    assert_eq!(l.last_seq().unwrap(), seq);
    assert_eq!(l.balance(&Account::Hopper(Coin::W500)).unwrap(), -1000);
    // Journaling the same intent twice is refused too.
    assert!(l.apply(&[Op::Intent(dispense("dispense:7:0"))]).is_err());
    l.verify().unwrap();
}

#[test]
fn an_intent_journaled_in_a_refused_batch_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(dir.path().join("l.db")).unwrap();
    let bad = Op::Settle {
        intent: "nothing".into(),
        outcome: 0,
        at_ms: 1,
    };
    assert!(
        l.apply(&[Op::Intent(dispense("dispense:7:1")), bad])
            .is_err()
    );
    assert!(l.open_intents().unwrap().is_empty());
}

#[test]
fn a_cursor_moves_with_its_booking_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(dir.path().join("l.db")).unwrap();
    assert_eq!(l.cursor("coin-acceptor").unwrap(), None);
    let cur = |counter, events| Cursor {
        device: "coin-acceptor".into(),
        serial: "0A1B2C".into(),
        counter,
        events,
        at_ms: 5,
    };
    let coin = |key: &str| {
        Op::Post(
            Entry::new(
                Transfer::new(
                    Account::Hopper(Coin::W100),
                    Account::SessionCredit,
                    100,
                    TransferCode::CoinInserted,
                )
                .unwrap(),
                5,
            )
            .key(IdempotencyKey::new(key).unwrap()),
        )
    };
    l.apply(&[coin("coin:0A1B2C:1"), Op::Cursor(cur(1, 1))])
        .unwrap();
    assert_eq!(l.cursor("coin-acceptor").unwrap(), Some(cur(1, 1)));
    // A batch that fails leaves the cursor where it was.
    let bad = Op::Settle {
        intent: "nothing".into(),
        outcome: 0,
        at_ms: 1,
    };
    assert!(
        l.apply(&[coin("coin:0A1B2C:2"), Op::Cursor(cur(2, 2)), bad])
            .is_err()
    );
    assert_eq!(l.cursor("coin-acceptor").unwrap(), Some(cur(1, 1)));
    // Text that could carry anything but a code is refused.
    let mut odd = cur(3, 3);
    odd.serial = "홍길동".into();
    assert!(l.apply(&[Op::Cursor(odd)]).is_err());
}
