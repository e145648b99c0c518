//! Signed chain heads: the journal's last sequence number and hash, signed by the kiosk's
//! key and kept outside the kiosk (the district, at every sync and daily).
//!
//! The hash chain makes a journal tamper-evident only to someone who knows where it stood:
//! anyone with root can rewrite every entry and recompute every hash, and the chain still
//! verifies. A head signed earlier and kept elsewhere pins the chain: a ledger rewritten
//! before it, truncated, or with its counter wound back no longer reaches it.
//!
//! # Format
//!
//! One JSON object: `{"kiosk", "seq", "hash", "at_ms", "public_key", "signature"}`, hex for
//! the byte fields. The ed25519 signature covers the ASCII context `kiosk-ledger/head/v1`,
//! a zero byte, the kiosk id, a zero byte, then `seq` (u64) and `at_ms` (i64) big-endian and
//! the 32-byte hash.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::store::Ledger;
use crate::{LedgerError, VerifyReport};

const CONTEXT: &[u8] = b"kiosk-ledger/head/v1\0";

/// A chain head and the signature that pins it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    /// The kiosk whose journal this is.
    pub kiosk: String,
    /// The last sequence number when signed.
    pub seq: u64,
    /// That entry's hash, hex.
    pub hash: String,
    /// When it was signed (Unix ms).
    pub at_ms: i64,
    /// The signer's public key, hex (a verifier checks it against the published keys).
    pub public_key: String,
    /// The signature, hex.
    pub signature: String,
}

/// Why a ledger does not reach a signed head.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The head itself is malformed or its signature does not verify under the key given.
    #[error("the signed head is not valid: {0}")]
    BadHead(&'static str),
    /// The journal ends before the head (truncated, or its counter wound back).
    #[error("the journal ends at entry {last}, before the signed head at entry {head}: truncated")]
    Truncated {
        /// The journal's last sequence number.
        last: u64,
        /// The head's.
        head: u64,
    },
    /// The entry at the head's sequence number has another hash: rewritten.
    #[error(
        "entry {seq} has hash {found}, the signed head says {signed}: the journal was rewritten"
    )]
    Rewritten {
        /// The sequence number.
        seq: u64,
        /// Its hash now.
        found: String,
        /// The signed hash.
        signed: String,
    },
    /// The journal does not verify by itself.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn message(kiosk: &str, seq: u64, at_ms: i64, hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + kiosk.len() + 49);
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(kiosk.as_bytes());
    m.push(0);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&at_ms.to_be_bytes());
    m.extend_from_slice(hash);
    m
}

fn hash32(hex_text: &str) -> Option<[u8; 32]> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut h).ok().map(|()| h)
}

impl Ledger {
    /// The journal's head now (0 and zeros for an empty journal), signed by `key`.
    pub fn sign_head(
        &self,
        kiosk: &str,
        key: &SigningKey,
        at_ms: i64,
    ) -> Result<SignedHead, LedgerError> {
        let seq = self.last_seq()?;
        let hash = self.hash_at(seq)?.unwrap_or([0; 32]);
        let sig = key.sign(&message(kiosk, seq, at_ms, &hash));
        Ok(SignedHead {
            kiosk: kiosk.to_owned(),
            seq,
            hash: hex::encode(hash),
            at_ms,
            public_key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(sig.to_bytes()),
        })
    }

    /// Checks that this journal verifies by itself and still reaches `head`, signed by
    /// `key`: it is not truncated before it, and the entry there is the one signed. A full
    /// re-walk of the chain, for auditors (`kioskctl ledger verify --expect-head`).
    pub fn verify_against(
        &self,
        head: &SignedHead,
        key: &VerifyingKey,
    ) -> Result<VerifyReport, HeadError> {
        let report = self.verify()?;
        self.reaches(head, key)?;
        Ok(report)
    }

    /// Only whether the journal still reaches `head`, signed by `key`: the signature, the
    /// sequence counter and the hash stored at the head's entry, without re-walking the
    /// chain. Cheap enough for every start of the daemon.
    pub fn reaches(&self, head: &SignedHead, key: &VerifyingKey) -> Result<(), HeadError> {
        let hash = hash32(&head.hash).ok_or(HeadError::BadHead("hash"))?;
        let sig = hex::decode(&head.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or(HeadError::BadHead("signature"))?;
        key.verify(&message(&head.kiosk, head.seq, head.at_ms, &hash), &sig)
            .map_err(|_| HeadError::BadHead("signature"))?;
        let last = self.last_seq()?;
        if last < head.seq {
            return Err(HeadError::Truncated {
                last,
                head: head.seq,
            });
        }
        let found = self.hash_at(head.seq)?.unwrap_or([0; 32]);
        if found != hash {
            return Err(HeadError::Rewritten {
                seq: head.seq,
                found: hex::encode(found),
                signed: head.hash.clone(),
            });
        }
        Ok(())
    }
}
