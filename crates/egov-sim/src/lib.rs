//! egov-sim: the other side of the e-government network, for tests and the demo.
//!
//! A mutual-TLS server (client certificates from its CA required) that answers the
//! kiosk-egov wire protocol with replies signed by a test authority key, from a seeded
//! synthetic population. Fault modes switch at run time on a plain-HTTP admin port on
//! 127.0.0.1: down, slow, 5xx, malformed, bad signature, timeout after the work was done,
//! truncated reply, each for the whole network or one agency. Every message id it
//! answered is remembered: a repeated id gets the same reply (nothing done twice), and
//! `message-status` tells what became of any id.

pub mod certs;
pub mod population;
mod server;

pub use server::{Fault, SimConfig, SimHandle, serve};
