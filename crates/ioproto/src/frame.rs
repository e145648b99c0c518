//! Frames: a message with a sequence number and a CRC, COBS-encoded and ended by a zero byte.
//!
//! ```text
//! raw frame:  seq (u16 LE) | kind (u8) | payload (0..=MAX_PAYLOAD) | crc16 (u16 LE)
//! on the wire: COBS(raw frame) | 0x00
//! ```
//! The CRC (CRC-16/CCITT-FALSE) covers seq, kind and payload.

use crate::cobs::{self, CobsError};
use crate::crc::crc16;
use crate::message::{MAX_PAYLOAD, Message, PayloadError};

/// Sequence number and kind byte.
pub const HEADER_LEN: usize = 3;
/// The CRC's length.
pub const CRC_LEN: usize = 2;
/// Shortest raw frame (a message without payload).
pub const MIN_RAW_FRAME: usize = HEADER_LEN + CRC_LEN;
/// Longest raw frame.
pub const MAX_RAW_FRAME: usize = HEADER_LEN + MAX_PAYLOAD + CRC_LEN;
/// Longest COBS-encoded frame, without its delimiter.
pub const MAX_COBS_FRAME: usize = cobs::max_encoded_len(MAX_RAW_FRAME);
/// Longest frame on the wire, delimiter included.
pub const MAX_WIRE_FRAME: usize = MAX_COBS_FRAME + 1;

/// A message with its frame sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// Sender's sequence number (replies name the command's number in Ack/Nak).
    pub seq: u16,
    /// The message.
    pub msg: Message,
}

/// Why a frame did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Bad COBS encoding.
    Cobs(CobsError),
    /// More bytes than the longest frame before a delimiter.
    TooLong,
    /// Fewer bytes than the shortest frame.
    TooShort,
    /// The CRC does not match.
    Crc,
    /// The CRC matched but the message is malformed. The sender's sequence number is
    /// kept so the board can refuse the frame by name (a NAK) instead of ignoring it.
    Payload {
        /// The frame's sequence number.
        seq: u16,
        /// What was wrong with the payload.
        error: PayloadError,
    },
}

/// An encoded frame, delimiter included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireFrame {
    buf: [u8; MAX_WIRE_FRAME],
    len: usize,
}

