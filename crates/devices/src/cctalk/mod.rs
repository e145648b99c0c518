//! ccTalk: the coin acceptor and the hoppers.
//!
//! [`frame`] is the pure codec, [`bus`] the host side of one transaction on a port,
//! [`acceptor`] and [`hopper`] the drivers. The parsers in this module turn reply data into
//! typed values and never panic.

pub mod acceptor;
pub mod bus;
pub mod frame;
pub mod hopper;

use kiosk_core::{Coin, Won};
use serde::{Deserialize, Serialize};

/// ccTalk command headers used here.
pub mod header {
    /// Reply: acknowledge.
    pub const ACK: u8 = 0;
    /// Reset device.
    pub const RESET: u8 = 1;
    /// Reply: negative acknowledge.
    pub const NAK: u8 = 5;
    /// Reply: busy.
    pub const BUSY: u8 = 6;
    /// Test hopper (fault register).
    pub const TEST_HOPPER: u8 = 163;
    /// Enable hopper (data 0xA5).
    pub const ENABLE_HOPPER: u8 = 164;
    /// Request hopper status.
    pub const HOPPER_STATUS: u8 = 166;
    /// Dispense hopper coins.
    pub const DISPENSE: u8 = 167;
    /// Emergency stop.
    pub const EMERGENCY_STOP: u8 = 172;
    /// Request coin id.
    pub const COIN_ID: u8 = 184;
    /// Request payout high / low status.
    pub const LEVEL_STATUS: u8 = 217;
    /// Modify master inhibit.
    pub const MASTER_INHIBIT: u8 = 228;
    /// Read buffered credit or error codes.
    pub const BUFFERED_CREDIT: u8 = 229;
    /// Modify inhibit status.
    pub const INHIBITS: u8 = 231;
    /// Request serial number.
    pub const SERIAL: u8 = 242;
    /// Request product code.
    pub const PRODUCT: u8 = 244;
    /// Request equipment category id.
    pub const CATEGORY: u8 = 245;
    /// Request manufacturer id.
    pub const MANUFACTURER: u8 = 246;
    /// Simple poll.
    pub const SIMPLE_POLL: u8 = 254;
}

/// Why reply data does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The reply has the wrong number of data bytes.
    #[error("reply to header {header} has {got} data bytes, expected {want}")]
    Length {
        /// The command.
        header: u8,
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
}

fn exact<const N: usize>(header: u8, data: &[u8]) -> Result<[u8; N], ParseError> {
    data.try_into().map_err(|_| ParseError::Length {
        header,
        got: data.len(),
        want: N,
    })
}

/// The next event counter after `c`: 1..=255, wrapping 255 -> 1 (0 only after a reset).
pub fn next_counter(c: u8) -> u8 {
    if c == 255 { 1 } else { c + 1 }
}

/// The counter `steps` events before counter `c` (`c` non-zero), wrapping 1 -> 255: event
/// `i` of a buffered-credit reply with counter `c` has counter `counter_before(c, i)`. That
/// value is the event's own number, the key the daemon books a coin under, so it follows the
/// device's numbering exactly (0 never appears: it only means "reset, no events yet").
pub fn counter_before(c: u8, steps: u8) -> u8 {
    (0..steps).fold(c, |c, _| if c <= 1 { 255 } else { c - 1 })
}

/// How many events happened going from counter `from` to counter `to` (`to` non-zero).
pub fn counter_distance(from: u8, to: u8) -> u16 {
    let (f, t) = (u16::from(from), u16::from(to));
    if from == 0 || t >= f {
        t.saturating_sub(f)
    } else {
        255 - f + t
    }
}

/// A reply to header 229: the event counter and the last five events, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BufferedCredit {
    /// The event counter.
    pub counter: u8,
    /// `(A, B)` pairs, newest first: A in 1..=16 a coin in position A (B the sorter path),
    /// A = 0 an error with code B.
    pub events: [(u8, u8); 5],
}

impl BufferedCredit {
    /// Parses the 11 data bytes.
    pub fn parse(data: &[u8]) -> Result<BufferedCredit, ParseError> {
        let b: [u8; 11] = exact(header::BUFFERED_CREDIT, data)?;
        let mut events = [(0, 0); 5];
        for (i, e) in events.iter_mut().enumerate() {
            *e = (b[1 + 2 * i], b[2 + 2 * i]);
        }
        Ok(BufferedCredit {
            counter: b[0],
            events,
        })
    }

    /// The 11 data bytes.
    pub fn encode(&self) -> [u8; 11] {
        let mut out = [0u8; 11];
        out[0] = self.counter;
        for (i, (a, b)) in self.events.iter().enumerate() {
            out[1 + 2 * i] = *a;
            out[2 + 2 * i] = *b;
        }
        out
    }
}

