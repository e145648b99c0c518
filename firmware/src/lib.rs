//! I/O-board firmware logic: `no_std`, no allocator, host-testable.
//!
//! - [`Board`] is the pure core: [`Board::step`] takes the time, the sampled inputs and the
//!   received bytes and returns the outputs and the frames to send. It debounces inputs,
//!   queues input-change events (bounded, overflow reported) and MACs each one for the host,
//!   authenticates unlock, watchdog and maintenance commands against a single-use nonce,
//!   answers status requests with a MAC over the host's challenge, limits solenoid on-time,
//!   relocks on door close and on host link loss, resets the host when it misses heartbeats
//!   (not during maintenance), and locks authenticated commands out after repeated bad MACs.
//! - [`Shell`] runs it on embedded-hal 1.0 pins, an embedded-io serial port, a [`Clock`] and
//!   a [`Watchdog`].
#![no_std]

pub mod board;
pub mod config;
pub mod shell;

pub use board::{
    Board, EVENT_QUEUE_CAPACITY, FIRMWARE_VERSION, Outputs, Stats, Step, TX_CAPACITY, TxBuf,
};
pub use config::Config;
pub use shell::{BootCounter, Clock, Pins, PollReport, RX_CHUNK, Shell, Watchdog};