impl WireFrame {
    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl Frame {
    /// Encodes the frame for the wire (COBS plus a trailing zero delimiter).
    pub fn encode(&self) -> WireFrame {
        let mut raw = [0u8; MAX_RAW_FRAME];
        let mut payload = [0u8; MAX_PAYLOAD];
        let n = self.msg.encode_payload(&mut payload);
        raw[..2].copy_from_slice(&self.seq.to_le_bytes());
        raw[2] = self.msg.kind();
        let body_len = HEADER_LEN + n;
        if let (Some(dst), Some(src)) = (raw.get_mut(HEADER_LEN..body_len), payload.get(..n)) {
            dst.copy_from_slice(src);
        }
        let crc = crc16(raw.get(..body_len).unwrap_or(&[]));
        if let Some(dst) = raw.get_mut(body_len..body_len + CRC_LEN) {
            dst.copy_from_slice(&crc.to_le_bytes());
        }
        let raw_len = body_len + CRC_LEN;
        let mut out = WireFrame {
            buf: [0u8; MAX_WIRE_FRAME],
            len: 0,
        };
        // The raw frame is at most MAX_RAW_FRAME bytes and the buffer is sized for its
        // encoding plus the delimiter (already zero), so this cannot fail.
        if let Ok(len) = cobs::encode(raw.get(..raw_len).unwrap_or(&[]), &mut out.buf) {
            out.len = len + 1;
        }
        out
    }

    /// Decodes one COBS-encoded frame (the bytes between two delimiters). Never panics.
    pub fn decode(cobs_bytes: &[u8]) -> Result<Frame, FrameError> {
        if cobs_bytes.len() > MAX_COBS_FRAME {
            return Err(FrameError::TooLong);
        }
        let mut raw = [0u8; MAX_RAW_FRAME];
        let n = cobs::decode(cobs_bytes, &mut raw).map_err(|e| match e {
            CobsError::BufferTooSmall => FrameError::TooLong,
            other => FrameError::Cobs(other),
        })?;
        let raw = raw.get(..n).ok_or(FrameError::TooLong)?;
        if raw.len() < MIN_RAW_FRAME {
            return Err(FrameError::TooShort);
        }
        let (body, crc) = raw.split_at(raw.len() - CRC_LEN);
        let crc = u16::from_le_bytes([crc[0], crc[1]]);
        if crc16(body) != crc {
            return Err(FrameError::Crc);
        }
        let seq = u16::from_le_bytes([body[0], body[1]]);
        let msg = Message::decode(body[2], &body[HEADER_LEN..])
            .map_err(|error| FrameError::Payload { seq, error })?;
        Ok(Frame { seq, msg })
    }
}

/// Splits a byte stream into frames. Holds at most one frame's worth of bytes; a run longer
/// than the longest frame is discarded up to the next delimiter and reported once as
/// [`FrameError::TooLong`]. Empty frames (two delimiters in a row) are skipped, so a sender
/// may start with a zero byte to flush line noise.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    buf: [u8; MAX_COBS_FRAME],
    len: usize,
    overflow: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        FrameDecoder {
            buf: [0u8; MAX_COBS_FRAME],
            len: 0,
            overflow: false,
        }
    }

    /// Feeds one byte; returns a result when the byte ended a frame.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame, FrameError>> {
        if byte == 0 {
            let result = if self.overflow {
                Some(Err(FrameError::TooLong))
            } else if self.len == 0 {
                None
            } else {
                Some(Frame::decode(self.buf.get(..self.len).unwrap_or(&[])))
            };
            self.len = 0;
            self.overflow = false;
            return result;
        }
        if self.overflow {
            return None;
        }
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
            }
            None => {
                self.overflow = true;
                self.len = 0;
            }
        }
        None
    }

    /// Bytes held for the frame in progress.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Drops the frame in progress.
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflow = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_frame_layout() {
        let wire = Frame {
            seq: 0x0102,
            msg: Message::Heartbeat,
        }
        .encode();
        let bytes = wire.as_bytes();
        assert_eq!(*bytes.last().unwrap(), 0);
        let mut raw = [0u8; 8];
        let n = cobs::decode(&bytes[..bytes.len() - 1], &mut raw).unwrap();
        let crc = crc16(&[0x02, 0x01, 0x02]).to_le_bytes();
        assert_eq!(&raw[..n], &[0x02, 0x01, 0x02, crc[0], crc[1]]);
    }

    #[test]
    fn a_corrupted_byte_fails_the_crc() {
        let wire = Frame {
            seq: 7,
            msg: Message::Maintenance {
                seconds: 600,
                nonce: [1; 16],
                mac: [2; 32],
            },
        }
        .encode();
        let bytes = wire.as_bytes();
        let body = &bytes[..bytes.len() - 1];
        for i in 1..body.len() {
            let mut bad = [0u8; MAX_COBS_FRAME];
            bad[..body.len()].copy_from_slice(body);
            bad[i] ^= 0x10;
            if bad[i] == 0 {
                continue;
            }
            assert!(Frame::decode(&bad[..body.len()]).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn decoder_skips_noise_and_overlong_runs() {
        let mut d = FrameDecoder::new();
        for _ in 0..(MAX_COBS_FRAME + 10) {
            assert_eq!(d.push(0x55), None);
        }
        assert_eq!(d.push(0), Some(Err(FrameError::TooLong)));
        assert_eq!(d.push(0), None);
        let wire = Frame {
            seq: 9,
            msg: Message::GetNonce,
        }
        .encode();
        let mut got = None;
        for &b in wire.as_bytes() {
            if let Some(r) = d.push(b) {
                got = Some(r);
            }
        }
        assert_eq!(
            got,
            Some(Ok(Frame {
                seq: 9,
                msg: Message::GetNonce
            }))
        );
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn retired_kinds_are_named_with_their_sequence_number() {
        // Protocol 1's unauthenticated ConfigureWatchdog { timeout_s: 0 }.
        let mut raw = [0x34, 0x12, 0x06, 0x00, 0x00, 0, 0];
        let crc = crc16(&raw[..5]).to_le_bytes();
        raw[5] = crc[0];
        raw[6] = crc[1];
        let mut enc = [0u8; 16];
        let n = cobs::encode(&raw, &mut enc).unwrap();
        assert_eq!(
            Frame::decode(&enc[..n]),
            Err(FrameError::Payload {
                seq: 0x1234,
                error: PayloadError::Retired(0x06)
            })
        );
    }

    #[test]
    fn trailing_payload_bytes_are_refused() {
        // A Heartbeat with one stray payload byte and a valid CRC.
        let mut raw = [0x01, 0x00, 0x02, 0xAA, 0, 0];
        let crc = crc16(&raw[..4]).to_le_bytes();
        raw[4] = crc[0];
        raw[5] = crc[1];
        let mut enc = [0u8; 16];
        let n = cobs::encode(&raw, &mut enc).unwrap();
        assert_eq!(
            Frame::decode(&enc[..n]),
            Err(FrameError::Payload {
                seq: 1,
                error: PayloadError::Length
            })
        );
    }
}
