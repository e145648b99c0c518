//! SSP (Smiley Secure Protocol) for the bill validator: the packet codec, reply parsers and
//! the driver in [`validator`]. Everything here but the driver is pure and never panics.

pub mod validator;

use serde::{Deserialize, Serialize};

/// Start of a packet; doubled when it appears anywhere after the first byte.
pub const STX: u8 = 0x7F;
/// The most data bytes in one packet.
pub const MAX_DATA: usize = 255;

/// SSP commands used here.
pub mod cmd {
    /// Re-send of the setup inhibits: channel mask.
    pub const SET_INHIBITS: u8 = 0x02;
    /// Unit and channel setup.
    pub const SETUP_REQUEST: u8 = 0x05;
    /// Host protocol version.
    pub const HOST_PROTOCOL: u8 = 0x06;
    /// Poll for events.
    pub const POLL: u8 = 0x07;
    /// Return the note in escrow.
    pub const REJECT: u8 = 0x08;
    /// Stop accepting.
    pub const DISABLE: u8 = 0x09;
    /// Start accepting.
    pub const ENABLE: u8 = 0x0A;
    /// The device's serial number (reply: OK + four bytes, big-endian). With the stacked
    /// counter it makes a note's device key.
    pub const GET_SERIAL_NUMBER: u8 = 0x0C;
    /// Reset the sequence flag.
    pub const SYNC: u8 = 0x11;
    /// Keep the note in escrow.
    pub const HOLD: u8 = 0x18;
    /// The device's note counters (reply: OK, the number of counters, then each as a
    /// little-endian u32: stacked, stored, dispensed, transferred to stack, rejected).
    /// Recovery compares them with what was booked.
    pub const GET_COUNTERS: u8 = 0x58;
}

/// Generic response codes (first byte of every reply).
pub mod resp {
    /// OK.
    pub const OK: u8 = 0xF0;
    /// Unknown command.
    pub const UNKNOWN: u8 = 0xF2;
    /// Wrong number of parameters.
    pub const WRONG_LENGTH: u8 = 0xF3;
    /// Parameter out of range.
    pub const OUT_OF_RANGE: u8 = 0xF4;
    /// Command cannot be processed now.
    pub const CANNOT_PROCESS: u8 = 0xF5;
    /// Failure.
    pub const FAIL: u8 = 0xF8;
    /// Encryption key not set.
    pub const KEY_NOT_SET: u8 = 0xFA;
}

/// One SSP packet (unstuffed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Packet {
    /// The sequence flag (bit 7 of the second byte).
    pub seq: bool,
    /// Device id, 0..=127 (the validator is 0).
    pub id: u8,
    /// Command or reply bytes.
    pub data: Vec<u8>,
}

/// Why bytes are not a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SspError {
    /// Device id above 127.
    #[error("SSP id out of range: {0}")]
    BadId(u8),
    /// More than [`MAX_DATA`] bytes.
    #[error("SSP data too long: {0}")]
    TooLong(usize),
    /// The CRC does not match.
    #[error("SSP CRC mismatch")]
    Crc,
}

/// CRC-16 as SSP uses it: polynomial 0x8005, seed 0xFFFF, not reflected.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Encodes a packet with stuffing.
pub fn encode(p: &Packet) -> Result<Vec<u8>, SspError> {
    encode_with_crc_xor(p, 0)
}

/// Encodes with the CRC spoiled by `xor` (simulators use it to fake line damage).
pub(crate) fn encode_with_crc_xor(p: &Packet, xor: u16) -> Result<Vec<u8>, SspError> {
    if p.id > 0x7F {
        return Err(SspError::BadId(p.id));
    }
    let len = u8::try_from(p.data.len()).map_err(|_| SspError::TooLong(p.data.len()))?;
    let mut body = Vec::with_capacity(p.data.len() + 4);
    body.push(u8::from(p.seq) << 7 | p.id);
    body.push(len);
    body.extend_from_slice(&p.data);
    let [lo, hi] = (crc16(&body) ^ xor).to_le_bytes();
    body.extend_from_slice(&[lo, hi]);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(STX);
    for b in body {
        out.push(b);
        if b == STX {
            out.push(STX);
        }
    }
    Ok(out)
}

