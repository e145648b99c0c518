//! Authentication, both ways, with HMAC-SHA256 and the per-board key.
//!
//! - Host to board: the commands that can open a lock or silence or arm the host watchdog
//!   (unlock, configure watchdog, maintenance) carry a full 32-byte tag over a domain tag,
//!   the board identity, the command's fields and the board's current single-use nonce.
//! - Board to host: the status reply and every event carry a 16-byte tag over a domain tag,
//!   the board identity and the board's per-boot session value (its boot id); the status
//!   also binds a host-chosen challenge, the event its sequence number.
//!
//! Every domain tag starts `kiosk-io/` and the tags differ within the length of the
//! shortest, so no input authenticated under one tag is valid under another. Verification
//! is constant-time throughout.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::message::Lock;

/// Length of the per-board key.
pub const KEY_LEN: usize = 32;
/// Length of a board nonce.
pub const NONCE_LEN: usize = 16;
/// Length of a MAC on a host command (full HMAC-SHA256 tag).
pub const MAC_LEN: usize = 32;
/// Length of a MAC on a board-to-host status or event: HMAC-SHA256 truncated to its first
/// 16 bytes. A forger gets one guess per frame on a serial line (a few thousand a second at
/// most) against 2^-128 odds each, and a tag is checked once and never reused across
/// boots or challenges, so 128 bits keep every frame under 64 bytes at no practical loss
/// (NIST SP 800-107 allows truncation well below this).
pub const EVENT_MAC_LEN: usize = 16;
/// Length of the board's per-boot session value.
pub const BOOT_ID_LEN: usize = 16;
/// Length of the host's status challenge.
pub const CHALLENGE_LEN: usize = 16;

const UNLOCK_TAG: &[u8] = b"kiosk-io/unlock/v1";
const NONCE_TAG: &[u8] = b"kiosk-io/nonce/v1";
const WATCHDOG_TAG: &[u8] = b"kiosk-io/watchdog/v1";
const MAINTENANCE_TAG: &[u8] = b"kiosk-io/maintenance/v1";
const BOOT_TAG: &[u8] = b"kiosk-io/boot/v1";
const STATUS_TAG: &[u8] = b"kiosk-io/status/v1";
const EVENT_TAG: &[u8] = b"kiosk-io/event/v1";
const SEED_TAG: &[u8] = b"kiosk-io/seed/v1";

/// Every domain tag, for the test that no tag is a prefix of another.
#[cfg(test)]
const ALL_TAGS: [&[u8]; 8] = [
    UNLOCK_TAG,
    NONCE_TAG,
    WATCHDOG_TAG,
    MAINTENANCE_TAG,
    BOOT_TAG,
    STATUS_TAG,
    EVENT_TAG,
    SEED_TAG,
];

type HmacSha256 = Hmac<Sha256>;

/// A per-board secret key. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Drop for Key {
    /// Every copy of the key is wiped when dropped (the host's and the board's).
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

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

