//! `kiosk-sim a4-printer`: a simulated A4 laser printer speaking IPP/2.0 over HTTP/1.1.
//!
//! CUPS's `ippeveprinter` cannot jam in the middle of a document, run out of paper on page 2
//! or report low toner on demand; this printer can, steered through a control socket, so the
//! kiosk's end-to-end tests and the demo can show what the shipping driver does then. It
//! implements the printer side of RFC 8011 that the driver and `ipptool` use
//! (Get-Printer-Attributes, Print-Job, Validate-Job, Create-Job, Send-Document,
//! Get-Job-Attributes, Get-Jobs, Cancel-Job) and prints one page every `page` interval.
//!
//! Threads: one accepts HTTP connections (one thread per connection, bounded), one serves
//! the control socket, and the engine thread advances the device when a page is due.

mod control;
pub mod device;
mod http;
pub mod pdf;
mod service;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

pub use control::handle_line as handle_control_line;
pub use service::{MAX_ATTRIBUTE_BYTES, PRINTER_PATH};

use crate::control::ControlServer;
use device::Device;
use service::Printer;

/// The largest document accepted by default (a kiosk certificate is well under 1 MiB).
pub const DEFAULT_MAX_DOCUMENT: usize = 16 * 1024 * 1024;
/// How long the engine sleeps at most when nothing is due (it is woken on every change).
const ENGINE_IDLE: Duration = Duration::from_secs(1);

/// How to start the printer.
#[derive(Clone, Debug)]
pub struct A4PrinterOptions {
    /// Where to listen; port 0 picks a free one. Keep it on loopback.
    pub listen: SocketAddr,
    /// The control socket's path (must not exist).
    pub control_path: PathBuf,
    /// Sheets in the tray at start.
    pub paper: u32,
    /// Time per printed page; zero prints a job at once.
    pub page: Duration,
    /// Where completed jobs' PDFs are saved, if anywhere.
    pub save_dir: Option<PathBuf>,
    /// The largest document accepted.
    pub max_document: usize,
}

impl A4PrinterOptions {
    /// Defaults (500 sheets, 200 ms a page, 127.0.0.1 on a free port) with this control path.
    pub fn new(control_path: PathBuf) -> A4PrinterOptions {
        A4PrinterOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            control_path,
            paper: 500,
            page: Duration::from_millis(200),
            save_dir: None,
            max_document: DEFAULT_MAX_DOCUMENT,
        }
    }
}

/// A running simulated printer. Dropping it stops every thread and removes the control
/// socket.
pub struct A4PrinterSim {
    printer: Arc<Printer>,
    control: Option<ControlServer>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for A4PrinterSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("A4PrinterSim")
            .field("uri", &self.printer.uri)
            .finish_non_exhaustive()
    }
}

impl A4PrinterSim {
    /// Binds the HTTP port and the control socket, then serves on background threads.
    pub fn start(options: A4PrinterOptions) -> anyhow::Result<A4PrinterSim> {
        if let Some(dir) = &options.save_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the save directory {}", dir.display()))?;
        }
        let listener = TcpListener::bind(options.listen)
            .with_context(|| format!("listening on {}", options.listen))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let printer = Arc::new(Printer {
            device: Mutex::new(Device::new(
                options.paper,
                options.page,
                options.save_dir.clone(),
            )),
            wake: Condvar::new(),
            uri: format!("ipp://{addr}{PRINTER_PATH}"),
            max_document: options.max_document,
            started: Instant::now(),
        });
        let p = printer.clone();
        let control = ControlServer::serve(
            options.control_path,
            Arc::new(move |line: &[u8]| control::handle_line(&p, line)),
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let (p, s) = (printer.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("a4-engine".into())
                .spawn(move || engine(&p, &s))?,
        );
        let (p, s) = (printer.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("a4-accept".into())
                .spawn(move || http::accept_loop(&listener, &p, &s))?,
        );
        Ok(A4PrinterSim {
            printer,
            control: Some(control),
            stop,
            threads,
        })
    }

    /// The printer's URI, `ipp://127.0.0.1:PORT/ipp/print`.
    pub fn uri(&self) -> &str {
        &self.printer.uri
    }

    /// The control socket's path.
    pub fn control_path(&self) -> &Path {
        self.control
            .as_ref()
            .map_or(Path::new(""), ControlServer::path)
    }

    /// Handles one IPP request body exactly as the HTTP server does, and returns the
    /// response body; for fuzzing and tests that do not need a socket.
    pub fn handle_ipp(&self, body: &[u8]) -> Vec<u8> {
        self.printer.handle(body)
    }

    /// Applies one control-socket line and returns its answer, as the socket would.
    pub fn control(&self, line: &str) -> serde_json::Value {
        handle_control_line(&self.printer, line.as_bytes())
    }
}

impl Drop for A4PrinterSim {
    fn drop(&mut self) {
        // Set under the lock, so the engine cannot miss it between its check and its wait.
        let guard = self.printer.lock();
        self.stop.store(true, Ordering::Relaxed);
        drop(guard);
        self.printer.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.control = None;
    }
}

/// Advances the device whenever a page is due or something changed.
fn engine(printer: &Printer, stop: &AtomicBool) {
    let mut d = printer.lock();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        d.step(now);
        let wait = d
            .next_wake()
            .map_or(ENGINE_IDLE, |t| t.saturating_duration_since(now))
            .min(ENGINE_IDLE);
        d = printer
            .wake
            .wait_timeout(d, wait)
            .map_or_else(|e| e.into_inner().0, |(g, _)| g);
    }
}