/// What the incremental decoder found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SspDecoded {
    /// A packet with a good CRC.
    Packet(Packet),
    /// A complete packet whose CRC failed (the host retransmits).
    BadCrc,
}

/// An incremental, unstuffing packet decoder. A lone STX inside a packet starts a new one
/// (the old partial counts as garbage); bytes outside a packet count as garbage.
#[derive(Clone, Debug, Default)]
pub struct PacketDecoder {
    in_packet: bool,
    pending_stx: bool,
    buf: Vec<u8>,
    garbage: usize,
}

impl PacketDecoder {
    /// A decoder waiting for STX.
    pub fn new() -> PacketDecoder {
        PacketDecoder::default()
    }

    /// Garbage bytes seen since the last call.
    pub fn take_garbage(&mut self) -> usize {
        std::mem::take(&mut self.garbage)
    }

    /// Forgets any partial packet.
    pub fn reset(&mut self) {
        if self.in_packet {
            self.garbage += self.buf.len() + 1;
        }
        self.in_packet = false;
        self.pending_stx = false;
        self.buf.clear();
    }

    /// Feeds one byte.
    pub fn push(&mut self, b: u8) -> Option<SspDecoded> {
        if !self.in_packet {
            if b == STX {
                self.in_packet = true;
                self.pending_stx = false;
                self.buf.clear();
            } else {
                self.garbage += 1;
            }
            return None;
        }
        if self.pending_stx {
            self.pending_stx = false;
            if b != STX {
                // The earlier STX began a new packet.
                self.garbage += self.buf.len() + 1;
                self.buf.clear();
                return self.take_byte(b);
            }
            return self.take_byte(STX);
        }
        if b == STX {
            self.pending_stx = true;
            return None;
        }
        self.take_byte(b)
    }

    fn take_byte(&mut self, b: u8) -> Option<SspDecoded> {
        self.buf.push(b);
        if self.buf.len() < 2 {
            return None;
        }
        let total = usize::from(self.buf[1]) + 4;
        if self.buf.len() < total {
            return None;
        }
        self.in_packet = false;
        let body = &self.buf[..total - 2];
        let got = u16::from_le_bytes([self.buf[total - 2], self.buf[total - 1]]);
        let out = if crc16(body) == got {
            SspDecoded::Packet(Packet {
                seq: self.buf[0] & 0x80 != 0,
                id: self.buf[0] & 0x7F,
                data: self.buf[2..total - 2].to_vec(),
            })
        } else {
            self.garbage += total + 1;
            SspDecoded::BadCrc
        };
        self.buf.clear();
        Some(out)
    }

    /// Feeds a slice, collecting everything it completes.
    pub fn push_all(&mut self, bytes: &[u8]) -> Vec<SspDecoded> {
        bytes.iter().filter_map(|&b| self.push(b)).collect()
    }
}

/// An event in a POLL reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SspEvent {
    /// 0xEF: reading; channel 0 while still reading, else the note waits in escrow.
    Read(u8),
    /// 0xEE: the note of this channel is credited (past the point of no return).
    Credit(u8),
    /// 0xED: rejecting a note.
    Rejecting,
    /// 0xEC: a note was returned.
    Rejected,
    /// 0xCC: stacking.
    Stacking,
    /// 0xEB: stacked.
    Stacked,
    /// 0xEA: safe jam (note not reachable).
    SafeJam,
    /// 0xE9: unsafe jam (note reachable from the front).
    UnsafeJam,
    /// 0xE8: disabled.
    Disabled,
    /// 0xE6: fraud attempt on this channel.
    FraudAttempt(u8),
    /// 0xE7: stacker full.
    StackerFull,
    /// 0xE3: cashbox removed.
    CashboxRemoved,
    /// 0xE4: cashbox replaced.
    CashboxReplaced,
    /// 0xF1: the device reset.
    SlaveReset,
    /// 0xE1: a note was cleared to the front at reset.
    ClearedFromFront(u8),
    /// 0xE2: a note was cleared into the cashbox at reset.
    ClearedIntoCashbox(u8),
    /// 0xB5: every channel is inhibited.
    ChannelDisable,
}

