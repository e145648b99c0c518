//! Identifiers that appear in the ledger and on the wire.
//!
//! Each is validated on construction so that nothing resembling personal data (a name, a
//! resident number with its hyphen and 13 digits, free text) can ride along in a field that
//! is stored or logged.

use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty or longer than the limit.
    #[error("{what} must be 1 to {max} characters, got {len}")]
    Length {
        /// Which identifier.
        what: &'static str,
        /// Its upper bound.
        max: usize,
        /// The length given.
        len: usize,
    },
    /// A character outside the identifier's alphabet.
    #[error("{what} may contain only {allowed}; found {found:?}")]
    Character {
        /// Which identifier.
        what: &'static str,
        /// A human description of the alphabet.
        allowed: &'static str,
        /// The first offending character.
        found: char,
    },
}

/// The stable code of a document type (e.g. `RES-COPY` for 주민등록표 등본).
///
/// Codes are upper-case ASCII letters, digits and hyphens, at most 24 characters, so they
/// can key revenue accounts and metrics without escaping, and never hold personal data.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocCode(String);

impl DocCode {
    /// Longest code accepted.
    pub const MAX_LEN: usize = 24;

    /// Validates and wraps a document code.
    pub fn new(code: &str) -> Result<DocCode, IdError> {
        check(
            code,
            "document code",
            Self::MAX_LEN,
            "A-Z, 0-9 and '-'",
            |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-',
        )?;
        Ok(DocCode(code.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An issue number (발급번호) the e-government network assigns to an issued document.
///
/// Digits, ASCII letters and hyphens only, at most 32 characters. It identifies the
/// document, not the person, and is safe to keep in the ledger as evidence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IssueNumber(String);

impl IssueNumber {
    /// Longest issue number accepted.
    pub const MAX_LEN: usize = 32;

    /// Validates and wraps an issue number.
    pub fn new(number: &str) -> Result<IssueNumber, IdError> {
        check(
            number,
            "issue number",
            Self::MAX_LEN,
            "A-Z, a-z, 0-9 and '-'",
            |c| c.is_ascii_alphanumeric() || c == '-',
        )?;
        Ok(IssueNumber(number.to_owned()))
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check(
    s: &str,
    what: &'static str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    let len = s.chars().count();
    if len == 0 || len > max {
        return Err(IdError::Length { what, max, len });
    }
    if let Some(found) = s.chars().find(|&c| !ok(c)) {
        return Err(IdError::Character {
            what,
            allowed,
            found,
        });
    }
    Ok(())
}

macro_rules! string_id {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $t::new(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $t::new(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    };
}
string_id!(DocCode);
string_id!(IssueNumber);
string_id!(DeviceKey);

/// Names the one physical event a booking stands for: a device's serial and its own event
/// counter (`coin:0A1B2C:1207`, `note:C0FFEE:88`), or the intent the kiosk journaled
/// before it told a device to act (`dispense:27:0`, `sheet:27:1:2`).
///
/// The ledger refuses a second entry with the same key, so an event a driver reports
/// twice (a replay after a restart, a retransmitted poll) is booked once. ASCII letters,
/// digits and `: . _ -`, at most 64 characters: room for a serial and a counter, none for
/// personal data.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceKey(String);

impl DeviceKey {
    /// Longest key accepted (the ledger's idempotency key column takes as much).
    pub const MAX_LEN: usize = 64;

    /// Validates a key.
    pub fn new(key: &str) -> Result<DeviceKey, IdError> {
        check(
            key,
            "device key",
            Self::MAX_LEN,
            "A-Z, a-z, 0-9, ':', '.', '_' and '-'",
            |c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-'),
        )?;
        Ok(DeviceKey(key.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A citizen's issuing session on one kiosk, numbered from 1 by the kiosk. Carries no
/// information about the citizen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_codes_are_validated() {
        assert!(DocCode::new("RES-COPY").is_ok());
        assert!(DocCode::new("").is_err());
        assert!(DocCode::new("res-copy").is_err());
        assert!(DocCode::new("A B").is_err());
        assert!(DocCode::new(&"A".repeat(25)).is_err());
        assert!(DocCode::new("주민").is_err());
    }

    #[test]
    fn issue_numbers_are_validated() {
        assert!(IssueNumber::new("2026-1122-0001-23").is_ok());
        assert!(IssueNumber::new("홍길동").is_err());
        assert!(IssueNumber::new("900101 1234567").is_err());
        assert!(IssueNumber::new(&"1".repeat(33)).is_err());
    }
}
