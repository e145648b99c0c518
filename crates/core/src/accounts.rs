//! The chart of accounts and the transfers booked between them.
//!
//! The ledger is double-entry in two units, won and sheets. Every movement of a coin, a
//! note or a sheet of paper is one [`Transfer`] from a credit account to a debit account of
//! the same unit, so the sum of all balances in each unit is always zero, and "where did
//! this coin go" always has an answer.
//!
//! Balances are signed, debit-positive: an asset such as a hopper holds a positive
//! balance; a liability such as the citizen's session credit holds a negative one.

use crate::ids::{DocCode, IdError};
use crate::money::{Coin, Note};
use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};

/// The unit an account counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Korean won.
    Krw,
    /// Sheets of A4 security paper.
    Sheets,
}

impl Unit {
    /// The unit's stable name in storage and exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Krw => "krw",
            Unit::Sheets => "sheets",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Unit {
    type Err = AccountError;
    fn from_str(s: &str) -> Result<Unit, AccountError> {
        match s {
            "krw" => Ok(Unit::Krw),
            "sheets" => Ok(Unit::Sheets),
            _ => Err(AccountError::Unknown(s.to_owned())),
        }
    }
}

/// An account of the kiosk's chart of accounts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    /// Coins of one denomination in its change hopper (호퍼), available to pay change.
    Hopper(Coin),
    /// Coins routed past the hoppers into the locked coin box (동전함).
    Cashbox,
    /// Notes of one denomination in the bill stacker's cash box (지폐함).
    Stacker(Note),
    /// A note held in the validator's escrow, not yet the kiosk's.
    Escrow,
    /// What the kiosk owes the citizen at the touchscreen now: credit inserted, not yet
    /// spent, paid back or owed.
    SessionCredit,
    /// Fee revenue (수수료 수입) earned by one document type.
    Revenue(DocCode),
    /// Refunds owed to citizens (IOUs) that the kiosk could not pay out.
    RefundsOwed,
    /// Blank security paper in the A4 printer's tray (용지함).
    PaperTray,
    /// Sheets that left the kiosk as issued certificates.
    Printed,
    /// Sheets spoiled by a jam or a failed print (훼손 용지).
    Spoiled,
    /// The district's controlled paper stock outside the kiosk (수불부 재고).
    DistrictStock,
    /// The district's safe: cash collected from, or coin float given to, the kiosk.
    DistrictSafe,
    /// Differences between the books and a physical count entered by staff (과부족).
    Discrepancy(Unit),
    /// Money the machine physically took that no session can claim (coins whose events
    /// fell out of the acceptor's buffer, a note stacked with no booking to match): booked
    /// here, never dropped, and cleared by staff after a count (가수금).
    Suspense,
}

impl Account {
    /// The unit this account counts in.
    pub fn unit(&self) -> Unit {
        match self {
            Account::PaperTray | Account::Printed | Account::Spoiled | Account::DistrictStock => {
                Unit::Sheets
            }
            Account::Discrepancy(u) => *u,
            _ => Unit::Krw,
        }
    }

    /// Every fixed account (all but the per-document revenue accounts), for listing
    /// balances and for tests that must cover the whole chart.
    pub fn fixed() -> Vec<Account> {
        let mut v: Vec<Account> = Coin::ALL.iter().map(|&c| Account::Hopper(c)).collect();
        v.push(Account::Cashbox);
        v.extend(Note::ALL.iter().map(|&n| Account::Stacker(n)));
        v.extend([
            Account::Escrow,
            Account::SessionCredit,
            Account::RefundsOwed,
            Account::PaperTray,
            Account::Printed,
            Account::Spoiled,
            Account::DistrictStock,
            Account::DistrictSafe,
            Account::Discrepancy(Unit::Krw),
            Account::Discrepancy(Unit::Sheets),
            Account::Suspense,
        ]);
        v
    }
}

impl fmt::Display for Account {
    /// The stable name used in storage, exports and the district's reconciliation:
    /// `hopper:500`, `stacker:10000`, `revenue:RES-COPY`, `paper:tray`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Hopper(c) => write!(f, "hopper:{}", c.value().get()),
            Account::Cashbox => f.write_str("cashbox"),
            Account::Stacker(n) => write!(f, "stacker:{}", n.value().get()),
            Account::Escrow => f.write_str("escrow"),
            Account::SessionCredit => f.write_str("session-credit"),
            Account::Revenue(code) => write!(f, "revenue:{code}"),
            Account::RefundsOwed => f.write_str("refunds-owed"),
            Account::PaperTray => f.write_str("paper:tray"),
            Account::Printed => f.write_str("paper:printed"),
            Account::Spoiled => f.write_str("paper:spoiled"),
            Account::DistrictStock => f.write_str("paper:district-stock"),
            Account::DistrictSafe => f.write_str("district-safe"),
            Account::Discrepancy(u) => write!(f, "discrepancy:{u}"),
            Account::Suspense => f.write_str("suspense"),
        }
    }
}

