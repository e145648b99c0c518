//! kiosk-egov: the kiosk's client of the e-government network.
//!
//! The real network's protocol is closed; ours is modelled on X-Road: mutual TLS with the
//! network's CA pinned (no system roots), a UUID message id on every request that the
//! caller saves before sending and that a retry reuses, and replies signed by the issuing
//! authority (ed25519) that are verified before anything in them is used.
//!
//! Every call ends in an [`Outcome`]: `Ok`, `Failed` (refused, or never sent) or
//! `Unknown` (sent, then the answer was lost). An unknown outcome is settled later with
//! [`EgovClient::message_status`], never by guessing. Timeouts and retries are bounded;
//! a circuit breaker per back end (agency) and one for the network declare an outage fast,
//! so the kiosk can say so before a citizen pays.
//!
//! Nothing personal is logged: resident numbers, fingerprints and tokens have redacted
//! `Debug` and are wiped from memory when dropped.

mod breaker;
mod client;
mod types;
pub mod wire;

pub use breaker::{Breaker, BreakerConfig, BreakerState};
pub use client::{ConfigError, EgovClient, EgovConfig, Health};
pub use types::{
    CancelReason, Evidence, Failure, FetchRequest, FetchedDocument, FingerprintTemplate,
    IdentityToken, MessageId, MessageStatus, Outcome, ResidentNumber, Subject,
};