impl SspEvent {
    /// The event's bytes.
    pub fn encode(self, out: &mut Vec<u8>) {
        match self {
            SspEvent::Read(c) => out.extend_from_slice(&[0xEF, c]),
            SspEvent::Credit(c) => out.extend_from_slice(&[0xEE, c]),
            SspEvent::Rejecting => out.push(0xED),
            SspEvent::Rejected => out.push(0xEC),
            SspEvent::Stacking => out.push(0xCC),
            SspEvent::Stacked => out.push(0xEB),
            SspEvent::SafeJam => out.push(0xEA),
            SspEvent::UnsafeJam => out.push(0xE9),
            SspEvent::Disabled => out.push(0xE8),
            SspEvent::FraudAttempt(c) => out.extend_from_slice(&[0xE6, c]),
            SspEvent::StackerFull => out.push(0xE7),
            SspEvent::CashboxRemoved => out.push(0xE3),
            SspEvent::CashboxReplaced => out.push(0xE4),
            SspEvent::SlaveReset => out.push(0xF1),
            SspEvent::ClearedFromFront(c) => out.extend_from_slice(&[0xE1, c]),
            SspEvent::ClearedIntoCashbox(c) => out.extend_from_slice(&[0xE2, c]),
            SspEvent::ChannelDisable => out.push(0xB5),
        }
    }
}

/// Why a reply does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// Empty reply.
    #[error("empty SSP reply")]
    Empty,
    /// The device answered with a code other than OK.
    #[error("SSP response 0x{0:02X}")]
    Response(u8),
    /// An event code this parser does not know (its length is unknown, so parsing stops).
    #[error("unknown SSP event 0x{0:02X}")]
    UnknownEvent(u8),
    /// The reply ends inside a field.
    #[error("SSP reply truncated")]
    Truncated,
}

/// Parses a POLL reply into its events, in order. Events before an unknown code are kept
/// in the `Ok` part of the pair; the error says where parsing stopped.
pub fn parse_poll(data: &[u8]) -> Result<(Vec<SspEvent>, Option<ReplyError>), ReplyError> {
    let (&first, mut rest) = data.split_first().ok_or(ReplyError::Empty)?;
    if first != resp::OK {
        return Err(ReplyError::Response(first));
    }
    let mut events = Vec::new();
    while let Some((&code, tail)) = rest.split_first() {
        let with_channel = |f: fn(u8) -> SspEvent| -> Result<(SspEvent, &[u8]), ReplyError> {
            let (&c, t) = tail.split_first().ok_or(ReplyError::Truncated)?;
            Ok((f(c), t))
        };
        let step = match code {
            0xEF => with_channel(SspEvent::Read),
            0xEE => with_channel(SspEvent::Credit),
            0xE6 => with_channel(SspEvent::FraudAttempt),
            0xE1 => with_channel(SspEvent::ClearedFromFront),
            0xE2 => with_channel(SspEvent::ClearedIntoCashbox),
            0xED => Ok((SspEvent::Rejecting, tail)),
            0xEC => Ok((SspEvent::Rejected, tail)),
            0xCC => Ok((SspEvent::Stacking, tail)),
            0xEB => Ok((SspEvent::Stacked, tail)),
            0xEA => Ok((SspEvent::SafeJam, tail)),
            0xE9 => Ok((SspEvent::UnsafeJam, tail)),
            0xE8 => Ok((SspEvent::Disabled, tail)),
            0xE7 => Ok((SspEvent::StackerFull, tail)),
            0xE3 => Ok((SspEvent::CashboxRemoved, tail)),
            0xE4 => Ok((SspEvent::CashboxReplaced, tail)),
            0xF1 => Ok((SspEvent::SlaveReset, tail)),
            0xB5 => Ok((SspEvent::ChannelDisable, tail)),
            other => Err(ReplyError::UnknownEvent(other)),
        };
        match step {
            Ok((e, t)) => {
                events.push(e);
                rest = t;
            }
            Err(e) => return Ok((events, Some(e))),
        }
    }
    Ok((events, None))
}