/// Why an account name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// Not a name of the chart of accounts.
    #[error("unknown account {0:?}")]
    Unknown(String),
    /// A revenue account whose document code is invalid.
    #[error("bad revenue account: {0}")]
    BadCode(#[from] IdError),
}

impl FromStr for Account {
    type Err = AccountError;
    fn from_str(s: &str) -> Result<Account, AccountError> {
        let unknown = || AccountError::Unknown(s.to_owned());
        let won = |v: &str| {
            v.parse::<u64>()
                .map(crate::money::Won::new)
                .map_err(|_| unknown())
        };
        Ok(match s {
            "cashbox" => Account::Cashbox,
            "escrow" => Account::Escrow,
            "session-credit" => Account::SessionCredit,
            "refunds-owed" => Account::RefundsOwed,
            "paper:tray" => Account::PaperTray,
            "paper:printed" => Account::Printed,
            "paper:spoiled" => Account::Spoiled,
            "paper:district-stock" => Account::DistrictStock,
            "district-safe" => Account::DistrictSafe,
            "suspense" => Account::Suspense,
            _ => {
                if let Some(v) = s.strip_prefix("hopper:") {
                    Account::Hopper(Coin::from_value(won(v)?).ok_or_else(unknown)?)
                } else if let Some(v) = s.strip_prefix("stacker:") {
                    Account::Stacker(Note::from_value(won(v)?).ok_or_else(unknown)?)
                } else if let Some(v) = s.strip_prefix("revenue:") {
                    Account::Revenue(DocCode::new(v)?)
                } else if let Some(v) = s.strip_prefix("discrepancy:") {
                    Account::Discrepancy(v.parse()?)
                } else {
                    return Err(unknown());
                }
            }
        })
    }
}

impl Serialize for Account {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Account {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Account, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a money or paper movement happened. Stored with every journal entry so that the
/// district can reconcile by cause (fees, change, refunds, paper use) and not only by
/// account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferCode {
    /// A coin accepted and credited to the citizen.
    CoinInserted,
    /// A note accepted into escrow (a pending transfer).
    NoteEscrowed,
    /// An escrowed note stacked: the kiosk now holds it.
    NoteStacked,
    /// A document's fee earned.
    Fee,
    /// Change paid out by a hopper.
    ChangePaid,
    /// Credit paid back to a citizen (cancel, failed print).
    Refund,
    /// Credit the hoppers could not pay, owed to the citizen on an IOU.
    RefundOwed,
    /// An IOU settled by staff at the counter.
    RefundSettled,
    /// A sheet printed as part of an issued document.
    SheetPrinted,
    /// A sheet spoiled by a jam or a failed print.
    SheetSpoiled,
    /// Paper loaded into the tray by staff (용지 보충).
    PaperLoaded,
    /// Paper taken back out of the tray by staff.
    PaperUnloaded,
    /// Coins put into a hopper by staff or the contractor (동전 보충).
    CoinRefill,
    /// Cash collected from the kiosk by staff (현금 회수).
    CashCollected,
    /// A physical count differed from the books; the difference is booked, never edited.
    CountDiscrepancy,
    /// Money the machine took that no session can claim, booked to suspense for staff.
    Unexplained,
}

impl TransferCode {
    /// The stable name used in storage and exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            TransferCode::CoinInserted => "coin-inserted",
            TransferCode::NoteEscrowed => "note-escrowed",
            TransferCode::NoteStacked => "note-stacked",
            TransferCode::Fee => "fee",
            TransferCode::ChangePaid => "change-paid",
            TransferCode::Refund => "refund",
            TransferCode::RefundOwed => "refund-owed",
            TransferCode::RefundSettled => "refund-settled",
            TransferCode::SheetPrinted => "sheet-printed",
            TransferCode::SheetSpoiled => "sheet-spoiled",
            TransferCode::PaperLoaded => "paper-loaded",
            TransferCode::PaperUnloaded => "paper-unloaded",
            TransferCode::CoinRefill => "coin-refill",
            TransferCode::CashCollected => "cash-collected",
            TransferCode::CountDiscrepancy => "count-discrepancy",
            TransferCode::Unexplained => "unexplained",
        }
    }

    /// Every code, for exhaustive tests and parsing.
    pub const ALL: [TransferCode; 16] = [
        TransferCode::CoinInserted,
        TransferCode::NoteEscrowed,
        TransferCode::NoteStacked,
        TransferCode::Fee,
        TransferCode::ChangePaid,
        TransferCode::Refund,
        TransferCode::RefundOwed,
        TransferCode::RefundSettled,
        TransferCode::SheetPrinted,
        TransferCode::SheetSpoiled,
        TransferCode::PaperLoaded,
        TransferCode::PaperUnloaded,
        TransferCode::CoinRefill,
        TransferCode::CashCollected,
        TransferCode::CountDiscrepancy,
        TransferCode::Unexplained,
    ];
}

