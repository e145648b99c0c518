//! ccTalk frames as pure functions: encode, decode one, and an incremental decoder that
//! resynchronises on garbage. No I/O, no panics, every buffer bounded.

use serde::{Deserialize, Serialize};

/// The host's bus address.
pub const HOST_ADDRESS: u8 = 1;
/// The most data bytes one frame can carry (the length field is one byte).
pub const MAX_DATA: usize = 255;
/// The longest frame on the wire.
pub const MAX_FRAME: usize = MAX_DATA + 5;

/// How a frame is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumKind {
    /// All bytes sum to 0 mod 256 (the usual kind).
    #[default]
    Simple,
    /// CRC-16/XMODEM over dest, length, header and data; low byte in the source position,
    /// high byte at the end. The source address is then not on the wire.
    Crc16,
}

/// One ccTalk message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Frame {
    /// Destination address.
    pub dest: u8,
    /// Source address; in [`ChecksumKind::Crc16`] frames it is not transmitted and decodes
    /// as 0.
    pub src: u8,
    /// Command header, or 0 (ACK) / 5 (NAK) / 6 (BUSY) in a reply.
    pub header: u8,
    /// Data bytes (at most [`MAX_DATA`]).
    pub data: Vec<u8>,
}

/// Why bytes are not a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// More than [`MAX_DATA`] data bytes.
    #[error("ccTalk data too long: {0} bytes")]
    TooLong(usize),
    /// Fewer bytes than the length field promises.
    #[error("ccTalk frame truncated")]
    Truncated,
    /// More bytes than the length field promises.
    #[error("ccTalk frame has trailing bytes")]
    Trailing,
    /// Checksum or CRC does not match.
    #[error("ccTalk checksum mismatch")]
    Checksum,
}

/// The byte that makes `bytes` plus it sum to 0 mod 256.
pub fn simple_checksum(bytes: &[u8]) -> u8 {
    let sum = bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    0u8.wrapping_sub(sum)
}

/// CRC-16/XMODEM (polynomial 0x1021, seed 0, not reflected).
pub fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn crc_input(dest: u8, len: u8, header: u8, data: &[u8]) -> u16 {
    let mut crc_in = Vec::with_capacity(data.len() + 3);
    crc_in.extend_from_slice(&[dest, len, header]);
    crc_in.extend_from_slice(data);
    crc16_xmodem(&crc_in)
}

/// Encodes a frame.
pub fn encode(frame: &Frame, kind: ChecksumKind) -> Result<Vec<u8>, FrameError> {
    let len = u8::try_from(frame.data.len()).map_err(|_| FrameError::TooLong(frame.data.len()))?;
    let mut out = Vec::with_capacity(frame.data.len() + 5);
    match kind {
        ChecksumKind::Simple => {
            out.extend_from_slice(&[frame.dest, len, frame.src, frame.header]);
            out.extend_from_slice(&frame.data);
            out.push(simple_checksum(&out));
        }
        ChecksumKind::Crc16 => {
            let [hi, lo] = crc_input(frame.dest, len, frame.header, &frame.data).to_be_bytes();
            out.extend_from_slice(&[frame.dest, len, lo, frame.header]);
            out.extend_from_slice(&frame.data);
            out.push(hi);
        }
    }
    Ok(out)
}

/// Decodes exactly one complete frame.
pub fn decode(bytes: &[u8], kind: ChecksumKind) -> Result<Frame, FrameError> {
    if bytes.len() < 5 {
        return Err(FrameError::Truncated);
    }
    let n = usize::from(bytes[1]);
    let total = n + 5;
    if bytes.len() < total {
        return Err(FrameError::Truncated);
    }
    if bytes.len() > total {
        return Err(FrameError::Trailing);
    }
    let data = bytes[4..4 + n].to_vec();
    match kind {
        ChecksumKind::Simple => {
            if bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)) != 0 {
                return Err(FrameError::Checksum);
            }
            Ok(Frame {
                dest: bytes[0],
                src: bytes[2],
                header: bytes[3],
                data,
            })
        }
        ChecksumKind::Crc16 => {
            let got = u16::from_be_bytes([bytes[total - 1], bytes[2]]);
            if crc_input(bytes[0], bytes[1], bytes[3], &data) != got {
                return Err(FrameError::Checksum);
            }
            Ok(Frame {
                dest: bytes[0],
                src: 0,
                header: bytes[3],
                data,
            })
        }
    }
}

