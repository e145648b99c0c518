//! Entries: what is appended, what is stored, and the canonical bytes that are hashed.

use kiosk_core::{DocCode, IdError, IssueNumber, SessionId, Transfer};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Names the device event that caused an entry (device serial + event counter, e.g.
/// `coin:12345678:201`), so that a replayed event can never be booked twice.
///
/// ASCII letters, digits and `: . _ -`, at most 64 characters: room for a serial and a
/// counter, none for personal data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Longest key accepted.
    pub const MAX_LEN: usize = 64;

    /// Validates a key.
    pub fn new(key: &str) -> Result<IdempotencyKey, IdError> {
        let len = key.chars().count();
        if len == 0 || len > Self::MAX_LEN {
            return Err(IdError::Length {
                what: "idempotency key",
                max: Self::MAX_LEN,
                len,
            });
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-');
        if let Some(found) = key.chars().find(|&c| !ok(c)) {
            return Err(IdError::Character {
                what: "idempotency key",
                allowed: "A-Z, a-z, 0-9, ':', '.', '_' and '-'",
                found,
            });
        }
        Ok(IdempotencyKey(key.to_owned()))
    }

    /// The key of a device event: the device's serial and its event counter.
    pub fn device_event(
        device: &str,
        serial: &str,
        counter: u64,
    ) -> Result<IdempotencyKey, IdError> {
        IdempotencyKey::new(&format!("{device}:{serial}:{counter}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A transfer with the facts the district reconciles by: when, which session, which
/// document and issue number, and which device event caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The movement itself.
    pub transfer: Transfer,
    /// Unix milliseconds from the daemon's injected clock.
    pub at_ms: i64,
    /// The citizen session it belongs to, if any.
    pub session: Option<SessionId>,
    /// The document type, for fees and sheets.
    pub document: Option<DocCode>,
    /// The issue number (발급번호), for fees and sheets.
    pub issue: Option<IssueNumber>,
    /// The device event that caused it, for exactly-once booking.
    pub key: Option<IdempotencyKey>,
}

impl Entry {
    /// An entry with only a transfer and a time; add the rest with the builder methods.
    pub fn new(transfer: Transfer, at_ms: i64) -> Entry {
        Entry {
            transfer,
            at_ms,
            session: None,
            document: None,
            issue: None,
            key: None,
        }
    }

    /// Belongs to `session`.
    #[must_use]
    pub fn session(mut self, session: SessionId) -> Entry {
        self.session = Some(session);
        self
    }

    /// Concerns `document`.
    #[must_use]
    pub fn document(mut self, document: DocCode) -> Entry {
        self.document = Some(document);
        self
    }

    /// Concerns the issued document `issue`.
    #[must_use]
    pub fn issue(mut self, issue: IssueNumber) -> Entry {
        self.issue = Some(issue);
        self
    }

    /// Caused by the device event `key`.
    #[must_use]
    pub fn key(mut self, key: IdempotencyKey) -> Entry {
        self.key = Some(key);
        self
    }
}

/// Which pending transfer a post or void resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// By its sequence number.
    Seq(u64),
    /// By the idempotency key it was booked with (works inside the same batch).
    Key(IdempotencyKey),
}

/// One write to the journal. A batch of ops is one transaction and one fsync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A transfer that takes effect now.
    Post(Entry),
    /// A transfer reserved but not yet effective (a note in escrow).
    Pending(Entry),
    /// Makes a pending transfer effective (the note was stacked).
    PostPending {
        /// The pending transfer.
        pending: Resolve,
        /// When.
        at_ms: i64,
    },
    /// Cancels a pending transfer (the note was returned).
    VoidPending {
        /// The pending transfer.
        pending: Resolve,
        /// When.
        at_ms: i64,
    },
    /// Journals an order to a device before the device is told (outside the hash chain).
    Intent(crate::Intent),
    /// Settles an open intent with what the device did; refused (with the whole batch)
    /// if the intent is not open, so its bookings are never made twice.
    Settle {
        /// The intent's id.
        intent: String,
        /// Coins paid, note stacked (1) or not (0), sheets printed.
        outcome: u32,
        /// When.
        at_ms: i64,
    },
    /// Moves a device's cursor with the booking of the event it names.
    Cursor(crate::Cursor),
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Booked as this new sequence number.
    Booked(u64),
    /// Its idempotency key was booked before, as this sequence number; nothing written.
    Duplicate(u64),
    /// A side-table op (intent, settlement, cursor) was written; no journal entry.
    Recorded,
}

impl Outcome {
    /// The sequence number of the entry, new or earlier (0 for a side-table op).
    pub fn seq(self) -> u64 {
        match self {
            Outcome::Booked(s) | Outcome::Duplicate(s) => s,
            Outcome::Recorded => 0,
        }
    }
}

/// The kind of a stored entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Effective at once.
    Posted,
    /// Reserved.
    Pending,
    /// Posts the pending entry it resolves.
    Post,
    /// Voids the pending entry it resolves.
    Void,
}

impl EntryKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryKind::Posted => "posted",
            EntryKind::Pending => "pending",
            EntryKind::Post => "post",
            EntryKind::Void => "void",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<EntryKind> {
        Some(match s {
            "posted" => EntryKind::Posted,
            "pending" => EntryKind::Pending,
            "post" => EntryKind::Post,
            "void" => EntryKind::Void,
            _ => return None,
        })
    }

    fn tag(self) -> u8 {
        match self {
            EntryKind::Posted => 1,
            EntryKind::Pending => 2,
            EntryKind::Post => 3,
            EntryKind::Void => 4,
        }
    }
}

