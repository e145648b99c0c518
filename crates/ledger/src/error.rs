//! What can go wrong with a ledger, said so that an operator knows what to do.

use std::path::PathBuf;

/// Why a ledger operation failed. Nothing was written when one of these is returned:
/// every write is one transaction.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The file exists but is not a kiosk ledger (not SQLite, truncated, or foreign).
    #[error("{path}: not a usable ledger: {reason}")]
    NotALedger {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The database was written by newer software; opening it here could corrupt it.
    #[error(
        "ledger schema version {found} is newer than this program knows ({known}); upgrade the program"
    )]
    TooNew {
        /// The version recorded in the file.
        found: i64,
        /// The newest version this code knows.
        known: i64,
    },
    /// A migration already applied differs from the one this code carries.
    #[error("migration {version} ({name}) differs from the one applied to this ledger")]
    MigrationChanged {
        /// Its number.
        version: i64,
        /// Its name.
        name: String,
    },
    /// SQLite did not switch to write-ahead logging, so durability would be weaker.
    #[error("journal_mode is {0}, not wal")]
    NotWal(String),
    /// SQLite did not take a setting the ledger's guarantees rest on.
    #[error("PRAGMA {name} is {value}, not {wanted}")]
    Pragma {
        /// The pragma.
        name: &'static str,
        /// What SQLite reports.
        value: String,
        /// What the ledger needs.
        wanted: &'static str,
    },
    /// A transfer that can never balance.
    #[error(transparent)]
    Transfer(#[from] kiosk_core::TransferError),
    /// A post or void named an entry that is not a pending transfer.
    #[error("entry {0} is not a pending transfer")]
    NotPending(u64),
    /// A device intent or cursor that cannot be stored (bad text, zero amount, twice).
    #[error("device intent: {0}")]
    BadIntent(String),
    /// A settlement of an intent that is not open (unknown, or settled already).
    #[error("device intent {0} is not open")]
    IntentNotOpen(String),
    /// A post or void named a pending transfer that does not exist.
    #[error("no pending transfer {0}")]
    UnknownPending(String),
    /// The pending transfer was already posted or voided.
    #[error("pending transfer {pending} was already resolved by entry {by}")]
    AlreadyResolved {
        /// The pending entry.
        pending: u64,
        /// The entry that resolved it.
        by: u64,
    },
    /// A physical count that cannot be a balance (negative, or out of range).
    #[error("a count of {0} is not possible")]
    BadCount(i64),
    /// A stored row that does not decode into the ledger's types.
    #[error("entry {seq}: bad {field}: {reason}")]
    BadRow {
        /// The entry.
        seq: u64,
        /// The column.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A balance would leave the signed 64-bit range.
    #[error("balance of {0} overflows")]
    Overflow(String),
    /// The outbox cursor can only move forward, and not past the journal's end.
    #[error("cannot acknowledge through {asked}: acknowledged {acked}, journal ends at {last}")]
    BadAck {
        /// Requested cursor.
        asked: u64,
        /// Current cursor.
        acked: u64,
        /// Last sequence.
        last: u64,
    },
    /// Writing an export failed (a closed pipe, a full disk); the ledger is unaffected.
    #[error("writing the export: {0}")]
    Export(#[source] std::io::Error),
    /// The chain or the balances do not check out.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file system reported an error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Why [`crate::Ledger::verify`] failed, naming the first bad sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// An entry is missing: the sequence jumps.
    #[error("entry {expected} is missing (next entry found is {found})")]
    Gap {
        /// The sequence that should come next.
        expected: u64,
        /// The sequence found instead.
        found: u64,
    },
    /// An entry's previous-hash does not match the entry before it (a deleted or inserted
    /// row, or a rewritten history).
    #[error("entry {0}: the link to the previous entry is broken")]
    BrokenLink(u64),
    /// An entry's content does not match its hash: it was edited.
    #[error("entry {0}: content does not match its hash (edited)")]
    Edited(u64),
    /// A post or void that resolves nothing valid.
    #[error("entry {seq}: bad resolution of pending entry {pending}")]
    BadResolution {
        /// The resolving entry.
        seq: u64,
        /// The pending entry it names.
        pending: u64,
    },
    /// An entry that does not decode.
    #[error("entry {seq}: {reason}")]
    BadEntry {
        /// The entry.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// The counter says the journal is longer than it is: entries at its end were removed.
    #[error("entry {0} is missing at the end of the journal")]
    Truncated(u64),
    /// A stored balance differs from the one the journal gives.
    #[error("balance of {account} differs from the journal (first affected entry {first_seq})")]
    Balance {
        /// The account.
        account: String,
        /// The first entry touching the account (0 when none does).
        first_seq: u64,
    },
    /// The balances of a unit do not sum to zero.
    #[error("balances in {unit} sum to {sum}, not zero")]
    Unbalanced {
        /// The unit.
        unit: String,
        /// The sum.
        sum: i64,
    },
}

impl VerifyError {
    /// The first bad sequence number, for `kioskctl ledger verify`'s exit message.
    pub fn first_bad_seq(&self) -> u64 {
        match self {
            VerifyError::Gap { expected, .. } => *expected,
            VerifyError::BrokenLink(s) | VerifyError::Edited(s) | VerifyError::Truncated(s) => *s,
            VerifyError::BadResolution { seq, .. } | VerifyError::BadEntry { seq, .. } => *seq,
            VerifyError::Balance { first_seq, .. } => *first_seq,
            VerifyError::Unbalanced { .. } => 0,
        }
    }
}
