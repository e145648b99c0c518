//! Money devices of the kiosk: the ccTalk coin acceptor and hoppers and the SSP bill
//! validator, with simulators of the device side that speak the same bytes.
//!
//! - [`api`]: the XFS4IoT-style device model every driver follows (acknowledged commands,
//!   execute and unsolicited events, exactly one completion, cash-unit counts).
//! - [`cctalk`], [`ssp`]: pure codecs and the drivers built on them.
//! - [`sim`]: device simulators over pseudo-terminals, with a serde control interface.
//! - [`link`]: the serial port under all of them.

pub mod api;
pub mod cctalk;
pub mod link;
pub mod sim;
pub mod ssp;
