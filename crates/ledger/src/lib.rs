//! The kiosk's ledger: an append-only, double-entry journal in SQLite.
//!
//! Every won and every sheet of paper that moves inside a kiosk is one entry here: a
//! [`kiosk_core::Transfer`] between two accounts of the same unit, numbered by a gap-free
//! sequence and chained by SHA-256 to the entry before it. The journal is the evidence
//! the district reconciles against, and the outbox it is sent from.
//!
//! Guarantees, each enforced in code and in SQL:
//! - **Durable:** WAL with `synchronous=FULL`; a commit that returned survives power loss.
//! - **Append-only:** triggers refuse UPDATE and DELETE; corrections are new entries.
//!   Further triggers (migration 2) refuse, from any writer, an entry that skips a
//!   sequence number, does not link to its predecessor's hash, or resolves something
//!   other than an open pending entry of the same transfer.
//! - **Exactly once:** an entry caused by a device event carries an [`IdempotencyKey`];
//!   a replay returns the first entry's sequence and writes nothing. A pending transfer
//!   (a note in escrow) is posted or voided exactly once.
//! - **Checkable:** [`Ledger::verify`] re-walks the chain and re-derives every balance.
//! - **No personal data:** every stored field is a validated code, number or amount.

mod egov;
mod entry;
mod error;
mod head;
mod intents;
mod migrate;
mod store;
mod verify;

pub use egov::{Message, MessageState, Service, Settlement};
pub use entry::{Entry, EntryKind, IdempotencyKey, Op, Outcome, Resolve, StoredEntry, entry_hash};
pub use error::{LedgerError, VerifyError};
pub use head::{HeadError, SignedHead};
pub use intents::{Cursor, Intent, IntentKind};
pub use migrate::{MIGRATIONS, Migration};
pub use store::{Balance, Ledger};
pub use verify::VerifyReport;
