//! The I/O-board wire protocol, shared by the firmware and the daemon: `no_std`, no
//! allocator, and no decoder panics on any input.
//!
//! A frame is `seq (u16 LE) | kind (u8) | payload | CRC-16/CCITT-FALSE (u16 LE)`, COBS-encoded
//! and ended by a zero byte ([`frame`]). The messages are in [`message`]; unlock commands
//! carry an HMAC-SHA256 over the command and a single-use board nonce ([`auth`]); [`host`]
//! has the helpers the host side needs.
#![no_std]

pub mod auth;
pub mod cobs;
pub mod crc;
pub mod frame;
pub mod host;
pub mod message;

pub use auth::{BOOT_ID_LEN, CHALLENGE_LEN, EVENT_MAC_LEN, KEY_LEN, Key, MAC_LEN, NONCE_LEN};
pub use frame::{Frame, FrameDecoder, FrameError, MAX_WIRE_FRAME, WireFrame};
pub use message::{
    Alarm, EventKind, Input, InputSet, Lock, LockSet, MAX_PAYLOAD, Message, NakReason,
    PayloadError, RETIRED_KINDS, Status, StatusFlags,
};

/// The protocol version carried in the hellos. Version 2 authenticates the watchdog and
/// maintenance commands, the status reply and the events (version 1 did not); a board
/// refuses a hello of another version with [`NakReason::BadVersion`].
pub const PROTOCOL_VERSION: u8 = 2;