impl FromStr for TransferCode {
    type Err = AccountError;
    fn from_str(s: &str) -> Result<TransferCode, AccountError> {
        TransferCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| AccountError::Unknown(s.to_owned()))
    }
}

/// Why a transfer was refused before it reached the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// Debit and credit count in different units (won against sheets).
    #[error("cannot move {debit_unit} into {credit_unit}: {debit} <- {credit}")]
    UnitMismatch {
        /// The debit account.
        debit: String,
        /// Its unit.
        debit_unit: Unit,
        /// The credit account.
        credit: String,
        /// Its unit.
        credit_unit: Unit,
    },
    /// Debit and credit are the same account.
    #[error("transfer from {0} to itself")]
    SameAccount(String),
    /// A transfer of nothing: a zero amount is never a movement.
    #[error("transfer of zero")]
    Zero,
    /// The amount does not fit the ledger's signed 64-bit balances.
    #[error("amount {0} exceeds the ledger's range")]
    TooLarge(u64),
}

/// One movement of an amount from `credit` to `debit`, in the accounts' common unit.
///
/// Construct with [`Transfer::new`], which refuses transfers that could never balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    debit: Account,
    credit: Account,
    amount: u64,
    code: TransferCode,
}

impl Transfer {
    /// A movement of `amount` (won or sheets, by the accounts' unit) into `debit` out of
    /// `credit`, for the reason `code`.
    pub fn new(
        debit: Account,
        credit: Account,
        amount: u64,
        code: TransferCode,
    ) -> Result<Transfer, TransferError> {
        if debit.unit() != credit.unit() {
            return Err(TransferError::UnitMismatch {
                debit_unit: debit.unit(),
                credit_unit: credit.unit(),
                debit: debit.to_string(),
                credit: credit.to_string(),
            });
        }
        if debit == credit {
            return Err(TransferError::SameAccount(debit.to_string()));
        }
        if amount == 0 {
            return Err(TransferError::Zero);
        }
        if i64::try_from(amount).is_err() {
            return Err(TransferError::TooLarge(amount));
        }
        Ok(Transfer {
            debit,
            credit,
            amount,
            code,
        })
    }

    /// The account that receives the amount.
    pub fn debit(&self) -> &Account {
        &self.debit
    }

    /// The account the amount leaves.
    pub fn credit(&self) -> &Account {
        &self.credit
    }

    /// The amount, in [`Transfer::unit`].
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// The unit of both accounts.
    pub fn unit(&self) -> Unit {
        self.debit.unit()
    }

    /// Why the movement happened.
    pub fn code(&self) -> TransferCode {
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_account_name_round_trips() {
        let mut all = Account::fixed();
        all.push(Account::Revenue(DocCode::new("RES-COPY").unwrap()));
        for a in all {
            let name = a.to_string();
            assert_eq!(name.parse::<Account>().unwrap(), a, "{name}");
        }
    }

    #[test]
    fn bad_account_names_are_refused() {
        for bad in [
            "",
            "hopper:20",
            "hopper:x",
            "stacker:500",
            "revenue:bad code",
            "vault",
        ] {
            assert!(bad.parse::<Account>().is_err(), "{bad}");
        }
    }

    #[test]
    fn transfer_codes_round_trip() {
        for c in TransferCode::ALL {
            assert_eq!(c.as_str().parse::<TransferCode>().unwrap(), c);
        }
    }

    #[test]
    fn transfers_that_cannot_balance_are_refused() {
        let fee = TransferCode::Fee;
        assert!(matches!(
            Transfer::new(Account::PaperTray, Account::SessionCredit, 1, fee),
            Err(TransferError::UnitMismatch { .. })
        ));
        assert_eq!(
            Transfer::new(Account::Escrow, Account::Escrow, 1, fee),
            Err(TransferError::SameAccount("escrow".into()))
        );
        assert_eq!(
            Transfer::new(Account::Escrow, Account::SessionCredit, 0, fee),
            Err(TransferError::Zero)
        );
        assert_eq!(
            Transfer::new(Account::Escrow, Account::SessionCredit, u64::MAX, fee),
            Err(TransferError::TooLarge(u64::MAX))
        );
        let t = Transfer::new(
            Account::Hopper(Coin::W100),
            Account::SessionCredit,
            100,
            fee,
        )
        .unwrap();
        assert_eq!(t.unit(), Unit::Krw);
        assert_eq!(t.amount(), 100);
    }
}