/// A MAC over a domain tag, the board identity, `fields` and the nonce of a host command.
fn command_hmac(
    key: &Key,
    tag: &[u8],
    board_id: u32,
    fields: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> HmacSha256 {
    let mut mac = key.mac();
    mac.update(tag);
    mac.update(&board_id.to_le_bytes());
    mac.update(fields);
    mac.update(nonce);
    mac
}

/// The MAC of a watchdog command: HMAC-SHA256(key, "kiosk-io/watchdog/v1" | board_id
/// (u32 LE) | timeout_s (u16 LE) | nonce). Without it anything on the serial line could
/// switch the host watchdog off, or set it to 10 s and power-cycle the PC.
pub fn watchdog_mac(
    key: &Key,
    board_id: u32,
    timeout_s: u16,
    nonce: &[u8; NONCE_LEN],
) -> [u8; MAC_LEN] {
    command_hmac(key, WATCHDOG_TAG, board_id, &timeout_s.to_le_bytes(), nonce)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `mac` authenticates the watchdog command (constant-time comparison).
pub fn verify_watchdog_mac(
    key: &Key,
    board_id: u32,
    timeout_s: u16,
    nonce: &[u8; NONCE_LEN],
    mac: &[u8; MAC_LEN],
) -> bool {
    command_hmac(key, WATCHDOG_TAG, board_id, &timeout_s.to_le_bytes(), nonce)
        .verify_slice(mac)
        .is_ok()
}

/// The MAC of a maintenance command: HMAC-SHA256(key, "kiosk-io/maintenance/v1" | board_id
/// (u32 LE) | seconds (u16 LE) | nonce). A maintenance window silences the host watchdog,
/// so declaring one needs the key like an unlock.
pub fn maintenance_mac(
    key: &Key,
    board_id: u32,
    seconds: u16,
    nonce: &[u8; NONCE_LEN],
) -> [u8; MAC_LEN] {
    command_hmac(
        key,
        MAINTENANCE_TAG,
        board_id,
        &seconds.to_le_bytes(),
        nonce,
    )
    .finalize()
    .into_bytes()
    .into()
}

/// Whether `mac` authenticates the maintenance command (constant-time comparison).
pub fn verify_maintenance_mac(
    key: &Key,
    board_id: u32,
    seconds: u16,
    nonce: &[u8; NONCE_LEN],
    mac: &[u8; MAC_LEN],
) -> bool {
    command_hmac(
        key,
        MAINTENANCE_TAG,
        board_id,
        &seconds.to_le_bytes(),
        nonce,
    )
    .verify_slice(mac)
    .is_ok()
}

/// The seed a boot's nonces and boot id derive from: the random `seed` of this start mixed
/// with `boot_count`, a counter the board keeps in non-volatile memory and advances at every
/// start. A hardware random source that repeats itself (a weak or stuck RNG after power-up)
/// then still never repeats a boot's nonces, so an unlock recorded in an earlier boot cannot
/// be replayed.
pub fn boot_seed(key: &Key, seed: &[u8; NONCE_LEN], boot_count: u32) -> [u8; NONCE_LEN] {
    let mut mac = key.mac();
    mac.update(SEED_TAG);
    mac.update(seed);
    mac.update(&boot_count.to_le_bytes());
    truncate(mac)
}

/// The board's session value for a boot whose random seed is `seed`: the first 16 bytes of
/// HMAC-SHA256(key, "kiosk-io/boot/v1" | seed). It is sent in the clear (in status replies)
/// and keys the event MACs of this boot, so events of another boot never verify; deriving
/// it keeps the raw seed, which also feeds the nonces, inside the board.
pub fn derive_boot_id(key: &Key, seed: &[u8; NONCE_LEN]) -> [u8; BOOT_ID_LEN] {
    let mut mac = key.mac();
    mac.update(BOOT_TAG);
    mac.update(seed);
    truncate(mac)
}

fn status_hmac(
    key: &Key,
    board_id: u32,
    challenge: &[u8; CHALLENGE_LEN],
    boot_id: &[u8; BOOT_ID_LEN],
    body: &[u8],
) -> HmacSha256 {
    let mut mac = key.mac();
    mac.update(STATUS_TAG);
    mac.update(&board_id.to_le_bytes());
    mac.update(challenge);
    mac.update(boot_id);
    mac.update(body);
    mac
}

/// The MAC of a status reply: HMAC-SHA256(key, "kiosk-io/status/v1" | board_id (u32 LE) |
/// challenge | boot_id | status body), first 16 bytes. The host picks the challenge fresh
/// for each request, so a recorded status (say, "all doors closed") cannot be replayed, and
/// the host learns the boot id it must check events against from a reply only the board
/// could have made.
pub fn status_mac(
    key: &Key,
    board_id: u32,
    challenge: &[u8; CHALLENGE_LEN],
    boot_id: &[u8; BOOT_ID_LEN],
    body: &[u8],
) -> [u8; EVENT_MAC_LEN] {
    truncate(status_hmac(key, board_id, challenge, boot_id, body))
}

/// Whether `mac` authenticates the status reply (constant-time comparison).
pub fn verify_status_mac(
    key: &Key,
    board_id: u32,
    challenge: &[u8; CHALLENGE_LEN],
    boot_id: &[u8; BOOT_ID_LEN],
    body: &[u8],
    mac: &[u8; EVENT_MAC_LEN],
) -> bool {
    status_hmac(key, board_id, challenge, boot_id, body)
        .verify_truncated_left(mac)
        .is_ok()
}

fn event_hmac(key: &Key, board_id: u32, boot_id: &[u8; BOOT_ID_LEN], body: &[u8]) -> HmacSha256 {
    let mut mac = key.mac();
    mac.update(EVENT_TAG);
    mac.update(&board_id.to_le_bytes());
    mac.update(boot_id);
    mac.update(body);
    mac
}

/// The MAC of an event: HMAC-SHA256(key, "kiosk-io/event/v1" | board_id (u32 LE) | boot_id
/// | event body), first 16 bytes. The body starts with the event's sequence number, which
/// only ever grows within a boot, so together with the boot id no event verifies twice on
/// a host that refuses sequence numbers it has seen (see [`crate::host::EventGuard`]).
pub fn event_mac(
    key: &Key,
    board_id: u32,
    boot_id: &[u8; BOOT_ID_LEN],
    body: &[u8],
) -> [u8; EVENT_MAC_LEN] {
    truncate(event_hmac(key, board_id, boot_id, body))
}

/// Whether `mac` authenticates the event (constant-time comparison).
pub fn verify_event_mac(
    key: &Key,
    board_id: u32,
    boot_id: &[u8; BOOT_ID_LEN],
    body: &[u8],
    mac: &[u8; EVENT_MAC_LEN],
) -> bool {
    event_hmac(key, board_id, boot_id, body)
        .verify_truncated_left(mac)
        .is_ok()
}

fn truncate<const N: usize>(mac: HmacSha256) -> [u8; N] {
    let tag = mac.finalize().into_bytes();
    let mut out = [0u8; N];
    // N is at most the 32-byte tag (16 everywhere here); `zip` keeps this panic-free.
    for (o, t) in out.iter_mut().zip(tag.iter()) {
        *o = *t;
    }
    out
}

/// The board's `counter`-th nonce for a boot whose random seed is `seed`: unpredictable
/// without the key, and unique as long as (seed, counter) never repeats.
pub fn derive_nonce(key: &Key, seed: &[u8; NONCE_LEN], counter: u64) -> [u8; NONCE_LEN] {
    let mut mac = key.mac();
    mac.update(NONCE_TAG);
    mac.update(seed);
    mac.update(&counter.to_le_bytes());
    truncate(mac)
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
    fn no_domain_tag_is_a_prefix_of_another() {
        for (i, a) in ALL_TAGS.iter().enumerate() {
            for (j, b) in ALL_TAGS.iter().enumerate() {
                if i != j {
                    assert!(!b.starts_with(a), "{i} {j}");
                }
            }
        }
    }

    #[test]
    fn the_boot_count_makes_a_repeated_seed_a_new_boot() {
        let key = Key::new([1u8; KEY_LEN]);
        let seed = [5u8; NONCE_LEN];
        assert_eq!(boot_seed(&key, &seed, 3), boot_seed(&key, &seed, 3));
        assert_ne!(boot_seed(&key, &seed, 3), boot_seed(&key, &seed, 4));
        assert_ne!(
            boot_seed(&key, &seed, 3),
            boot_seed(&Key::new([2u8; KEY_LEN]), &seed, 3)
        );
    }

    #[test]
    fn command_macs_bind_kind_field_board_and_nonce() {
        let key = Key::new([1u8; KEY_LEN]);
        let nonce = [2u8; NONCE_LEN];
        let mac = watchdog_mac(&key, 5, 60, &nonce);
        assert!(verify_watchdog_mac(&key, 5, 60, &nonce, &mac));
        assert!(!verify_watchdog_mac(&key, 6, 60, &nonce, &mac));
        assert!(!verify_watchdog_mac(&key, 5, 0, &nonce, &mac));
        assert!(!verify_watchdog_mac(&key, 5, 60, &[3; NONCE_LEN], &mac));
        assert!(!verify_watchdog_mac(
            &Key::new([9; KEY_LEN]),
            5,
            60,
            &nonce,
            &mac
        ));
        // The same numbers under the maintenance tag are another MAC.
        assert!(!verify_maintenance_mac(&key, 5, 60, &nonce, &mac));
        let m = maintenance_mac(&key, 5, 60, &nonce);
        assert!(verify_maintenance_mac(&key, 5, 60, &nonce, &m));
        assert!(!verify_watchdog_mac(&key, 5, 60, &nonce, &m));
    }

    #[test]
    fn board_macs_bind_challenge_boot_and_body() {
        let key = Key::new([1u8; KEY_LEN]);
        let boot = derive_boot_id(&key, &[4; NONCE_LEN]);
        assert_ne!(boot, derive_boot_id(&key, &[5; NONCE_LEN]));
        let ch = [6u8; CHALLENGE_LEN];
        let body = [1u8, 2, 3];
        let mac = status_mac(&key, 5, &ch, &boot, &body);
        assert!(verify_status_mac(&key, 5, &ch, &boot, &body, &mac));
        assert!(!verify_status_mac(
            &key,
            5,
            &[7; CHALLENGE_LEN],
            &boot,
            &body,
            &mac
        ));
        assert!(!verify_status_mac(
            &key,
            5,
            &ch,
            &[0; BOOT_ID_LEN],
            &body,
            &mac
        ));
        assert!(!verify_status_mac(&key, 5, &ch, &boot, &[1, 2, 4], &mac));
        assert!(!verify_status_mac(&key, 4, &ch, &boot, &body, &mac));
        let ev = event_mac(&key, 5, &boot, &body);
        assert!(verify_event_mac(&key, 5, &boot, &body, &ev));
        assert!(!verify_event_mac(&key, 5, &[0; BOOT_ID_LEN], &body, &ev));
        assert!(!verify_event_mac(&key, 5, &boot, &[1, 2], &ev));
        // An event tag is not a status tag.
        assert_ne!(ev, status_mac(&key, 5, &[0; CHALLENGE_LEN], &boot, &body));
        // The truncated tag is the head of the full HMAC.
        let mut full = key.mac();
        full.update(EVENT_TAG);
        full.update(&5u32.to_le_bytes());
        full.update(&boot);
        full.update(&body);
        assert_eq!(ev[..], full.finalize().into_bytes()[..EVENT_MAC_LEN]);
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
