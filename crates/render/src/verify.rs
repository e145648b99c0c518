//! The verification code printed as a QR code on every page.
//!
//! Anyone holding the issuing authority's ed25519 public key can check a printed
//! certificate offline: the payload names the document (code, issue number, time of
//! issue) and carries the SHA-256 of the canonical document data, signed.
//!
//! # Payload format, version 2
//!
//! The payload is the unpadded base64url (RFC 4648 §5) encoding of these bytes:
//!
//! | bytes    | content                                                    |
//! |----------|------------------------------------------------------------|
//! | 1        | version, `0x02`                                            |
//! | 8        | key id: the first 8 bytes of SHA-256 of the public key      |
//! | 1 + n    | length n, then the document code (ASCII, n ≤ 24)          |
//! | 1 + m    | length m, then the issue number (ASCII, m ≤ 32)           |
//! | 8        | issued-at, Unix seconds, signed big-endian                 |
//! | 32       | SHA-256 of the canonical JSON of the document data         |
//! | 64       | ed25519 signature                                          |
//!
//! The signature covers the ASCII context string `kiosk-render/verify/v1`, a zero byte,
//! then every byte before the signature (the key id included). About 200 characters for
//! typical codes. Version 1 is the same without the key id; certificates printed with it
//! stay verifiable.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use kiosk_core::{DocCode, IssueNumber};

use crate::error::VerifyError;

/// Current payload version.
pub const PAYLOAD_VERSION: u8 = 2;
/// The first version, without a key id: still verified, never signed any more.
const PAYLOAD_V1: u8 = 1;
const CONTEXT: &[u8] = b"kiosk-render/verify/v1\0";

/// Which key signed a payload: the first 8 bytes of SHA-256 of its public key. Keys
/// rotate; a verifier holding a district's published keys picks the one named instead of
/// trying each.
pub type KeyId = [u8; 8];

/// The key id of `key` (see [`KeyId`]).
pub fn key_id(key: &VerifyingKey) -> KeyId {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(key.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&h[..8]);
    id
}

/// What a valid payload proves: this authority signed these facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDocument {
    /// The key id the payload names (`None` for a version-1 payload, which names none).
    pub key_id: Option<KeyId>,
    /// Document type.
    pub code: DocCode,
    /// Issue number (발급번호).
    pub issue_number: IssueNumber,
    /// Time of issue, Unix seconds.
    pub issued_at_unix: i64,
    /// SHA-256 of the canonical document data; compare with
    /// [`crate::canonical_data_sha256`] when the data is at hand.
    pub data_sha256: [u8; 32],
}

fn body(
    key_id: &KeyId,
    code: &DocCode,
    issue: &IssueNumber,
    issued_at_unix: i64,
    digest: &[u8; 32],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(88);
    b.push(PAYLOAD_VERSION);
    b.extend_from_slice(key_id);
    for s in [code.as_str(), issue.as_str()] {
        // Both identifiers are at most 32 ASCII bytes (validated by kiosk-core).
        b.push(s.len() as u8);
        b.extend_from_slice(s.as_bytes());
    }
    b.extend_from_slice(&issued_at_unix.to_be_bytes());
    b.extend_from_slice(digest);
    b
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    [CONTEXT, body].concat()
}

/// Builds and signs a payload naming the key that signs it.
pub fn sign_payload(
    key: &SigningKey,
    code: &DocCode,
    issue: &IssueNumber,
    issued_at_unix: i64,
    data_sha256: &[u8; 32],
) -> String {
    let id = key_id(&key.verifying_key());
    let mut b = body(&id, code, issue, issued_at_unix, data_sha256);
    let sig = key.sign(&signed_message(&b));
    b.extend_from_slice(&sig.to_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

/// The key id a payload names, before any check of its signature (so a verifier can pick
/// the key); `None` for a version-1 payload.
pub fn payload_key_id(payload: &str) -> Result<Option<KeyId>, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim().as_bytes())
        .map_err(|_| VerifyError::Encoding)?;
    match bytes.split_first() {
        Some((&PAYLOAD_V1, _)) => Ok(None),
        Some((&PAYLOAD_VERSION, rest)) => rest
            .get(..8)
            .and_then(|id| KeyId::try_from(id).ok())
            .map(Some)
            .ok_or(VerifyError::Length),
        Some((&v, _)) => Err(VerifyError::Version(v)),
        None => Err(VerifyError::Length),
    }
}

/// Checks a payload against the authority's public key. Any change to any byte, or a
/// different key, fails with [`VerifyError`].
pub fn verify_payload(payload: &str, key: &VerifyingKey) -> Result<VerifiedDocument, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim().as_bytes())
        .map_err(|_| VerifyError::Encoding)?;
    let (&version, mut rest) = bytes.split_first().ok_or(VerifyError::Length)?;
    let named = match version {
        PAYLOAD_V1 => None,
        PAYLOAD_VERSION => {
            let (id, r) = rest.split_at_checked(8).ok_or(VerifyError::Length)?;
            rest = r;
            let id = KeyId::try_from(id).map_err(|_| VerifyError::Length)?;
            if id != key_id(key) {
                return Err(VerifyError::OtherKey {
                    named: hex_id(&id),
                    given: hex_id(&key_id(key)),
                });
            }
            Some(id)
        }
        v => return Err(VerifyError::Version(v)),
    };
    let mut take_str = |what: &'static str| -> Result<String, VerifyError> {
        let (&n, r) = rest.split_first().ok_or(VerifyError::Length)?;
        let n = usize::from(n);
        if r.len() < n {
            return Err(VerifyError::Length);
        }
        let (s, r) = r.split_at(n);
        rest = r;
        String::from_utf8(s.to_vec()).map_err(|_| VerifyError::Field(what))
    };
    let code = take_str("code")?;
    let issue = take_str("issue number")?;
    if rest.len() != 8 + 32 + 64 {
        return Err(VerifyError::Length);
    }
    let (ts, rest) = rest.split_at(8);
    let (digest, sig) = rest.split_at(32);
    let signed_len = bytes.len() - 64;
    let sig = Signature::from_slice(sig).map_err(|_| VerifyError::Signature)?;
    key.verify_strict(&signed_message(&bytes[..signed_len]), &sig)
        .map_err(|_| VerifyError::Signature)?;
    let mut ts8 = [0u8; 8];
    ts8.copy_from_slice(ts);
    let mut d = [0u8; 32];
    d.copy_from_slice(digest);
    Ok(VerifiedDocument {
        key_id: named,
        code: DocCode::new(&code).map_err(|_| VerifyError::Field("code"))?,
        issue_number: IssueNumber::new(&issue).map_err(|_| VerifyError::Field("issue number"))?,
        issued_at_unix: i64::from_be_bytes(ts8),
        data_sha256: d,
    })
}

fn hex_id(id: &KeyId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A signing key derived from a seed, for demos, synthetic documents and tests only:
/// a real kiosk signs with the key its authority provisions.
pub fn demo_signing_key(seed: u64) -> SigningKey {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"kiosk-render demo key, not for issuing");
    h.update(seed.to_be_bytes());
    SigningKey::from_bytes(&h.finalize().into())
}
