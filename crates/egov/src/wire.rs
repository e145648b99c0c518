//! The wire format, shared by the client and egov-sim: JSON envelopes over HTTPS POST,
//! replies signed by the issuing authority.
//!
//! Request: `POST /v1/<service>` with `{"message_id", "kiosk_id", "service", "body"}`.
//! Reply: `{"message_id", "status": "ok" | "failed", "body", "signature"}`. The signature is
//! ed25519 over [`signed_digest`]: the message id, the status, the SHA-256 of the exact
//! request bytes and the SHA-256 of the reply body's canonical JSON. A reply therefore
//! proves which request it answers and how; it cannot be replayed for another message,
//! and a refused confirm or cancel cannot be turned into an accepted one.
//!
//! [`decode_reply`] is the one parser of untrusted reply bytes: bounded, never panics,
//! fuzzed (`fuzz/fuzz_targets/egov_reply.rs`) and property-tested.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest reply accepted.
pub const MAX_REPLY: usize = 1 << 20;
/// Deepest JSON nesting accepted in a reply body.
pub const MAX_DEPTH: usize = 16;
/// Longest string accepted anywhere in a reply body.
pub const MAX_STRING: usize = 4096;

/// The services of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// Resident number + fingerprint template -> identity token.
    VerifyIdentity,
    /// Document type + subject -> data, issue number, fee.
    FetchDocument,
    /// The document was printed.
    ConfirmIssued,
    /// The document was not printed.
    CancelIssue,
    /// What became of an earlier message id.
    MessageStatus,
}

impl Service {
    /// The path segment and envelope name.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::VerifyIdentity => "verify-identity",
            Service::FetchDocument => "fetch-document",
            Service::ConfirmIssued => "confirm-issued",
            Service::CancelIssue => "cancel-issue",
            Service::MessageStatus => "message-status",
        }
    }

    /// From the path segment.
    pub fn parse(s: &str) -> Option<Service> {
        Some(match s {
            "verify-identity" => Service::VerifyIdentity,
            "fetch-document" => Service::FetchDocument,
            "confirm-issued" => Service::ConfirmIssued,
            "cancel-issue" => Service::CancelIssue,
            "message-status" => Service::MessageStatus,
            _ => return None,
        })
    }
}

/// A request envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// UUID, hyphenated.
    pub message_id: String,
    /// The sending kiosk.
    pub kiosk_id: String,
    /// The service.
    pub service: Service,
    /// Service-specific.
    pub body: Value,
}

/// A reply envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Echo of the request's message id.
    pub message_id: String,
    /// `ok` or `failed`.
    pub status: Status,
    /// Service-specific (on failure: `{"code", "reason"}`).
    pub body: Value,
    /// ed25519 signature, hex.
    pub signature: String,
}

/// A reply's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Done.
    Ok,
    /// Refused.
    Failed,
}

/// Why a reply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_REPLY`].
    #[error("reply of {0} bytes is larger than allowed")]
    TooLarge(usize),
    /// Not the JSON envelope.
    #[error("reply is not a valid envelope: {0}")]
    Malformed(String),
    /// Answers another message.
    #[error("reply answers message {got}, not {want}")]
    WrongMessage {
        /// Expected.
        want: String,
        /// Found.
        got: String,
    },
    /// The signature does not verify.
    #[error("reply signature does not verify")]
    BadSignature,
    /// The body breaks a bound (depth, string length).
    #[error("reply body out of bounds: {0}")]
    OutOfBounds(&'static str),
}

/// The bytes signed for a reply (v2: the status is signed too).
pub fn signed_digest(message_id: &str, request: &[u8], status: Status, body: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"kiosk-egov reply v2\0");
    h.update(message_id.as_bytes());
    h.update([0]);
    h.update(match status {
        Status::Ok => b"ok\0".as_slice(),
        Status::Failed => b"failed\0".as_slice(),
    });
    h.update(Sha256::digest(request));
    h.update(Sha256::digest(canonical(body)));
    h.finalize().into()
}

/// The canonical JSON of a value: keys sorted (serde_json's map is ordered), no spaces.
pub fn canonical(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Signs a reply body (the authority's side; egov-sim uses it).
pub fn sign_reply(
    key: &SigningKey,
    message_id: &str,
    request: &[u8],
    status: Status,
    body: Value,
) -> Reply {
    let sig = key.sign(&signed_digest(message_id, request, status, &body));
    Reply {
        message_id: message_id.to_owned(),
        status,
        body,
        signature: hex::encode(sig.to_bytes()),
    }
}

fn check_bounds(v: &Value, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::OutOfBounds("nested too deep"));
    }
    match v {
        Value::String(s) if s.len() > MAX_STRING => {
            Err(DecodeError::OutOfBounds("string too long"))
        }
        Value::Array(a) => a.iter().try_for_each(|x| check_bounds(x, depth + 1)),
        Value::Object(o) => o.iter().try_for_each(|(k, x)| {
            if k.len() > 128 {
                Err(DecodeError::OutOfBounds("key too long"))
            } else {
                check_bounds(x, depth + 1)
            }
        }),
        _ => Ok(()),
    }
}

