//! Simulators of the device side, speaking the real bytes over one end of a pty pair.
//!
//! Each simulator runs in its own thread and is steered through a handle: typed methods for
//! tests, and [`SimCommand`] (serde, JSON-friendly) for the `kiosk-sim` binary to expose
//! over a socket. Line faults ([`LineFault`]) garble, drop or delay the device's replies.

pub mod cctalk;
pub mod receipt_printer;
pub mod validator;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cctalk::{CoinAcceptorSim, CoinAcceptorState, HopperSim, HopperSimState};
pub use receipt_printer::{ReceiptPrinterSim, ReceiptPrinterSimState};
pub use validator::{ValidatorSim, ValidatorSimState};

/// A fault on the line, applied to the device's next replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum LineFault {
    /// Send these bytes just before the next reply.
    Garbage {
        /// The noise.
        bytes: Vec<u8>,
    },
    /// Spoil the checksum / CRC of the next `count` replies.
    CorruptReplies {
        /// How many.
        count: u32,
    },
    /// Spoil the checksum / CRC of the next `count` replies to this header (ccTalk) or
    /// command byte (SSP).
    CorruptReplyTo {
        /// Header or command.
        header: u8,
        /// How many.
        count: u32,
    },
    /// Execute but do not answer the next `count` commands.
    DropReplies {
        /// How many.
        count: u32,
    },
    /// Execute but do not answer the next `count` commands with this header (ccTalk) or
    /// command byte (SSP).
    DropReplyTo {
        /// Header or command.
        header: u8,
        /// How many.
        count: u32,
    },
    /// Answer the next `count` commands `ms` milliseconds late.
    DelayReplies {
        /// Delay.
        ms: u64,
        /// How many.
        count: u32,
    },
}

/// A control command for any simulator (each ignores what does not apply to it with
/// [`SimError::Unsupported`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum SimCommand {
    /// Drop a coin of this value (won) into the acceptor.
    InsertCoin {
        /// Won.
        value: u64,
    },
    /// Drop `count` coins at once, between two polls (makes the event counter jump).
    InsertCoins {
        /// Won.
        value: u64,
        /// Coins.
        count: u32,
    },
    /// Feed a note of this value (won) into the validator.
    InsertNote {
        /// Won.
        value: u64,
    },
    /// The next note that stacks is pulled back by the citizen (fraud).
    PullBackNextNote,
    /// The acceptor reports this error code as an event.
    ErrorCode {
        /// ccTalk error code.
        code: u8,
    },
    /// Jam the device.
    Jam,
    /// Clear a jam.
    ClearJam,
    /// The hopper's coins are gone.
    EmptyHopper,
    /// Load the hopper to `coins`.
    RefillHopper {
        /// Coins now in it.
        coins: u32,
    },
    /// Set the hopper's opto-fraud bit, or make the validator report a fraud attempt.
    Fraud,
    /// Fill the validator's stacker.
    FillStacker,
    /// Empty the validator's stacker.
    EmptyStacker,
    /// Take the cashbox out.
    RemoveCashbox,
    /// Put the cashbox back.
    ReplaceCashbox,
    /// Power-cycle the device.
    Reset,
    /// Open the receipt printer's cover.
    OpenCover,
    /// Close the receipt printer's cover.
    CloseCover,
    /// The receipt roll is nearly used up.
    PaperNearEnd,
    /// The receipt roll is used up.
    PaperEnd,
    /// Staff loaded a new receipt roll.
    LoadPaper,
    /// The receipt printer reports an error (cutter, head).
    PrinterError,
    /// The receipt printer's error is cleared.
    ClearPrinterError,
    /// A line fault.
    Line {
        /// The fault.
        fault: LineFault,
    },
}

/// A control command that does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// This simulator has nothing to do with the command.
    #[error("command not supported by this simulator")]
    Unsupported,
    /// The value is not one this device takes.
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The pseudo-terminal could not be made.
    #[error("{0}")]
    Link(String),
}

/// What the line does to the next reply.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReplyPlan {
    pub garbage: Vec<u8>,
    pub corrupt: bool,
    pub drop: bool,
    pub delay: Option<Duration>,
}

/// Pending line faults.
#[derive(Debug, Default)]
pub(crate) struct LineFaults {
    garbage: VecDeque<Vec<u8>>,
    corrupt: u32,
    drop: u32,
    drop_to: Vec<(u8, u32)>,
    corrupt_to: Vec<(u8, u32)>,
    delay: Option<(u64, u32)>,
}

impl LineFaults {
    pub(crate) fn add(&mut self, f: LineFault) {
        match f {
            LineFault::Garbage { bytes } => self.garbage.push_back(bytes),
            LineFault::CorruptReplies { count } => self.corrupt += count,
            LineFault::CorruptReplyTo { header, count } => self.corrupt_to.push((header, count)),
            LineFault::DropReplies { count } => self.drop += count,
            LineFault::DropReplyTo { header, count } => self.drop_to.push((header, count)),
            LineFault::DelayReplies { ms, count } => self.delay = Some((ms, count)),
        }
    }

    pub(crate) fn plan(&mut self, header: u8) -> ReplyPlan {
        let mut p = ReplyPlan {
            garbage: self.garbage.pop_front().unwrap_or_default(),
            ..ReplyPlan::default()
        };
        if self.corrupt > 0 {
            self.corrupt -= 1;
            p.corrupt = true;
        }
        if self.drop > 0 {
            self.drop -= 1;
            p.drop = true;
        }
        if let Some(e) = self
            .drop_to
            .iter_mut()
            .find(|(h, n)| *h == header && *n > 0)
        {
            e.1 -= 1;
            p.drop = true;
        }
        self.drop_to.retain(|(_, n)| *n > 0);
        if let Some(e) = self
            .corrupt_to
            .iter_mut()
            .find(|(h, n)| *h == header && *n > 0)
        {
            e.1 -= 1;
            p.corrupt = true;
        }
        self.corrupt_to.retain(|(_, n)| *n > 0);
        if let Some((ms, n)) = self.delay {
            p.delay = Some(Duration::from_millis(ms));
            self.delay = if n > 1 { Some((ms, n - 1)) } else { None };
        }
        p
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The thread of a running simulator; stops it when dropped.
#[derive(Debug)]
pub(crate) struct Runner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Runner {
    pub(crate) fn start(f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Runner {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("device-sim".into())
            .spawn(move || f(s))
            .ok();
        Runner { stop, thread }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
