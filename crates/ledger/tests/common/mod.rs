//! Shared helpers for the ledger's tests.
#![allow(dead_code, clippy::unwrap_used)]

use kiosk_core::{Account, Coin, Note, Transfer, TransferCode};
use kiosk_ledger::{Entry, IdempotencyKey};

pub fn coin(c: Coin, at: i64) -> Entry {
    Entry::new(
        Transfer::new(
            Account::Hopper(c),
            Account::SessionCredit,
            c.value().get(),
            TransferCode::CoinInserted,
        )
        .unwrap(),
        at,
    )
}

pub fn keyed_coin(c: Coin, counter: u64) -> Entry {
    coin(c, counter as i64).key(IdempotencyKey::device_event("coin", "SN1", counter).unwrap())
}

pub fn escrow(n: Note, key: &str) -> Entry {
    Entry::new(
        Transfer::new(
            Account::Escrow,
            Account::SessionCredit,
            n.value().get(),
            TransferCode::NoteEscrowed,
        )
        .unwrap(),
        0,
    )
    .key(IdempotencyKey::new(key).unwrap())
}

pub fn paper_load(n: u64) -> Entry {
    Entry::new(
        Transfer::new(
            Account::PaperTray,
            Account::DistrictStock,
            n,
            TransferCode::PaperLoaded,
        )
        .unwrap(),
        0,
    )
}
