//! Money and paper as integers.
//!
//! Every amount a kiosk handles is a whole number of won or of sheets. Floats never appear:
//! a rounding error in a cash machine is a lost coin. All arithmetic is checked, so an
//! overflow is an error the caller must handle rather than a silent wrap.

use core::fmt;
use serde::{Deserialize, Serialize};

/// An amount of Korean won (원). Non-negative; the won has no minor unit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Won(u64);

impl Won {
    /// Nothing: a free document, an empty credit.
    pub const ZERO: Won = Won(0);

    /// An amount of won.
    pub const fn new(won: u64) -> Won {
        Won(won)
    }

    /// The amount as a plain integer, for storage and wire formats.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whether this is zero won.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Sum, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, other: Won) -> Option<Won> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Won(v)),
            None => None,
        }
    }

    /// Difference, or `None` when `other` is larger (money cannot go negative).
    #[must_use]
    pub const fn checked_sub(self, other: Won) -> Option<Won> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Won(v)),
            None => None,
        }
    }

    /// `self × n` (a fee per copy, per page), or `None` on overflow.
    #[must_use]
    pub const fn checked_mul(self, n: u64) -> Option<Won> {
        match self.0.checked_mul(n) {
            Some(v) => Some(Won(v)),
            None => None,
        }
    }

    /// `self - other`, floored at zero: what is still due after a credit.
    #[must_use]
    pub const fn saturating_sub(self, other: Won) -> Won {
        Won(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Won {
    /// Formats as a Korean receipt does: `1,500원`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_grouped(f, self.0)?;
        f.write_str("원")
    }
}

/// A number of A4 sheets of security paper (용지). The paper is controlled stock, counted
/// like money in the paper ledger (수불부).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Sheets(u32);

impl Sheets {
    /// No sheets.
    pub const ZERO: Sheets = Sheets(0);

    /// A number of sheets.
    pub const fn new(sheets: u32) -> Sheets {
        Sheets(sheets)
    }

    /// The count as a plain integer.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether this is zero sheets.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Sum, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, other: Sheets) -> Option<Sheets> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Sheets(v)),
            None => None,
        }
    }

    /// Difference, or `None` when `other` is larger.
    #[must_use]
    pub const fn checked_sub(self, other: Sheets) -> Option<Sheets> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Sheets(v)),
            None => None,
        }
    }

    /// `self × n` (pages per copy times copies), or `None` on overflow.
    #[must_use]
    pub const fn checked_mul(self, n: u32) -> Option<Sheets> {
        match self.0.checked_mul(n) {
            Some(v) => Some(Sheets(v)),
            None => None,
        }
    }
}

impl fmt::Display for Sheets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_grouped(f, u64::from(self.0))?;
        f.write_str("매")
    }
}

fn write_grouped(f: &mut fmt::Formatter<'_>, v: u64) -> fmt::Result {
    // u64::MAX has 20 digits; group from the left with a leading partial group.
    let mut digits = [0u8; 20];
    let mut n = v;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in (0..len).rev() {
        write!(f, "{}", char::from(digits[i]))?;
        if i > 0 && i % 3 == 0 {
            f.write_str(",")?;
        }
    }
    Ok(())
}

/// A Korean coin the acceptor takes and the hoppers pay out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Coin {
    /// 10원
    W10,
    /// 50원
    W50,
    /// 100원
    W100,
    /// 500원
    W500,
}

impl Coin {
    /// Every coin, smallest first.
    pub const ALL: [Coin; 4] = [Coin::W10, Coin::W50, Coin::W100, Coin::W500];

    /// The coin's face value.
    pub const fn value(self) -> Won {
        Won(match self {
            Coin::W10 => 10,
            Coin::W50 => 50,
            Coin::W100 => 100,
            Coin::W500 => 500,
        })
    }

    /// The coin of this face value, if there is one.
    pub const fn from_value(won: Won) -> Option<Coin> {
        match won.0 {
            10 => Some(Coin::W10),
            50 => Some(Coin::W50),
            100 => Some(Coin::W100),
            500 => Some(Coin::W500),
            _ => None,
        }
    }
}

/// A Korean banknote the bill validator takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Note {
    /// 1,000원
    W1000,
    /// 5,000원
    W5000,
    /// 10,000원
    W10000,
    /// 50,000원
    W50000,
}

impl Note {
    /// Every note, smallest first.
    pub const ALL: [Note; 4] = [Note::W1000, Note::W5000, Note::W10000, Note::W50000];

    /// The note's face value.
    pub const fn value(self) -> Won {
        Won(match self {
            Note::W1000 => 1_000,
            Note::W5000 => 5_000,
            Note::W10000 => 10_000,
            Note::W50000 => 50_000,
        })
    }

    /// The note of this face value, if there is one.
    pub const fn from_value(won: Won) -> Option<Note> {
        match won.0 {
            1_000 => Some(Note::W1000),
            5_000 => Some(Note::W5000),
            10_000 => Some(Note::W10000),
            50_000 => Some(Note::W50000),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn won_arithmetic_is_checked() {
        assert_eq!(
            Won::new(200).checked_add(Won::new(300)),
            Some(Won::new(500))
        );
        assert_eq!(Won::new(u64::MAX).checked_add(Won::new(1)), None);
        assert_eq!(Won::new(100).checked_sub(Won::new(101)), None);
        assert_eq!(Won::new(100).checked_mul(3), Some(Won::new(300)));
        assert_eq!(Won::new(u64::MAX).checked_mul(2), None);
        assert_eq!(Won::new(100).saturating_sub(Won::new(500)), Won::ZERO);
    }

    #[test]
    fn sheets_arithmetic_is_checked() {
        assert_eq!(
            Sheets::new(2).checked_add(Sheets::new(3)),
            Some(Sheets::new(5))
        );
        assert_eq!(Sheets::new(u32::MAX).checked_add(Sheets::new(1)), None);
        assert_eq!(Sheets::new(1).checked_sub(Sheets::new(2)), None);
        assert_eq!(Sheets::new(3).checked_mul(4), Some(Sheets::new(12)));
    }

    #[test]
    fn display_groups_thousands() {
        assert_eq!(Won::new(0).to_string(), "0원");
        assert_eq!(Won::new(500).to_string(), "500원");
        assert_eq!(Won::new(1_000).to_string(), "1,000원");
        assert_eq!(Won::new(128_110_000).to_string(), "128,110,000원");
        assert_eq!(
            Won::new(u64::MAX).to_string(),
            "18,446,744,073,709,551,615원"
        );
        assert_eq!(Sheets::new(1_500).to_string(), "1,500매");
    }

    #[test]
    fn denominations_round_trip_through_value() {
        for c in Coin::ALL {
            assert_eq!(Coin::from_value(c.value()), Some(c));
        }
        for n in Note::ALL {
            assert_eq!(Note::from_value(n.value()), Some(n));
        }
        assert_eq!(Coin::from_value(Won::new(1_000)), None);
        assert_eq!(Note::from_value(Won::new(500)), None);
    }
}