/// Decodes and verifies a reply to `request` (the exact bytes sent) with message id
/// `expected_id`. Never panics, whatever the bytes.
pub fn decode_reply(
    request: &[u8],
    reply: &[u8],
    key: &VerifyingKey,
    expected_id: &str,
) -> Result<(Status, Value), DecodeError> {
    if reply.len() > MAX_REPLY {
        return Err(DecodeError::TooLarge(reply.len()));
    }
    // serde_json refuses nesting deeper than 128 by itself; the bound check is tighter.
    let r: Reply =
        serde_json::from_slice(reply).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if r.message_id != expected_id {
        return Err(DecodeError::WrongMessage {
            want: expected_id.to_owned(),
            got: r.message_id.chars().take(40).collect(),
        });
    }
    check_bounds(&r.body, 0)?;
    let sig = hex::decode(&r.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or(DecodeError::BadSignature)?;
    key.verify(
        &signed_digest(&r.message_id, request, r.status, &r.body),
        &sig,
    )
    .map_err(|_| DecodeError::BadSignature)?;
    Ok((r.status, r.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn signed(body: Value) -> Vec<u8> {
        serde_json::to_vec(&sign_reply(&key(), ID, b"req", Status::Ok, body)).unwrap()
    }

    #[test]
    fn a_signed_reply_verifies_and_any_change_does_not() {
        let bytes = signed(json!({"issue_number": "AB12-CD34", "fee": 200}));
        let (s, body) = decode_reply(b"req", &bytes, &key().verifying_key(), ID).unwrap();
        assert_eq!(s, Status::Ok);
        assert_eq!(body["fee"], 200);
        // Another request, another message, another key, a changed body: all refused.
        assert_eq!(
            decode_reply(b"other", &bytes, &key().verifying_key(), ID),
            Err(DecodeError::BadSignature)
        );
        assert!(matches!(
            decode_reply(
                b"req",
                &bytes,
                &key().verifying_key(),
                "1f8fad5b-d9cb-469f-a165-70867728950e"
            ),
            Err(DecodeError::WrongMessage { .. })
        ));
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert_eq!(
            decode_reply(b"req", &bytes, &other, ID),
            Err(DecodeError::BadSignature)
        );
        let tampered = String::from_utf8(bytes).unwrap().replace("200", "100");
        assert_eq!(
            decode_reply(b"req", tampered.as_bytes(), &key().verifying_key(), ID),
            Err(DecodeError::BadSignature)
        );
        // A refusal turned into an acceptance (or back) breaks the signature too.
        let failed = serde_json::to_vec(&sign_reply(
            &key(),
            ID,
            b"req",
            Status::Failed,
            json!({"error": "already-canceled"}),
        ))
        .unwrap();
        let flipped = String::from_utf8(failed)
            .unwrap()
            .replace("\"failed\"", "\"ok\"");
        assert!(flipped.contains("\"status\":\"ok\""), "{flipped}");
        assert_eq!(
            decode_reply(b"req", flipped.as_bytes(), &key().verifying_key(), ID),
            Err(DecodeError::BadSignature)
        );
    }

    #[test]
    fn bounds_are_enforced() {
        let deep = (0..40).fold(json!(1), |v, _| json!([v]));
        assert!(matches!(
            decode_reply(b"req", &signed(deep), &key().verifying_key(), ID),
            Err(DecodeError::OutOfBounds(_))
        ));
        let long = json!({"x": "가".repeat(3000)});
        assert!(matches!(
            decode_reply(b"req", &signed(long), &key().verifying_key(), ID),
            Err(DecodeError::OutOfBounds(_))
        ));
        let big = vec![b' '; MAX_REPLY + 1];
        assert!(matches!(
            decode_reply(b"req", &big, &key().verifying_key(), ID),
            Err(DecodeError::TooLarge(_))
        ));
        assert!(matches!(
            decode_reply(b"req", b"{\"message_id\":", &key().verifying_key(), ID),
            Err(DecodeError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_reply(b"req", &bytes, &key().verifying_key(), ID);
        }

        #[test]
        fn a_truncated_reply_is_refused(cut in 0usize..200) {
            let bytes = signed(json!({"issue_number": "AB12-CD34", "fee": 200, "data": {"a": [1,2,3]}}));
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(decode_reply(b"req", &bytes[..cut], &key().verifying_key(), ID).is_err());
        }
    }
}
