//! Host-side helpers: number and encode commands, authenticate unlock, watchdog and
//! maintenance commands, check the board's authenticated status and events, decode replies.

use crate::auth::{
    self, BOOT_ID_LEN, CHALLENGE_LEN, EVENT_MAC_LEN, Key, NONCE_LEN, maintenance_mac, unlock_mac,
    watchdog_mac,
};
use crate::frame::{Frame, FrameDecoder, FrameError, WireFrame};
use crate::message::{EventKind, Lock, Message, Status, event_body};

/// Numbers the host's frames and encodes them.
#[derive(Clone, Debug, Default)]
pub struct HostEncoder {
    next_seq: u16,
}

impl HostEncoder {
    /// Starts numbering at `first_seq`.
    pub const fn new(first_seq: u16) -> Self {
        HostEncoder {
            next_seq: first_seq,
        }
    }

    /// Encodes `msg` with the next sequence number; returns that number and the wire bytes.
    pub fn frame(&mut self, msg: Message) -> (u16, WireFrame) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        (seq, Frame { seq, msg }.encode())
    }
}

/// Builds an authenticated unlock command for the board `board_id`, answering its `nonce`.
pub fn unlock_command(
    key: &Key,
    board_id: u32,
    lock: Lock,
    seconds: u8,
    nonce: &[u8; NONCE_LEN],
) -> Message {
    Message::Unlock {
        lock,
        seconds,
        nonce: *nonce,
        mac: unlock_mac(key, board_id, lock, seconds, nonce),
    }
}

/// Builds an authenticated watchdog command (0 = off, else 10..=3600 s) for the board
/// `board_id`, answering its `nonce`.
pub fn watchdog_command(
    key: &Key,
    board_id: u32,
    timeout_s: u16,
    nonce: &[u8; NONCE_LEN],
) -> Message {
    Message::ConfigureWatchdog {
        timeout_s,
        nonce: *nonce,
        mac: watchdog_mac(key, board_id, timeout_s, nonce),
    }
}

/// Builds an authenticated maintenance command (a window of `seconds`, 0 ends it) for the
/// board `board_id`, answering its `nonce`.
pub fn maintenance_command(
    key: &Key,
    board_id: u32,
    seconds: u16,
    nonce: &[u8; NONCE_LEN],
) -> Message {
    Message::Maintenance {
        seconds,
        nonce: *nonce,
        mac: maintenance_mac(key, board_id, seconds, nonce),
    }
}

/// The status and boot id of `reply` if it is a status whose MAC verifies for this key,
/// board and the `challenge` the host sent; `None` for anything else (a forged or replayed
/// status, or another message).
pub fn verify_status(
    key: &Key,
    board_id: u32,
    challenge: &[u8; CHALLENGE_LEN],
    reply: &Message,
) -> Option<(Status, [u8; BOOT_ID_LEN])> {
    match reply {
        Message::Status {
            status,
            boot_id,
            mac,
        } if auth::verify_status_mac(key, board_id, challenge, boot_id, &status.body(), mac) => {
            Some((*status, *boot_id))
        }
        _ => None,
    }
}

/// Why [`EventGuard::check`] refused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventRejected {
    /// The MAC does not verify for this board and boot: forged, corrupted, or sent by
    /// another boot of the board (the host should read the status to learn the new boot).
    BadMac,
    /// The MAC verifies but the sequence number is not above the last accepted one: a
    /// replay of a genuine event (say, an old "door closed").
    NotIncreasing,
}

/// Accepts the board's events of one boot: each must carry a valid MAC over this boot's
/// session value and a sequence number above the last one accepted. The host learns the
/// boot id from a status reply it verified with [`verify_status`], never from an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventGuard {
    board_id: u32,
    boot_id: [u8; BOOT_ID_LEN],
    last_seq: Option<u64>,
}

impl EventGuard {
    /// A guard for the boot `boot_id` of board `board_id` that has accepted nothing yet.
    pub const fn new(board_id: u32, boot_id: [u8; BOOT_ID_LEN]) -> Self {
        EventGuard {
            board_id,
            boot_id,
            last_seq: None,
        }
    }

    /// The boot this guard accepts events of.
    pub const fn boot_id(&self) -> &[u8; BOOT_ID_LEN] {
        &self.boot_id
    }

    /// The sequence number of the last accepted event.
    pub const fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Checks one event; on success it counts as seen, so the same event is refused next
    /// time. The MAC is checked first (in constant time), so a forged event never moves the
    /// sequence number.
    pub fn check(
        &mut self,
        key: &Key,
        event_seq: u64,
        at_ms: u64,
        kind: EventKind,
        mac: &[u8; EVENT_MAC_LEN],
    ) -> Result<(), EventRejected> {
        let (body, n) = event_body(event_seq, at_ms, kind);
        let body = body.get(..n).unwrap_or(&[]);
        if !auth::verify_event_mac(key, self.board_id, &self.boot_id, body, mac) {
            return Err(EventRejected::BadMac);
        }
        if self.last_seq.is_some_and(|last| event_seq <= last) {
            return Err(EventRejected::NotIncreasing);
        }
        self.last_seq = Some(event_seq);
        Ok(())
    }
}

/// Feeds received bytes to `decoder` and calls `on_frame` for each complete frame or error.
pub fn decode_stream(
    decoder: &mut FrameDecoder,
    bytes: &[u8],
    mut on_frame: impl FnMut(Result<Frame, FrameError>),
) {
    for &b in bytes {
        if let Some(result) = decoder.push(b) {
            on_frame(result);
        }
    }
}
