//! The kiosk's domain, as plain data and pure functions.
//!
//! Nothing in this crate performs I/O or reads a clock: money, paper, the chart of
//! accounts and the issuing session's state machine are decided here and executed by the
//! daemon, so every decision can be tested exhaustively and replayed deterministically.

pub mod accounts;
pub mod ids;
pub mod money;
pub mod session;

pub use accounts::{Account, Transfer, TransferCode, TransferError, Unit};
pub use ids::{DeviceKey, DocCode, IdError, IssueNumber, SessionId};
pub use money::{Coin, Note, Sheets, Won};
pub use session::{
    Command, DocRequest, Event, FetchedDoc, Hoppers, Rejected, Resources, Session, SessionConfig,
    State, make_change, plan_payout,
};