/// What the incremental decoder found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A frame with a good checksum.
    Frame(Frame),
    /// This many bytes were thrown away to find the next frame.
    Garbage(usize),
}

/// An incremental decoder: feed it bytes as they arrive, take frames out.
///
/// On a bad checksum it drops one byte and tries again; when a frame at the head of the
/// buffer is still incomplete but a complete, valid frame starts further in, it skips to
/// that one (so a garbage byte that looks like a long length field cannot stall it).
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    kind: ChecksumKind,
    expect_dest: Option<u8>,
    buf: Vec<u8>,
    overflow: usize,
}

enum Try {
    Complete(Frame, usize),
    Incomplete,
    Invalid,
}

impl FrameDecoder {
    /// A decoder; with `expect_dest` set, frames for other addresses count as garbage.
    pub fn new(kind: ChecksumKind, expect_dest: Option<u8>) -> FrameDecoder {
        FrameDecoder {
            kind,
            expect_dest,
            buf: Vec::with_capacity(MAX_FRAME * 2),
            overflow: 0,
        }
    }

    /// Appends received bytes. The buffer never holds more than two maximal frames: older
    /// bytes beyond that are dropped and reported as garbage.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        let cap = MAX_FRAME * 2;
        if self.buf.len() > cap {
            let excess = self.buf.len() - cap;
            self.buf.drain(..excess);
            self.overflow += excess;
        }
    }

    /// Bytes held that are not yet a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Forgets a partial frame (after an inter-byte gap, or before a new transaction);
    /// returns how many bytes were dropped.
    pub fn clear(&mut self) -> usize {
        let n = self.buf.len();
        self.buf.clear();
        n
    }

    fn try_at(&self, at: usize) -> Try {
        let b = &self.buf[at..];
        if b.is_empty() {
            return Try::Incomplete;
        }
        if let Some(d) = self.expect_dest {
            if b[0] != d {
                return Try::Invalid;
            }
        }
        if b.len() < 2 {
            return Try::Incomplete;
        }
        let total = usize::from(b[1]) + 5;
        if b.len() < total {
            return Try::Incomplete;
        }
        match decode(&b[..total], self.kind) {
            Ok(f) => Try::Complete(f, total),
            Err(_) => Try::Invalid,
        }
    }

    /// The next frame or garbage report, if the buffer holds one.
    pub fn next_item(&mut self) -> Option<Decoded> {
        if self.overflow > 0 {
            return Some(Decoded::Garbage(std::mem::take(&mut self.overflow)));
        }
        let mut skipped = 0;
        loop {
            if skipped >= self.buf.len() {
                break;
            }
            match self.try_at(skipped) {
                Try::Invalid => skipped += 1,
                Try::Complete(f, len) => {
                    if skipped > 0 {
                        break;
                    }
                    self.buf.drain(..len);
                    return Some(Decoded::Frame(f));
                }
                Try::Incomplete => {
                    // Look further in for a complete valid frame.
                    let found = (skipped + 1..self.buf.len())
                        .find(|&i| matches!(self.try_at(i), Try::Complete(..)));
                    if let Some(i) = found {
                        skipped = i;
                    }
                    break;
                }
            }
        }
        if skipped > 0 {
            self.buf.drain(..skipped);
            return Some(Decoded::Garbage(skipped));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame_strategy() -> impl Strategy<Value = Frame> {
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..=MAX_DATA),
        )
            .prop_map(|(dest, src, header, data)| Frame {
                dest,
                src,
                header,
                data,
            })
    }

    #[test]
    fn simple_poll_is_the_textbook_frame() {
        // Simple poll from host to address 2: 02 00 01 FE FF.
        let f = Frame {
            dest: 2,
            src: 1,
            header: 254,
            data: vec![],
        };
        assert_eq!(
            encode(&f, ChecksumKind::Simple).unwrap(),
            vec![2, 0, 1, 254, 255]
        );
        assert_eq!(
            decode(&[2, 0, 1, 254, 255], ChecksumKind::Simple).unwrap(),
            f
        );
        assert_eq!(
            decode(&[2, 0, 1, 254, 254], ChecksumKind::Simple),
            Err(FrameError::Checksum)
        );
    }

    #[test]
    fn crc16_xmodem_check_value() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    #[test]
    fn too_long_data_is_refused() {
        let f = Frame {
            dest: 2,
            src: 1,
            header: 1,
            data: vec![0; 256],
        };
        assert_eq!(
            encode(&f, ChecksumKind::Simple),
            Err(FrameError::TooLong(256))
        );
    }

    #[test]
    fn decoder_skips_garbage_that_looks_like_a_long_frame() {
        let good = encode(
            &Frame {
                dest: 1,
                src: 2,
                header: 0,
                data: vec![7],
            },
            ChecksumKind::Simple,
        )
        .unwrap();
        let mut d = FrameDecoder::new(ChecksumKind::Simple, None);
        d.push(&[0x01, 0xC8, 0x33]);
        d.push(&good);
        assert_eq!(d.next_item(), Some(Decoded::Garbage(3)));
        assert!(matches!(d.next_item(), Some(Decoded::Frame(f)) if f.data == vec![7]));
        assert_eq!(d.next_item(), None);
    }

    proptest! {
        #[test]
        fn round_trip(f in frame_strategy(), crc in any::<bool>()) {
            let kind = if crc { ChecksumKind::Crc16 } else { ChecksumKind::Simple };
            let bytes = encode(&f, kind).unwrap();
            let mut want = f.clone();
            if crc { want.src = 0; }
            prop_assert_eq!(decode(&bytes, kind).unwrap(), want.clone());
            let mut d = FrameDecoder::new(kind, None);
            d.push(&bytes);
            prop_assert_eq!(d.next_item(), Some(Decoded::Frame(want)));
            prop_assert_eq!(d.pending(), 0);
        }

        #[test]
        fn garbage_then_frame_resyncs(
            f in frame_strategy(),
            garbage in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut f = f;
            f.dest = HOST_ADDRESS;
            let bytes = encode(&f, ChecksumKind::Simple).unwrap();
            // A garbage byte equal to the host address could start a false frame; the
            // driver's dest filter rejects anything else.
            let garbage: Vec<u8> = garbage.into_iter().map(|b| if b == HOST_ADDRESS { 0 } else { b }).collect();
            let mut d = FrameDecoder::new(ChecksumKind::Simple, Some(HOST_ADDRESS));
            d.push(&garbage);
            d.push(&bytes);
            let mut got = None;
            let mut skipped = 0;
            for _ in 0..100 {
                match d.next_item() {
                    Some(Decoded::Garbage(n)) => skipped += n,
                    Some(Decoded::Frame(fr)) => { got = Some(fr); break }
                    None => break,
                }
            }
            prop_assert_eq!(skipped, garbage.len());
            prop_assert_eq!(got, Some(f));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
            crc in any::<bool>(),
        ) {
            let kind = if crc { ChecksumKind::Crc16 } else { ChecksumKind::Simple };
            let mut d = FrameDecoder::new(kind, None);
            for c in &chunks {
                let _ = decode(c, kind);
                d.push(c);
                for _ in 0..1000 {
                    if d.next_item().is_none() { break; }
                }
                prop_assert!(d.pending() <= MAX_FRAME * 2);
            }
        }
    }
}