/// An entry as stored, for export to the district server (JSON lines) and for audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredEntry {
    /// Gap-free sequence number, from 1.
    pub seq: u64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Posted, pending, post or void.
    pub kind: EntryKind,
    /// Debit account name.
    pub debit: String,
    /// Credit account name.
    pub credit: String,
    /// `krw` or `sheets`.
    pub unit: String,
    /// Amount in the unit.
    pub amount: i64,
    /// Transfer code (why).
    pub code: String,
    /// Session number.
    pub session: Option<u64>,
    /// Document code.
    pub document: Option<String>,
    /// Issue number.
    pub issue: Option<String>,
    /// Idempotency key.
    pub key: Option<String>,
    /// The pending entry a post or void resolves.
    pub resolves: Option<u64>,
    /// Hash of the previous entry (hex).
    #[serde(with = "hex_bytes")]
    pub prev_hash: [u8; 32],
    /// This entry's hash (hex).
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
}

/// The fields of an entry that are hashed, borrowed so that `verify` hashes rows
/// without allocating.
pub(crate) struct Canonical<'a> {
    pub seq: u64,
    pub at_ms: i64,
    pub kind: EntryKind,
    pub debit: &'a str,
    pub credit: &'a str,
    pub unit: &'a str,
    pub amount: i64,
    pub code: &'a str,
    pub session: Option<u64>,
    pub document: Option<&'a str>,
    pub issue: Option<&'a str>,
    pub key: Option<&'a str>,
    pub resolves: Option<u64>,
}

/// The entry's hash: SHA-256 over the previous hash and the canonical bytes (see
/// [`entry_hash`] for the encoding).
pub(crate) fn hash_canonical(prev: &[u8; 32], c: &Canonical<'_>) -> [u8; 32] {
    fn text(h: &mut Sha256, s: &str) {
        // Every stored text is at most 64 characters (CHECK constraints): the cast is exact.
        h.update((s.len().min(u16::MAX as usize) as u16).to_be_bytes());
        h.update(s.as_bytes());
    }
    fn opt_text(h: &mut Sha256, s: Option<&str>) {
        match s {
            None => h.update([0]),
            Some(s) => {
                h.update([1]);
                text(h, s);
            }
        }
    }
    fn opt_u64(h: &mut Sha256, v: Option<u64>) {
        match v {
            None => h.update([0]),
            Some(v) => {
                h.update([1]);
                h.update(v.to_be_bytes());
            }
        }
    }
    let mut h = Sha256::new();
    h.update(prev);
    h.update(b"KL1");
    h.update(c.seq.to_be_bytes());
    h.update(c.at_ms.to_be_bytes());
    h.update([c.kind.tag()]);
    text(&mut h, c.debit);
    text(&mut h, c.credit);
    text(&mut h, c.unit);
    text(&mut h, c.code);
    h.update(c.amount.to_be_bytes());
    opt_u64(&mut h, c.session);
    opt_text(&mut h, c.document);
    opt_text(&mut h, c.issue);
    opt_text(&mut h, c.key);
    opt_u64(&mut h, c.resolves);
    h.finalize().into()
}

