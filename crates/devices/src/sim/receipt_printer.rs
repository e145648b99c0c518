//! The ESC/POS receipt printer simulator: reads the byte stream with the same parser a
//! test would trust ([`crate::escpos::parse`]), keeps every receipt it cut off decoded back
//! to text, and answers `DLE EOT n` from its cover, paper and error state.
//!
//! While it cannot print (cover open, paper out, error) it drops print data and counts it:
//! a real printer would hold it and perhaps print it later, and the driver must not send a
//! job then at all, which is what the tests check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serialport::TTYPort;

use super::{LineFaults, Runner, SimCommand, SimError, lock};
use crate::escpos::parse::{Command, Parser, PrintedReceipt, ReceiptReader};
use crate::escpos::{PrinterModel, PrinterStatus, StatusKind};
use crate::link::{SerialLink, pty_pair};

/// Receipts kept (oldest dropped first).
const KEEP_RECEIPTS: usize = 256;

struct Printer {
    model: PrinterModel,
    parser: Parser,
    reader: ReceiptReader,
    receipts: Vec<PrintedReceipt>,
    cover_open: bool,
    near_end: bool,
    paper_end: bool,
    error: bool,
    dropped_bytes: usize,
    status_requests: u32,
    inits: u32,
}

impl Printer {
    fn can_print(&self) -> bool {
        !(self.cover_open || self.paper_end || self.error)
    }

    fn status(&self) -> PrinterStatus {
        PrinterStatus {
            offline: !self.can_print(),
            cover_open: self.cover_open,
            stopped_by_paper_end: self.paper_end,
            error: self.error,
            paper_near_end: self.near_end || self.paper_end,
            paper_end: self.paper_end,
        }
    }

    /// Takes one byte; returns the `n` of a status request it completes.
    fn take(&mut self, b: u8) -> Option<u8> {
        let cmd = self.parser.push(b)?;
        match cmd {
            Command::StatusRequest(n) => {
                self.status_requests += 1;
                return Some(n);
            }
            Command::Init => self.inits += 1,
            _ => {}
        }
        if !self.can_print() {
            self.dropped_bytes += 1;
            return None;
        }
        if let Some(r) = self.reader.apply(&cmd) {
            if self.receipts.len() >= KEEP_RECEIPTS {
                self.receipts.remove(0);
            }
            self.receipts.push(r);
        }
        None
    }

    /// The reply byte to `DLE EOT n`; n = 3 (error cause) answers "no cause"; other n get
    /// no answer, like a real printer.
    fn reply(&self, n: u8) -> Option<u8> {
        let profile = &self.model.status;
        match StatusKind::from_n(n) {
            Some(k) => Some(self.status().encode(profile, k)),
            None if n == 3 => Some(profile.marker_value),
            None => None,
        }
    }
}

fn serve(
    mut link: SerialLink,
    dev: Arc<Mutex<Printer>>,
    faults: Arc<Mutex<LineFaults>>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let n = match link.read_some(&mut buf, Duration::from_millis(2)) {
            Ok(n) => n,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        for &b in &buf[..n] {
            let Some(req) = lock(&dev).take(b) else {
                continue;
            };
            let Some(mut reply) = lock(&dev).reply(req) else {
                continue;
            };
            let plan = lock(&faults).plan(req);
            if plan.corrupt {
                // Flip a marker bit: no longer a status byte.
                reply ^= 0x01;
            }
            if let Some(d) = plan.delay {
                std::thread::sleep(d);
            }
            if !plan.garbage.is_empty() {
                let _ = link.write_all(&plan.garbage);
            }
            if !plan.drop {
                let _ = link.write_all(&[reply]);
            }
        }
    }
}

/// What the simulated receipt printer has done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptPrinterSimState {
    /// Receipts cut off, oldest first (the last 256).
    pub receipts: Vec<PrintedReceipt>,
    /// Lines printed but not cut off yet.
    pub uncut: PrintedReceipt,
    /// What it would answer to `DLE EOT` now.
    pub status: PrinterStatus,
    /// Command bytes dropped because it could not print.
    pub dropped_bytes: usize,
    /// `DLE EOT` requests seen.
    pub status_requests: u32,
    /// `ESC @` seen.
    pub inits: u32,
}

/// A simulated ESC/POS receipt printer.
pub struct ReceiptPrinterSim {
    dev: Arc<Mutex<Printer>>,
    faults: Arc<Mutex<LineFaults>>,
    _runner: Runner,
}

impl std::fmt::Debug for ReceiptPrinterSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptPrinterSim").finish_non_exhaustive()
    }
}

impl ReceiptPrinterSim {
    /// Starts a printer of `model` on a new pty; returns it and the host's end.
    pub fn spawn(model: PrinterModel) -> Result<(ReceiptPrinterSim, TTYPort), SimError> {
        let (device_side, host_side) = pty_pair().map_err(|e| SimError::Link(e.to_string()))?;
        let dev = Arc::new(Mutex::new(Printer {
            model,
            parser: Parser::new(),
            reader: ReceiptReader::new(model.hangul),
            receipts: Vec::new(),
            cover_open: false,
            near_end: false,
            paper_end: false,
            error: false,
            dropped_bytes: 0,
            status_requests: 0,
            inits: 0,
        }));
        let faults = Arc::new(Mutex::new(LineFaults::default()));
        let (d, f) = (dev.clone(), faults.clone());
        let link = SerialLink::new(device_side);
        let runner = Runner::start(move |stop| serve(link, d, f, stop));
        Ok((
            ReceiptPrinterSim {
                dev,
                faults,
                _runner: runner,
            },
            host_side,
        ))
    }

    /// Applies a control command.
    pub fn apply(&self, cmd: SimCommand) -> Result<(), SimError> {
        let mut d = lock(&self.dev);
        match cmd {
            SimCommand::OpenCover => d.cover_open = true,
            SimCommand::CloseCover => d.cover_open = false,
            SimCommand::PaperNearEnd => d.near_end = true,
            SimCommand::PaperEnd => d.paper_end = true,
            SimCommand::LoadPaper => {
                d.paper_end = false;
                d.near_end = false;
            }
            SimCommand::PrinterError => d.error = true,
            SimCommand::ClearPrinterError => d.error = false,
            SimCommand::Reset => {
                d.error = false;
                d.parser = Parser::new();
                d.reader = ReceiptReader::new(d.model.hangul);
            }
            SimCommand::Line { fault } => lock(&self.faults).add(fault),
            _ => return Err(SimError::Unsupported),
        }
        Ok(())
    }

    /// A snapshot of its state.
    pub fn state(&self) -> ReceiptPrinterSimState {
        let d = lock(&self.dev);
        ReceiptPrinterSimState {
            receipts: d.receipts.clone(),
            uncut: d.reader.uncut().clone(),
            status: d.status(),
            dropped_bytes: d.dropped_bytes,
            status_requests: d.status_requests,
            inits: d.inits,
        }
    }

    /// The receipts cut off so far, oldest first.
    pub fn receipts(&self) -> Vec<PrintedReceipt> {
        lock(&self.dev).receipts.clone()
    }
}