/// A POLL reply carrying `events`.
pub fn encode_poll(events: &[SspEvent]) -> Vec<u8> {
    let mut out = vec![resp::OK];
    for e in events {
        e.encode(&mut out);
    }
    out
}

/// The validator's answer to SETUP_REQUEST.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// Unit type (0 = banknote validator).
    pub unit_type: u8,
    /// Firmware version, four ASCII characters.
    pub firmware: String,
    /// Country code, three ASCII characters (`KRW`).
    pub country: String,
    /// Protocol version the device speaks.
    pub protocol: u8,
    /// Value of each channel in won, channel 1 first.
    pub channels: Vec<u32>,
}

fn take<'a>(d: &mut &'a [u8], n: usize) -> Result<&'a [u8], ReplyError> {
    if d.len() < n {
        return Err(ReplyError::Truncated);
    }
    let (a, b) = d.split_at(n);
    *d = b;
    Ok(a)
}

fn text(b: &[u8]) -> String {
    crate::cctalk::ascii(b)
}

impl Setup {
    /// Parses a SETUP_REQUEST reply (with its leading OK). Protocol 6 and later carry the
    /// full channel values (4 bytes each, LSB first) after the short form.
    pub fn parse(data: &[u8]) -> Result<Setup, ReplyError> {
        let mut d = data;
        let ok = take(&mut d, 1)?[0];
        if ok != resp::OK {
            return Err(ReplyError::Response(ok));
        }
        let unit_type = take(&mut d, 1)?[0];
        let firmware = text(take(&mut d, 4)?);
        let country = text(take(&mut d, 3)?);
        let _multiplier = take(&mut d, 3)?;
        let n = usize::from(take(&mut d, 1)?[0]);
        let short = take(&mut d, n)?.to_vec();
        let _security = take(&mut d, n)?;
        let m = take(&mut d, 3)?;
        let real_multiplier = u32::from_be_bytes([0, m[0], m[1], m[2]]);
        let protocol = take(&mut d, 1)?[0];
        let channels = if protocol >= 6 {
            let _countries = take(&mut d, 3 * n)?;
            let full = take(&mut d, 4 * n)?;
            full.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            short
                .iter()
                .map(|&v| u32::from(v).saturating_mul(real_multiplier))
                .collect()
        };
        Ok(Setup {
            unit_type,
            firmware,
            country,
            protocol,
            channels,
        })
    }

    /// Encodes a reply (used by the simulator). Channel values that do not fit the short
    /// form's one byte at the multiplier are sent there as 0; protocol 6+ readers use the
    /// full values.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![resp::OK, self.unit_type];
        let pad = |s: &str, n: usize| {
            let mut b: Vec<u8> = s.bytes().take(n).collect();
            b.resize(n, b' ');
            b
        };
        out.extend(pad(&self.firmware, 4));
        out.extend(pad(&self.country, 3));
        out.extend_from_slice(&[0, 0, 1]);
        let n = self.channels.len().min(255);
        out.push(n as u8);
        for &v in &self.channels[..n] {
            out.push(u8::try_from(v / 1000).unwrap_or(0));
        }
        out.extend(std::iter::repeat_n(2u8, n));
        out.extend_from_slice(&[0, 0x03, 0xE8]); // real multiplier 1000
        out.push(self.protocol);
        if self.protocol >= 6 {
            for _ in 0..n {
                out.extend(pad(&self.country, 3));
            }
            for &v in &self.channels[..n] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }
}

