//! Devices of the kiosk: the ccTalk coin acceptor and hoppers, the SSP bill validator, the
//! ESC/POS receipt printer and the IPP A4 printer, with simulators of the device side that
//! speak the same bytes.
//!
//! - [`api`]: the XFS4IoT-style device model every driver follows (acknowledged commands,
//!   execute and unsolicited events, exactly one completion, cash-unit counts).
//! - [`cctalk`], [`ssp`], [`escpos`]: pure codecs and the drivers built on them (the
//!   receipt printer speaks ESC/POS).
//! - [`ipp`]: the A4 document printer over IPP.
//! - [`sim`]: device simulators over pseudo-terminals, with a serde control interface.
//! - [`link`]: the serial port under all of them.

pub mod api;
pub mod cctalk;
pub mod escpos;
pub mod ioboard;
pub mod ipp;
pub mod link;
pub mod sim;
pub mod ssp;
