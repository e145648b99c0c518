//! Host-side helpers: number and encode commands, authenticate unlocks, decode replies.

use crate::auth::{Key, NONCE_LEN, unlock_mac};
use crate::frame::{Frame, FrameDecoder, FrameError, WireFrame};
use crate::message::{Lock, Message};

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
