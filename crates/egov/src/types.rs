//! The client's vocabulary: message ids, personal data that must not leak, requests and
//! what comes back.

use kiosk_core::{DocCode, IssueNumber, Won};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

/// The id of one request, saved by the caller before it is sent and reused on retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MessageId(uuid::Uuid);

impl MessageId {
    /// A fresh random id.
    pub fn new_v4() -> MessageId {
        MessageId(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for MessageId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<MessageId, uuid::Error> {
        uuid::Uuid::parse_str(s).map(MessageId)
    }
}

/// A resident registration number (주민등록번호): 13 digits. Never printed, never
/// serialised by this type; wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct ResidentNumber(Zeroizing<String>);

/// Why a resident number was refused (the number itself is never in the error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a resident number is 13 digits (YYMMDD-GNNNNNN)")]
pub struct BadResidentNumber;

impl FromStr for ResidentNumber {
    type Err = BadResidentNumber;
    fn from_str(s: &str) -> Result<ResidentNumber, BadResidentNumber> {
        let b = s.as_bytes();
        let digits: Zeroizing<String> = match b.len() {
            13 if b.iter().all(u8::is_ascii_digit) => Zeroizing::new(s.to_owned()),
            14 if b[6] == b'-'
                && b[..6].iter().all(u8::is_ascii_digit)
                && b[7..].iter().all(u8::is_ascii_digit) =>
            {
                Zeroizing::new(s.chars().filter(char::is_ascii_digit).collect())
            }
            _ => return Err(BadResidentNumber),
        };
        let d = digits.as_bytes();
        let month = (d[2] - b'0') * 10 + (d[3] - b'0');
        let day = (d[4] - b'0') * 10 + (d[5] - b'0');
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(b'1'..=b'8').contains(&d[6])
        {
            return Err(BadResidentNumber);
        }
        Ok(ResidentNumber(digits))
    }
}

impl ResidentNumber {
    /// The 13 digits, for the request body only.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResidentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResidentNumber(******-*******)")
    }
}

/// A fingerprint template from the scanner: at most 4 KiB, wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct FingerprintTemplate(Zeroizing<Vec<u8>>);

/// The largest template accepted.
pub const MAX_TEMPLATE: usize = 4096;

impl FingerprintTemplate {
    /// Checks the size.
    pub fn new(bytes: Vec<u8>) -> Result<FingerprintTemplate, &'static str> {
        if bytes.is_empty() || bytes.len() > MAX_TEMPLATE {
            return Err("a fingerprint template is 1 to 4096 bytes");
        }
        Ok(FingerprintTemplate(Zeroizing::new(bytes)))
    }

    /// The bytes, for the request body only.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for FingerprintTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FingerprintTemplate({} bytes)", self.0.len())
    }
}

/// A short-lived proof of identity from the network, used by the next fetch.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityToken(Zeroizing<String>);

impl IdentityToken {
    /// From the opaque string the network gave.
    pub fn from_opaque(s: &str) -> IdentityToken {
        IdentityToken(Zeroizing::new(s.to_owned()))
    }

    /// The opaque string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityToken(…)")
    }
}

/// Whose document: a person (by identity token) or a parcel or building (by address).
#[derive(Debug, Clone)]
pub enum Subject {
    /// A personal document.
    Identity(IdentityToken),
    /// A land or building document.
    Address {
        /// The parcel's or building's address as typed.
        parcel: String,
    },
}

/// A document to fetch.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The type.
    pub code: DocCode,
    /// Its agency (the back end, for the breaker).
    pub agency: String,
    /// The citizen's options.
    pub options: BTreeMap<String, String>,
    /// Whose.
    pub subject: Subject,
}

/// A fetched document.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedDocument {
    /// The issue number (발급번호).
    pub issue_number: IssueNumber,
    /// The fee per copy.
    pub fee: Won,
    /// Pages the network expects (the kiosk counts its own rendering).
    pub pages: u32,
    /// The document data for the template.
    pub data: serde_json::Value,
    /// Evidence of the exchange.
    pub evidence: Evidence,
}

/// Evidence of one exchange: no personal data, only ids and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The message.
    pub message_id: MessageId,
    /// SHA-256 of the exact request bytes.
    #[serde(with = "hex_32")]
    pub request_sha256: [u8; 32],
    /// SHA-256 of the exact reply bytes.
    #[serde(with = "hex_32")]
    pub reply_sha256: [u8; 32],
    /// The issue number the exchange was about, if any.
    pub issue_number: Option<IssueNumber>,
}

mod hex_32 {
    pub fn serialize<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
}

/// Why an issue is canceled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The printer failed; the money was refunded.
    PrintFailed,
    /// The citizen canceled or the kiosk could not serve; refunded.
    Refunded,
    /// Left behind by a crash.
    Abandoned,
}

impl CancelReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::PrintFailed => "print-failed",
            CancelReason::Refunded => "refunded",
            CancelReason::Abandoned => "abandoned",
        }
    }
}

/// What became of an earlier message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageStatus {
    /// It was done.
    Completed {
        /// Evidence of the original exchange (its issue number, if it made one).
        evidence: Evidence,
    },
    /// It was refused.
    Failed,
    /// The network never received it.
    NotReceived,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// Answered and verified.
    Ok(T),
    /// Refused, or never sent.
    Failed(Failure),
    /// Sent; the answer was lost. Settle with `message_status`.
    Unknown,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The fingerprint did not match.
    FingerprintMismatch,
    /// The network refused the request.
    Refused {
        /// Its code.
        code: String,
        /// Its reason.
        reason: String,
    },
    /// The network could not be reached (nothing was sent).
    NetworkDown,
    /// The agency's back end is down.
    BackendDown {
        /// The agency.
        agency: String,
    },
    /// The reply did not parse, did not verify, or did not fit.
    BadReply(String),
    /// The breaker is open: failed fast without touching the network.
    CircuitOpen {
        /// The agency, or `None` for the whole network.
        agency: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_numbers_are_strict_and_never_shown() {
        let r: ResidentNumber = "900101-1234567".parse().unwrap();
        assert_eq!(r.digits(), "9001011234567");
        assert!(!format!("{r:?}").contains("900101"));
        assert_eq!("9001011234567".parse::<ResidentNumber>().unwrap(), r);
        for bad in [
            "",
            "900101",
            "9013011234567",
            "900132-1234567",
            "900101-9234567",
            "900101_1234567",
            "90010112345678",
            "９００１０１１２３４５６７",
        ] {
            assert!(bad.parse::<ResidentNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_are_bounded_and_redacted() {
        assert!(FingerprintTemplate::new(vec![]).is_err());
        assert!(FingerprintTemplate::new(vec![0; MAX_TEMPLATE + 1]).is_err());
        let t = FingerprintTemplate::new(vec![1, 2, 3]).unwrap();
        assert_eq!(format!("{t:?}"), "FingerprintTemplate(3 bytes)");
        assert_eq!(
            format!("{:?}", IdentityToken::from_opaque("secret")),
            "IdentityToken(…)"
        );
    }
}