/// Recomputes a stored entry's hash from its previous hash and its fields, so that
/// anyone holding an export (the district server) can check the chain.
///
/// `hash = SHA-256(prev_hash || canonical bytes)`, where `prev_hash` is the 32-byte hash
/// of entry `seq - 1` (32 zero bytes for entry 1) and the canonical bytes are, in this
/// fixed order, with no padding or separators:
///
/// | field | encoding |
/// | --- | --- |
/// | tag | the 3 bytes `KL1` (version of this encoding) |
/// | `seq` | u64, big-endian |
/// | `at_ms` | i64, big-endian two's complement |
/// | kind | 1 byte: 1 posted, 2 pending, 3 post, 4 void |
/// | `debit`, `credit`, `unit`, `code` | each: u16 big-endian byte length, then the UTF-8 bytes |
/// | `amount` | i64, big-endian |
/// | `session`, `document`, `issue`, `key`, `resolves` | each: 1 byte 0 if absent; else 1 byte 1 then the value (integers u64 big-endian, text length-prefixed as above) |
///
/// Every stored text is at most 64 characters (SQL `CHECK` constraints and the core
/// types), so at most 256 bytes and the u16 prefix is exact; length prefixes and presence bytes keep field boundaries
/// unambiguous, so two different entries never share canonical bytes.
pub fn entry_hash(e: &StoredEntry) -> [u8; 32] {
    hash_canonical(
        &e.prev_hash,
        &Canonical {
            seq: e.seq,
            at_ms: e.at_ms,
            kind: e.kind,
            debit: &e.debit,
            credit: &e.credit,
            unit: &e.unit,
            amount: e.amount,
            code: &e.code,
            session: e.session,
            document: e.document.as_deref(),
            issue: e.issue.as_deref(),
            key: e.key.as_deref(),
            resolves: e.resolves,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(IdempotencyKey::new("coin:12345678:201").is_ok());
        assert!(IdempotencyKey::device_event("hopper-500", "A1B2", 7).is_ok());
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("900101 1234567").is_err());
        assert!(IdempotencyKey::new(&"k".repeat(65)).is_err());
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = Canonical {
            seq: 1,
            at_ms: 2,
            kind: EntryKind::Posted,
            debit: "hopper:100",
            credit: "session-credit",
            unit: "krw",
            amount: 100,
            code: "coin-inserted",
            session: Some(1),
            document: None,
            issue: None,
            key: Some("k"),
            resolves: None,
        };
        let h0 = hash_canonical(&[0; 32], &base);
        let variants = [
            Canonical { seq: 2, ..base },
            Canonical { at_ms: 3, ..base },
            Canonical {
                kind: EntryKind::Pending,
                ..base
            },
            Canonical {
                debit: "hopper:500",
                ..base
            },
            Canonical {
                credit: "escrow",
                ..base
            },
            Canonical {
                unit: "sheets",
                ..base
            },
            Canonical {
                amount: 101,
                ..base
            },
            Canonical {
                code: "refund",
                ..base
            },
            Canonical {
                session: None,
                ..base
            },
            Canonical {
                document: Some("X"),
                ..base
            },
            Canonical {
                issue: Some("1"),
                ..base
            },
            Canonical { key: None, ..base },
            Canonical {
                resolves: Some(1),
                ..base
            },
        ];
        for v in &variants {
            assert_ne!(hash_canonical(&[0; 32], v), h0);
        }
        assert_ne!(hash_canonical(&[1; 32], &base), h0);
        // Length prefixes keep field boundaries: moving a byte between fields changes it.
        let a = Canonical {
            debit: "ab",
            credit: "c",
            ..base
        };
        let b = Canonical {
            debit: "a",
            credit: "bc",
            ..base
        };
        assert_ne!(hash_canonical(&[0; 32], &a), hash_canonical(&[0; 32], &b));
    }
}
