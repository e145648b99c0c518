//! Unlock authentication: HMAC-SHA256 with the per-board key over a domain tag, the board
//! identity, the command and the board's nonce. Verification is constant-time.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::message::Lock;

/// Length of the per-board key.
pub const KEY_LEN: usize = 32;
/// Length of a board nonce.
pub const NONCE_LEN: usize = 16;
/// Length of a MAC (full HMAC-SHA256 tag).
pub const MAC_LEN: usize = 32;

const UNLOCK_TAG: &[u8] = b"kiosk-io/unlock/v1";
const NONCE_TAG: &[u8] = b"kiosk-io/nonce/v1";

type HmacSha256 = Hmac<Sha256>;

/// A per-board secret key. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// Wraps key bytes.
    pub const fn new(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(hex: &str) -> Option<Key> {
        let hex = hex.as_bytes();
        if hex.len() != KEY_LEN * 2 {
            return None;
        }
        let mut out = [0u8; KEY_LEN];
        for (slot, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Key(out))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC pads a key shorter than the hash's block (64 bytes) with zeros; doing it here
        // makes construction infallible (same result as `new_from_slice`, see tests).
        let mut block = [0u8; 64];
        block[..KEY_LEN].copy_from_slice(&self.0);
        <HmacSha256 as KeyInit>::new(&block.into())
    }
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn unlock_hmac(
    key: &Key,
    board_id: u32,
    lock: Lock,
    seconds: u8,
    nonce: &[u8; NONCE_LEN],
) -> HmacSha256 {
    let mut mac = key.mac();
    mac.update(UNLOCK_TAG);
    mac.update(&board_id.to_le_bytes());
    mac.update(&[lock as u8, seconds]);
    mac.update(nonce);
    mac
}

/// The MAC of an unlock command: HMAC-SHA256(key, "kiosk-io/unlock/v1" | board_id (u32 LE) |
/// lock | seconds | nonce).
pub fn unlock_mac(
    key: &Key,
    board_id: u32,
    lock: Lock,
    seconds: u8,
    nonce: &[u8; NONCE_LEN],
) -> [u8; MAC_LEN] {
    unlock_hmac(key, board_id, lock, seconds, nonce)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `mac` authenticates the unlock command (constant-time comparison).
pub fn verify_unlock_mac(
    key: &Key,
    board_id: u32,
    lock: Lock,
    seconds: u8,
    nonce: &[u8; NONCE_LEN],
    mac: &[u8; MAC_LEN],
) -> bool {
    unlock_hmac(key, board_id, lock, seconds, nonce)
        .verify_slice(mac)
        .is_ok()
}

/// The board's `counter`-th nonce for a boot whose random seed is `seed`: unpredictable
/// without the key, and unique as long as (seed, counter) never repeats.
pub fn derive_nonce(key: &Key, seed: &[u8; NONCE_LEN], counter: u64) -> [u8; NONCE_LEN] {
    let mut mac = key.mac();
    mac.update(NONCE_TAG);
    mac.update(seed);
    mac.update(&counter.to_le_bytes());
    let tag = mac.finalize().into_bytes();
    let mut out = [0u8; NONCE_LEN];
    out.copy_from_slice(&tag[..NONCE_LEN]);
    out
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn padded_key_equals_hmac_of_the_short_key() {
        let key = Key::new([7u8; KEY_LEN]);
        let mut reference = <HmacSha256 as Mac>::new_from_slice(&[7u8; KEY_LEN]).unwrap();
        reference.update(b"abc");
        let mut ours = key.mac();
        ours.update(b"abc");
        assert_eq!(
            ours.finalize().into_bytes(),
            reference.finalize().into_bytes()
        );
    }

    #[test]
    fn rfc4231_case_1_shape() {
        // RFC 4231 test case 1 uses a 20-byte key of 0x0b; our padding is the same HMAC.
        let mut block = [0u8; 64];
        block[..20].copy_from_slice(&[0x0b; 20]);
        let mut mac = <HmacSha256 as KeyInit>::new(&block.into());
        mac.update(b"Hi There");
        let tag = mac.finalize().into_bytes();
        assert_eq!(tag[..8], [0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53]);
    }

    #[test]
    fn mac_binds_every_field() {
        let key = Key::new([1u8; KEY_LEN]);
        let nonce = [2u8; NONCE_LEN];
        let mac = unlock_mac(&key, 5, Lock::RearDoor, 10, &nonce);
        assert!(verify_unlock_mac(&key, 5, Lock::RearDoor, 10, &nonce, &mac));
        assert!(!verify_unlock_mac(
            &key,
            6,
            Lock::RearDoor,
            10,
            &nonce,
            &mac
        ));
        assert!(!verify_unlock_mac(
            &key,
            5,
            Lock::FrontDoor,
            10,
            &nonce,
            &mac
        ));
        assert!(!verify_unlock_mac(
            &key,
            5,
            Lock::RearDoor,
            11,
            &nonce,
            &mac
        ));
        assert!(!verify_unlock_mac(
            &key,
            5,
            Lock::RearDoor,
            10,
            &[3u8; NONCE_LEN],
            &mac
        ));
        let other = Key::new([9u8; KEY_LEN]);
        assert!(!verify_unlock_mac(
            &other,
            5,
            Lock::RearDoor,
            10,
            &nonce,
            &mac
        ));
    }

    #[test]
    fn nonces_differ_by_counter_and_seed() {
        let key = Key::new([1u8; KEY_LEN]);
        let a = derive_nonce(&key, &[0; NONCE_LEN], 0);
        let b = derive_nonce(&key, &[0; NONCE_LEN], 1);
        let c = derive_nonce(&key, &[1; NONCE_LEN], 0);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, derive_nonce(&key, &[0; NONCE_LEN], 0));
    }

    #[test]
    fn key_parsing_and_redaction() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = Key::from_hex(hex).unwrap();
        assert_eq!(key.0[1], 0x11);
        assert_eq!(key.0[31], 0xFF);
        assert!(Key::from_hex(&hex[..62]).is_none());
        assert!(Key::from_hex(&hex.replace('0', "g")).is_none());
        assert_eq!(format!("{key:?}"), "Key(<redacted>)");
    }
}
