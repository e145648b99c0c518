//! The thin hardware shell: samples embedded-hal input pins, reads the serial port
//! (embedded-io), calls [`Board::step`], drives the output pins, writes the frames and feeds
//! the hardware watchdog only when the step and every hardware access succeeded.

use embedded_hal::digital::{InputPin, OutputPin};
use embedded_io::{Read, ReadReady, Write};
use kiosk_ioproto::{Input, InputSet, Lock};

use crate::board::{Board, Outputs};

/// Most bytes read from the serial port per loop pass (keeps a step's work bounded).
pub const RX_CHUNK: usize = 64;

/// A monotonic millisecond clock.
pub trait Clock {
    /// Milliseconds since some fixed point; never goes backwards on a sound clock.
    fn now_ms(&mut self) -> u64;
}

/// The board's own hardware watchdog (embedded-hal 1.0 has no watchdog trait).
pub trait Watchdog {
    /// Restarts the watchdog's countdown.
    fn feed(&mut self);
}

/// The count of the board's starts, kept in non-volatile memory (EEPROM, a flash page).
/// The platform calls [`BootCounter::advance`] once at start-up, before building the
/// [`crate::Board`], and builds it only when the new count was stored: a board that cannot
/// store its count must not answer unlock commands, or a stuck random source could repeat
/// an earlier boot's nonces.
pub trait BootCounter {
    /// Why the count could not be read or stored.
    type Error;
    /// Reads the stored count, stores it plus one (saturating) and returns the new count.
    fn advance(&mut self) -> Result<u32, Self::Error>;
}

/// The board's pins. Inputs are in [`Input`] order, locks in [`Lock`] order.
pub struct Pins<I, O> {
    /// Sensor inputs; a pin reads high when the input is active, unless its bit is set in
    /// `active_low`.
    pub inputs: [I; Input::COUNT],
    /// Inputs whose pin reads low when active.
    pub active_low: InputSet,
    /// Lock solenoid drivers; high = energised.
    pub locks: [O; Lock::COUNT],
    /// Host reset relay driver; high = relay closed.
    pub reset_relay: O,
}

/// What one pass of the main loop did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Outputs as driven.
    pub outputs: Outputs,
    /// Whether the hardware watchdog was fed.
    pub fed: bool,
    /// Input pins that failed to read (their last level was used).
    pub input_errors: u8,
    /// Whether driving an output pin failed.
    pub output_error: bool,
    /// Whether the serial port failed.
    pub serial_error: bool,
    /// Bytes received.
    pub rx_bytes: usize,
    /// Bytes sent.
    pub tx_bytes: usize,
}

/// The board with its hardware.
pub struct Shell<I, O, S, C, W> {
    board: Board,
    pins: Pins<I, O>,
    serial: S,
    clock: C,
    watchdog: W,
    raw: InputSet,
    driven: Option<Outputs>,
}

impl<I, O, S, C, W> Shell<I, O, S, C, W>
where
    I: InputPin,
    O: OutputPin,
    S: Read + ReadReady + Write,
    C: Clock,
    W: Watchdog,
{
    /// Wraps the board and its hardware. Touches no hardware until the first
    /// [`Shell::poll`], which drives every output.
    pub fn new(board: Board, pins: Pins<I, O>, serial: S, clock: C, watchdog: W) -> Self {
        Shell {
            board,
            pins,
            serial,
            clock,
            watchdog,
            raw: InputSet::EMPTY,
            driven: None,
        }
    }

    /// One pass of the main loop.
    pub fn poll(&mut self) -> PollReport {
        let mut report = PollReport::default();
        let now = self.clock.now_ms();

        for input in Input::ALL {
            let low_active = self.pins.active_low.contains(input);
            match self.pins.inputs[input.index()].is_high() {
                Ok(high) => self.raw = self.raw.with(input, high != low_active),
                Err(_) => report.input_errors |= 1 << input.index(),
            }
        }

        let mut rx = [0u8; RX_CHUNK];
        let rx_len = match self.serial.read_ready() {
            Ok(true) => match self.serial.read(&mut rx) {
                Ok(n) => n.min(RX_CHUNK),
                Err(_) => {
                    report.serial_error = true;
                    0
                }
            },
            Ok(false) => 0,
            Err(_) => {
                report.serial_error = true;
                0
            }
        };
        report.rx_bytes = rx_len;

        let step = self
            .board
            .step(now, self.raw, rx.get(..rx_len).unwrap_or(&[]));
        report.outputs = step.outputs;
        report.output_error = !self.drive(step.outputs);

        let tx = step.tx.as_bytes();
        if !tx.is_empty() {
            match self.serial.write_all(tx) {
                Ok(()) => report.tx_bytes = tx.len(),
                Err(_) => report.serial_error = true,
            }
        }

        report.fed = step.outputs.feed_watchdog
            && report.input_errors == 0
            && !report.output_error
            && !report.serial_error;
        if report.fed {
            self.watchdog.feed();
        }
        report
    }

    /// Drives the outputs that changed (all of them on the first pass); false on any error.
    fn drive(&mut self, outputs: Outputs) -> bool {
        let before = self.driven;
        let mut ok = true;
        for lock in Lock::ALL {
            let want = outputs.locks.contains(lock);
            if before.is_none_or(|b| b.locks.contains(lock) != want) {
                ok &= set(&mut self.pins.locks[lock.index()], want);
            }
        }
        if before.is_none_or(|b| b.reset_relay != outputs.reset_relay) {
            ok &= set(&mut self.pins.reset_relay, outputs.reset_relay);
        }
        // Remember what was asked only once it was applied, so a failed write is retried.
        if ok {
            self.driven = Some(outputs);
        } else {
            self.driven = None;
        }
        ok
    }

    /// The board core.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The serial port (for a simulator or a test to reach the other side).
    pub fn serial_mut(&mut self) -> &mut S {
        &mut self.serial
    }

    /// Takes the shell apart (tests call `done()` on mocks this way).
    pub fn release(self) -> (Board, Pins<I, O>, S, C, W) {
        (
            self.board,
            self.pins,
            self.serial,
            self.clock,
            self.watchdog,
        )
    }
}

fn set<O: OutputPin>(pin: &mut O, high: bool) -> bool {
    if high {
        pin.set_high().is_ok()
    } else {
        pin.set_low().is_ok()
    }
}