/// What an error code of a coin acceptor means to the kiosk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    /// No event (code 0).
    Null,
    /// Tampering: raise an alarm, never credit.
    Fraud,
    /// A sensor is blocked: the coin path is jammed.
    Jam,
    /// The coin was refused and returned (unknown coin, inhibited, ...).
    Rejected,
}

/// Classifies a ccTalk coin acceptor error code.
pub fn classify_error(code: u8) -> ErrorClass {
    match code {
        0 => ErrorClass::Null,
        16 | 17 | 18 | 19 | 20 | 23 | 25 | 29 | 36 | 40 | 254 => ErrorClass::Fraud,
        14 | 15 | 26 | 32 => ErrorClass::Jam,
        _ => ErrorClass::Rejected,
    }
}

/// Parses a coin id such as `KR100A` (country, three-digit value, issue) into a Korean
/// coin. Anything else (another country, an unused position `......`) is `None`.
pub fn parse_coin_id(id: &[u8]) -> Option<Coin> {
    if id.len() != 6 || &id[..2] != b"KR" {
        return None;
    }
    let digits = &id[2..5];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
    Coin::from_value(Won::new(v))
}

/// The coin id a device reports for a Korean coin (`KR010A`, `KR500A`, ...).
pub fn coin_id(coin: Coin) -> [u8; 6] {
    let v = coin.value().get();
    let d = |x: u64| b'0' + (x % 10) as u8;
    [b'K', b'R', d(v / 100), d(v / 10), d(v), b'A']
}

/// A reply to header 166: `[event counter][remaining][paid][unpaid]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HopperStatus {
    /// Dispense event counter (0 after reset, wraps 255 -> 1).
    pub counter: u8,
    /// Coins of the current payout still to pay.
    pub remaining: u8,
    /// Coins paid by the last payout.
    pub paid: u8,
    /// Coins the last payout could not pay.
    pub unpaid: u8,
}

impl HopperStatus {
    /// Parses the four data bytes.
    pub fn parse(data: &[u8]) -> Result<HopperStatus, ParseError> {
        let [counter, remaining, paid, unpaid] = exact(header::HOPPER_STATUS, data)?;
        Ok(HopperStatus {
            counter,
            remaining,
            paid,
            unpaid,
        })
    }

    /// The four data bytes.
    pub fn encode(&self) -> [u8; 4] {
        [self.counter, self.remaining, self.paid, self.unpaid]
    }
}

/// Hopper fault bits from header 163 (status register 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HopperFaults {
    /// The raw register.
    pub bits: u8,
}

impl HopperFaults {
    /// Absolute maximum current exceeded.
    pub const MAX_CURRENT: u8 = 0x01;
    /// Payout timeout: no coin came out (the hopper is empty).
    pub const PAYOUT_TIMEOUT: u8 = 0x02;
    /// Motor reversed to clear a jam.
    pub const JAM: u8 = 0x04;
    /// Opto fraud: path blocked while idle.
    pub const OPTO_FRAUD_BLOCKED: u8 = 0x08;
    /// Opto fraud: short circuit while idle.
    pub const OPTO_FRAUD_SHORT: u8 = 0x10;
    /// Opto blocked permanently during payout (jam).
    pub const OPTO_BLOCKED: u8 = 0x20;
    /// Power-up detected.
    pub const POWER_UP: u8 = 0x40;
    /// Payout disabled.
    pub const DISABLED: u8 = 0x80;

    /// Parses the reply (one to three registers; the first holds these bits).
    pub fn parse(data: &[u8]) -> Result<HopperFaults, ParseError> {
        match data.first() {
            Some(&bits) if data.len() <= 3 => Ok(HopperFaults { bits }),
            _ => Err(ParseError::Length {
                header: header::TEST_HOPPER,
                got: data.len(),
                want: 1,
            }),
        }
    }

    /// No coin came out: empty.
    pub fn empty(self) -> bool {
        self.bits & Self::PAYOUT_TIMEOUT != 0
    }
    /// The coin path is jammed.
    pub fn jammed(self) -> bool {
        self.bits & (Self::JAM | Self::OPTO_BLOCKED | Self::MAX_CURRENT) != 0
    }
    /// Someone tampered with the exit optics.
    pub fn fraud(self) -> bool {
        self.bits & (Self::OPTO_FRAUD_BLOCKED | Self::OPTO_FRAUD_SHORT) != 0
    }
}

/// Level sensors from header 217.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LevelStatus {
    /// Below the low-level sensor (only meaningful if `low_supported`).
    pub low: bool,
    /// At or above the high-level sensor.
    pub high: bool,
    /// A low-level sensor is fitted.
    pub low_supported: bool,
    /// A high-level sensor is fitted.
    pub high_supported: bool,
}

