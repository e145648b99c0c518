//! kiosk-daemon: the program that runs each kiosk.
//!
//! The shell around kiosk-core's session machine: it reads `config/kiosk.toml`, settles
//! what a crash left behind, starts the device drivers and the e-government client, and
//! runs the orchestrator ([`kiosk::Kiosk`]) that turns citizens' touches and devices'
//! events into ledger entries, device commands and network calls. The touchscreen talks
//! to it over the local API ([`api`]) on 127.0.0.1 only.

pub mod api;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod doubles;
pub mod hardware;
pub mod heads;
pub mod keys;
pub mod kiosk;
pub mod metrics;
pub mod net;
pub mod ports;
pub mod recovery;
pub mod schedule;
pub mod secrets;
pub mod selfcheck;
pub mod simulation;
pub mod stack;
pub mod view;