/// Parses a GET_SERIAL_NUMBER reply (with its leading OK): four bytes, big-endian. Bytes
/// after the fourth are ignored.
pub fn parse_serial_number(data: &[u8]) -> Result<u32, ReplyError> {
    let mut d = data;
    let ok = take(&mut d, 1).map_err(|_| ReplyError::Empty)?[0];
    if ok != resp::OK {
        return Err(ReplyError::Response(ok));
    }
    let b = take(&mut d, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A GET_SERIAL_NUMBER reply (used by the simulator).
pub fn encode_serial_number(serial: u32) -> Vec<u8> {
    let mut out = vec![resp::OK];
    out.extend_from_slice(&serial.to_be_bytes());
    out
}

/// The note counters a validator keeps in its own memory (GET_COUNTERS); they survive
/// resets and host restarts, which is why recovery asks for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counters {
    /// Notes stacked (credited).
    pub stacked: u32,
    /// Notes stored for payout (0 on a validator without a recycler).
    pub stored: u32,
    /// Notes dispensed (0 on a validator without a recycler).
    pub dispensed: u32,
    /// Notes moved from storage to the stacker.
    pub transferred_to_stack: u32,
    /// Notes rejected (handed back).
    pub rejected: u32,
}

impl Counters {
    /// How many counters a reply carries.
    pub const COUNT: u8 = 5;

    /// Parses a GET_COUNTERS reply (with its leading OK). A reply announcing fewer than five
    /// counters, or ending before the counters it announces, is
    /// [`ReplyError::Truncated`]; counters after the fifth are ignored.
    pub fn parse(data: &[u8]) -> Result<Counters, ReplyError> {
        let mut d = data;
        let ok = take(&mut d, 1).map_err(|_| ReplyError::Empty)?[0];
        if ok != resp::OK {
            return Err(ReplyError::Response(ok));
        }
        let n = take(&mut d, 1)?[0];
        if n < Self::COUNT {
            return Err(ReplyError::Truncated);
        }
        let all = take(&mut d, 4 * usize::from(n))?;
        let mut v = all
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut next = || v.next().ok_or(ReplyError::Truncated);
        Ok(Counters {
            stacked: next()?,
            stored: next()?,
            dispensed: next()?,
            transferred_to_stack: next()?,
            rejected: next()?,
        })
    }

    /// Encodes a reply (used by the simulator).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![resp::OK, Self::COUNT];
        for v in [
            self.stacked,
            self.stored,
            self.dispensed,
            self.transferred_to_stack,
            self.rejected,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sync_to_id_0_is_the_manual_example() {
        let p = Packet {
            seq: true,
            id: 0,
            data: vec![cmd::SYNC],
        };
        assert_eq!(
            encode(&p).unwrap(),
            vec![0x7F, 0x80, 0x01, 0x11, 0x65, 0x82]
        );
        let mut d = PacketDecoder::new();
        assert_eq!(
            d.push_all(&[0x7F, 0x80, 0x01, 0x11, 0x65, 0x82]),
            vec![SspDecoded::Packet(p)]
        );
    }

    #[test]
    fn stuffing_doubles_stx_and_bad_crc_is_reported() {
        let p = Packet {
            seq: false,
            id: 0,
            data: vec![0x7F, 0x01, 0x7F],
        };
        let bytes = encode(&p).unwrap();
        assert_eq!(&bytes[..7], &[0x7F, 0x00, 0x03, 0x7F, 0x7F, 0x01, 0x7F]);
        let mut d = PacketDecoder::new();
        assert_eq!(d.push_all(&bytes), vec![SspDecoded::Packet(p.clone())]);
        let bad = encode_with_crc_xor(&p, 0x0101).unwrap();
        assert_eq!(d.push_all(&bad), vec![SspDecoded::BadCrc]);
        assert!(
            encode(&Packet {
                seq: false,
                id: 0x80,
                data: vec![]
            })
            .is_err()
        );
    }

    #[test]
    fn poll_reply_with_several_events() {
        let reply = [0xF0, 0xEF, 0x00, 0xEE, 0x02, 0xCC, 0xEB, 0xE6, 0x03, 0xE7];
        let (events, err) = parse_poll(&reply).unwrap();
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                SspEvent::Read(0),
                SspEvent::Credit(2),
                SspEvent::Stacking,
                SspEvent::Stacked,
                SspEvent::FraudAttempt(3),
                SspEvent::StackerFull
            ]
        );
        let (events, err) = parse_poll(&[0xF0, 0xEE, 0x01, 0x42, 0xEB]).unwrap();
        assert_eq!(events, vec![SspEvent::Credit(1)]);
        assert_eq!(err, Some(ReplyError::UnknownEvent(0x42)));
        assert_eq!(parse_poll(&[0xF2]), Err(ReplyError::Response(0xF2)));
        assert_eq!(
            parse_poll(&[0xF0, 0xEE]).unwrap().1,
            Some(ReplyError::Truncated)
        );
    }

    #[test]
    fn setup_short_form_before_protocol_6() {
        // Protocol 5: channel values are one byte times the real value multiplier.
        let mut reply = vec![resp::OK, 0];
        reply.extend_from_slice(b"0101KRW");
        reply.extend_from_slice(&[0, 0, 1, 4, 1, 5, 10, 50, 2, 2, 2, 2, 0, 0x03, 0xE8, 5]);
        let s = Setup::parse(&reply).unwrap();
        assert_eq!(s.channels, vec![1_000, 5_000, 10_000, 50_000]);
        assert_eq!((s.protocol, s.country.as_str()), (5, "KRW"));
        assert_eq!(Setup::parse(&reply[..10]), Err(ReplyError::Truncated));
    }

    #[test]
    fn serial_and_counters_wire_layout() {
        assert_eq!(
            parse_serial_number(&[resp::OK, 0x00, 0xC0, 0xFF, 0xEE]),
            Ok(0x00C0_FFEE)
        );
        assert_eq!(parse_serial_number(&[]), Err(ReplyError::Empty));
        assert_eq!(
            parse_serial_number(&[resp::UNKNOWN]),
            Err(ReplyError::Response(resp::UNKNOWN))
        );
        let mut reply = vec![resp::OK, 5];
        for v in [7u32, 0, 0, 0, 0x0102_0304] {
            reply.extend_from_slice(&v.to_le_bytes());
        }
        let c = Counters::parse(&reply).unwrap();
        assert_eq!((c.stacked, c.rejected), (7, 0x0102_0304));
        assert_eq!(c.encode(), reply);
        // A sixth counter is ignored; fewer than five is not enough.
        let mut six = reply.clone();
        six[1] = 6;
        six.extend_from_slice(&[9, 9, 9, 9]);
        assert_eq!(Counters::parse(&six), Ok(c));
        let mut four = vec![resp::OK, 4];
        four.extend_from_slice(&[0; 16]);
        assert_eq!(Counters::parse(&four), Err(ReplyError::Truncated));
    }

    fn event() -> impl Strategy<Value = SspEvent> {
        prop_oneof![
            any::<u8>().prop_map(SspEvent::Read),
            any::<u8>().prop_map(SspEvent::Credit),
            any::<u8>().prop_map(SspEvent::FraudAttempt),
            any::<u8>().prop_map(SspEvent::ClearedFromFront),
            any::<u8>().prop_map(SspEvent::ClearedIntoCashbox),
            Just(SspEvent::Rejecting),
            Just(SspEvent::Rejected),
            Just(SspEvent::Stacking),
            Just(SspEvent::Stacked),
            Just(SspEvent::SafeJam),
            Just(SspEvent::UnsafeJam),
            Just(SspEvent::Disabled),
            Just(SspEvent::StackerFull),
            Just(SspEvent::CashboxRemoved),
            Just(SspEvent::CashboxReplaced),
            Just(SspEvent::SlaveReset),
            Just(SspEvent::ChannelDisable),
        ]
    }

    proptest! {
        #[test]
        fn packets_round_trip(seq in any::<bool>(), id in 0u8..=0x7F,
                              data in proptest::collection::vec(any::<u8>(), 0..=MAX_DATA),
                              noise in proptest::collection::vec(any::<u8>(), 0..20)) {
            let p = Packet { seq, id, data };
            let bytes = encode(&p).unwrap();
            let mut d = PacketDecoder::new();
            // Noise without STX before the packet is skipped.
            let noise: Vec<u8> = noise.into_iter().filter(|&b| b != STX).collect();
            let mut got = d.push_all(&noise);
            got.extend(d.push_all(&bytes));
            prop_assert_eq!(got, vec![SspDecoded::Packet(p)]);
            prop_assert_eq!(d.take_garbage(), noise.len());
        }

        #[test]
        fn poll_events_round_trip(events in proptest::collection::vec(event(), 0..12)) {
            let (got, err) = parse_poll(&encode_poll(&events)).unwrap();
            prop_assert_eq!(err, None);
            prop_assert_eq!(got, events);
        }

        #[test]
        fn setup_round_trips(protocol in 6u8..10,
                             channels in proptest::collection::vec(any::<u32>(), 0..16)) {
            let s = Setup { unit_type: 0, firmware: "0101".into(), country: "KRW".into(), protocol, channels };
            prop_assert_eq!(Setup::parse(&s.encode()).unwrap(), s);
        }

        #[test]
        fn serial_numbers_round_trip(serial in any::<u32>()) {
            let reply = encode_serial_number(serial);
            prop_assert_eq!(reply.len(), 5);
            prop_assert_eq!(parse_serial_number(&reply), Ok(serial));
            prop_assert_eq!(parse_serial_number(&reply[..4]), Err(ReplyError::Truncated));
        }

        #[test]
        fn counters_round_trip(stacked in any::<u32>(), stored in any::<u32>(),
                               dispensed in any::<u32>(), transferred_to_stack in any::<u32>(),
                               rejected in any::<u32>()) {
            let c = Counters { stacked, stored, dispensed, transferred_to_stack, rejected };
            let reply = c.encode();
            prop_assert_eq!(reply.len(), 2 + 4 * 5);
            prop_assert_eq!(Counters::parse(&reply), Ok(c));
            prop_assert_eq!(Counters::parse(&reply[..reply.len() - 1]), Err(ReplyError::Truncated));
        }

        #[test]
        fn serial_and_counter_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_serial_number(&bytes);
            let _ = Counters::parse(&bytes);
            let mut ok = vec![resp::OK];
            ok.extend_from_slice(&bytes);
            let _ = parse_serial_number(&ok);
            let _ = Counters::parse(&ok);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut d = PacketDecoder::new();
            for item in d.push_all(&bytes) {
                if let SspDecoded::Packet(p) = item {
                    let _ = parse_poll(&p.data);
                    let _ = Setup::parse(&p.data);
                    let _ = parse_serial_number(&p.data);
                    let _ = Counters::parse(&p.data);
                }
            }
            let _ = parse_poll(&bytes);
            let _ = Setup::parse(&bytes);
            let _ = parse_serial_number(&bytes);
            let _ = Counters::parse(&bytes);
        }
    }
}