impl LevelStatus {
    /// Parses the one data byte.
    pub fn parse(data: &[u8]) -> Result<LevelStatus, ParseError> {
        let [b] = exact(header::LEVEL_STATUS, data)?;
        Ok(LevelStatus::from_byte(b))
    }

    /// From the register.
    pub fn from_byte(b: u8) -> LevelStatus {
        LevelStatus {
            low: b & 0x01 != 0,
            high: b & 0x02 != 0,
            low_supported: b & 0x10 != 0,
            high_supported: b & 0x20 != 0,
        }
    }

    /// To the register.
    pub fn to_byte(self) -> u8 {
        u8::from(self.low)
            | u8::from(self.high) << 1
            | u8::from(self.low_supported) << 4
            | u8::from(self.high_supported) << 5
    }
}

/// A device's identity, read at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Header 246.
    pub manufacturer: String,
    /// Header 245.
    pub category: String,
    /// Header 244.
    pub product: String,
    /// Header 242, three bytes LSB first.
    pub serial: u32,
}

/// Parses a serial number reply (three bytes, LSB first).
pub fn parse_serial(data: &[u8]) -> Result<u32, ParseError> {
    let [a, b, c] = exact(header::SERIAL, data)?;
    Ok(u32::from_le_bytes([a, b, c, 0]))
}

/// ASCII reply text, with anything not printable replaced.
pub fn ascii(data: &[u8]) -> String {
    data.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counter_wraps_255_to_1() {
        assert_eq!(next_counter(254), 255);
        assert_eq!(next_counter(255), 1);
        assert_eq!(next_counter(0), 1);
        assert_eq!(counter_distance(255, 1), 1);
        assert_eq!(counter_distance(250, 3), 8);
        assert_eq!(counter_distance(0, 4), 4);
        assert_eq!(counter_distance(7, 7), 0);
        assert_eq!(counter_before(9, 0), 9);
        assert_eq!(counter_before(9, 4), 5);
        assert_eq!(counter_before(2, 1), 1);
        assert_eq!(counter_before(2, 2), 255);
        assert_eq!(counter_before(1, 4), 252);
    }

    #[test]
    fn coin_ids_map_to_korean_coins() {
        assert_eq!(parse_coin_id(b"KR100A"), Some(Coin::W100));
        assert_eq!(parse_coin_id(b"KR500B"), Some(Coin::W500));
        assert_eq!(parse_coin_id(b"KR010A"), Some(Coin::W10));
        assert_eq!(parse_coin_id(b"KR200A"), None);
        assert_eq!(parse_coin_id(b"EU100A"), None);
        assert_eq!(parse_coin_id(b"......"), None);
        for c in Coin::ALL {
            assert_eq!(parse_coin_id(&coin_id(c)), Some(c));
        }
    }

    #[test]
    fn fraud_and_jam_codes_are_classified() {
        for c in [16, 17, 18, 19, 20, 23, 25, 29, 36, 40, 254] {
            assert_eq!(classify_error(c), ErrorClass::Fraud, "{c}");
        }
        for c in [14, 15, 26, 32] {
            assert_eq!(classify_error(c), ErrorClass::Jam, "{c}");
        }
        assert_eq!(classify_error(1), ErrorClass::Rejected);
        assert_eq!(classify_error(0), ErrorClass::Null);
    }

    proptest! {
        #[test]
        fn buffered_credit_round_trips(b in proptest::array::uniform11(any::<u8>())) {
            let p = BufferedCredit::parse(&b).unwrap();
            prop_assert_eq!(p.encode(), b);
        }

        #[test]
        fn hopper_status_round_trips(b in proptest::array::uniform4(any::<u8>())) {
            prop_assert_eq!(HopperStatus::parse(&b).unwrap().encode(), b);
        }

        #[test]
        fn counter_before_undoes_next_counter(c in 1u8..=255, steps in 0u8..=5) {
            let back = counter_before(c, steps);
            prop_assert_ne!(back, 0);
            let forward = (0..steps).fold(back, |x, _| next_counter(x));
            prop_assert_eq!(forward, c);
            prop_assert_eq!(counter_distance(back, c), u16::from(steps));
        }

        #[test]
        fn level_round_trips(b in any::<u8>()) {
            let l = LevelStatus::from_byte(b);
            prop_assert_eq!(LevelStatus::from_byte(l.to_byte()), l);
            prop_assert_eq!(LevelStatus::parse(&[b]).unwrap(), l);
        }

        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..20)) {
            let _ = BufferedCredit::parse(&data);
            let _ = HopperStatus::parse(&data);
            let _ = HopperFaults::parse(&data);
            let _ = LevelStatus::parse(&data);
            let _ = parse_serial(&data);
            let _ = parse_coin_id(&data);
            let _ = ascii(&data);
        }
    }
}
