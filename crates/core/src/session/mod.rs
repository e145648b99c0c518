//! The issuing session: one citizen's visit, as a pure state machine.
//!
//! ```text
//! Idle -> Selecting -> Identifying* -> Fetching -> AwaitingPayment -> Printing -> PayingChange -> Done
//!            \______________\______________\______________\
//!                         Refunding -> Canceled
//! ```
//! (* only when a document in the basket needs identity proof; a free basket skips
//! `AwaitingPayment`.)
//!
//! [`Session::handle`] takes one [`Event`] and returns the [`Command`]s the daemon must carry
//! out, or [`Rejected`] when the event is not valid now, in which case nothing changed. The
//! session does no I/O, reads no clock (time arrives as [`Event::Tick`]) and draws no random
//! numbers, so every path is testable and a session can be replayed from its events.
//!
//! Money is the exception to "invalid events are refused": a coin credited or a note in
//! escrow is booked in every state, because the device has it. Outside `AwaitingPayment`
//! a note is handed back; a coin counts toward the fee if the session is still going to
//! charge one (before or during printing) and is paid back otherwise.
//!
//! Every movement of money or paper leaves as a [`Command::Book`] (a [`crate::Transfer`]),
//! with the note in escrow as a pending transfer that is posted when stacked and voided when
//! returned. The session's own figure of the citizen's credit always equals the balance of
//! `SessionCredit` that those bookings produce.

mod change;
mod machine;
mod types;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use change::{CoinCounts, Hoppers, make_change, plan_payout};
pub use machine::{BasketLine, Session, State};
pub use types::{
    Command, CounterReason, DocRequest, EndReason, EscrowKey, Event, FetchFailure, FetchedDoc,
    Guidance, Outage, PrintFault, Receipt, ReceiptLine, Refusal, Rejected, Resources, ReturnReason,
    SessionConfig,
};
