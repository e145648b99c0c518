//! The ESC/POS receipt printer driver.
//!
//! Between jobs the driver polls real-time status (`DLE EOT 1`, `2`, `4`) and reports every
//! change. A job ([`ReceiptCommand::Print`]) is rendered first (a receipt that cannot print
//! as meant is refused before a byte is sent), then the status is read: a printer with its
//! cover open, out of paper, in error or offline gets nothing. After the bytes the status is
//! read again, so paper that ran out during the job is reported, not hidden.
//!
//! Status replies are single bytes with no checksum, so the driver is strict about them: a
//! byte without the profile's marker is line noise; a reply followed by more bytes within a
//! short settle time is ambiguous (noise that happened to look like status) and the request is
//! repeated; no reply after the bounded retries is an error that names the request.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{PrinterModel, PrinterStatus, Receipt, StatusKind, render};
use crate::api::{self, CompletionCode, Ctx, Driver, Outcome, QueueSizes, Spawned};
use crate::link::{LinkError, SerialLink};

/// Settings of the receipt printer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptPrinterConfig {
    /// The model: status bits, Hangul selection, paper width.
    pub model: PrinterModel,
    /// How often status is polled between jobs.
    pub poll_interval: Duration,
    /// How long to wait for one status byte.
    pub reply_timeout: Duration,
    /// Quiet time after a status byte before it is believed.
    pub settle: Duration,
    /// Repeats of a status request that got no clear answer.
    pub retries: u8,
    /// Consecutive failed polls before the printer is reported offline.
    pub offline_after: u32,
}

impl Default for ReceiptPrinterConfig {
    fn default() -> Self {
        ReceiptPrinterConfig {
            model: PrinterModel::default(),
            poll_interval: Duration::from_millis(500),
            reply_timeout: Duration::from_millis(200),
            settle: Duration::from_millis(15),
            retries: 3,
            offline_after: 3,
        }
    }
}

/// Commands of the receipt printer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptCommand {
    /// Print and cut one receipt.
    Print(Receipt),
    /// Read the status now.
    Status,
    /// Initialise the printer (`ESC @`) and read its status.
    Reset,
}

/// What receipt printer commands produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptPayload {
    /// The receipt went out; the status read right after it (near end is a warning).
    Printed {
        /// Status after the job.
        status: PrinterStatus,
        /// Bytes sent.
        bytes: usize,
    },
    /// The status (also the payload of a refused job: why it was refused).
    Status(PrinterStatus),
}

/// Everything the receipt printer reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptEvent {
    /// Start-up read the status.
    Ready(PrinterStatus),
    /// The status differs from the last one read.
    StatusChanged(PrinterStatus),
    /// Bytes that were not a clear status reply were discarded.
    LineNoise {
        /// Bytes.
        bytes: usize,
    },
    /// A status request got no clear answer and was sent again.
    StatusRetried,
    /// The printer stopped answering.
    Offline {
        /// Why.
        reason: String,
    },
    /// It answers again.
    Online,
}

/// Why reading the status failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusQueryError {
    /// No status byte came back.
    #[error("no status reply to DLE EOT {n} after {tries} tries")]
    NoReply {
        /// The request.
        n: u8,
        /// Requests sent.
        tries: u32,
    },
    /// Something answered, but never one clear status byte.
    #[error("no clear status reply to DLE EOT {n} after {tries} tries (line noise)")]
    Ambiguous {
        /// The request.
        n: u8,
        /// Requests sent.
        tries: u32,
    },
    /// The port failed.
    #[error("{0}")]
    Link(#[from] LinkError),
}

enum Reply {
    Status(u8),
    Nothing,
    Ambiguous,
}

/// The driver; run it with [`spawn`].
pub struct ReceiptPrinter {
    link: SerialLink,
    config: ReceiptPrinterConfig,
    status: Option<PrinterStatus>,
    ready: bool,
    online: bool,
    failures: u32,
    last_start: Option<Instant>,
    last_read: Option<Instant>,
    noise: usize,
    retried: usize,
}

/// Starts a receipt printer actor on `link`.
pub fn spawn(
    link: SerialLink,
    config: ReceiptPrinterConfig,
    sizes: QueueSizes,
) -> Spawned<ReceiptCommand, ReceiptPayload, ReceiptEvent> {
    api::spawn(ReceiptPrinter::new(link, config), sizes)
}

fn code_of(e: &StatusQueryError) -> CompletionCode {
    match e {
        StatusQueryError::Link(_) => CompletionCode::HardwareError,
        _ => CompletionCode::TimeOut,
    }
}

impl ReceiptPrinter {
    /// A driver that has not talked to the printer yet.
    pub fn new(link: SerialLink, config: ReceiptPrinterConfig) -> ReceiptPrinter {
        ReceiptPrinter {
            link,
            config,
            status: None,
            ready: false,
            online: true,
            failures: 0,
            last_start: None,
            last_read: None,
            noise: 0,
            retried: 0,
        }
    }

    /// One status request, repeated until one clear byte answers it.
    fn query(&mut self, kind: StatusKind) -> Result<u8, StatusQueryError> {
        let tries = u32::from(self.config.retries) + 1;
        let mut ambiguous = false;
        for attempt in 0..tries {
            if attempt > 0 {
                self.retried += 1;
            }
            self.noise += self.link.drain()?;
            self.link.write_all(&kind.request())?;
            match self.read_reply()? {
                Reply::Status(b) => return Ok(b),
                Reply::Nothing => {}
                Reply::Ambiguous => ambiguous = true,
            }
        }
        let n = kind.n();
        Err(if ambiguous {
            StatusQueryError::Ambiguous { n, tries }
        } else {
            StatusQueryError::NoReply { n, tries }
        })
    }

    fn read_reply(&mut self) -> Result<Reply, StatusQueryError> {
        let profile = self.config.model.status;
        let deadline = Instant::now() + self.config.reply_timeout;
        let mut buf = [0u8; 64];
        let mut found = None;
        loop {
            let now = Instant::now();
            let wait = match found {
                // Something that looks like status: believe it only if the line then
                // stays quiet.
                Some(_) => self.config.settle,
                None if now >= deadline => return Ok(Reply::Nothing),
                None => deadline - now,
            };
            let n = self.link.read_some(&mut buf, wait)?;
            if n == 0 {
                return Ok(found.map_or(Reply::Nothing, Reply::Status));
            }
            for (i, &b) in buf[..n].iter().enumerate() {
                if found.is_some() {
                    // More bytes after the reply: one of them was noise, and we cannot tell
                    // which. Count them all (the candidate too) and ask again.
                    self.noise += n - i + 1;
                    return Ok(Reply::Ambiguous);
                }
                if profile.is_status_byte(b) {
                    found = Some(b);
                } else {
                    self.noise += 1;
                }
            }
        }
    }

    /// Reads all three status bytes.
    fn read_status(&mut self) -> Result<PrinterStatus, StatusQueryError> {
        let profile = self.config.model.status;
        let mut s = self.status.unwrap_or_default();
        for kind in StatusKind::ALL {
            let b = self.query(kind)?;
            // `query` only returns marked bytes, so this cannot fail; keep the old value
            // if it ever did.
            let _ = s.apply(&profile, kind, b);
        }
        Ok(s)
    }

    fn report_line(&mut self, ctx: &Ctx<ReceiptEvent>) {
        let g = std::mem::take(&mut self.noise);
        if g > 0 {
            ctx.unsolicited(ReceiptEvent::LineNoise { bytes: g });
        }
        for _ in 0..std::mem::take(&mut self.retried).min(16) {
            ctx.unsolicited(ReceiptEvent::StatusRetried);
        }
    }

    /// Reads the status, reports a change and the line's health.
    fn refresh(&mut self, ctx: &Ctx<ReceiptEvent>) -> Result<PrinterStatus, StatusQueryError> {
        let r = self.read_status();
        self.last_read = Some(Instant::now());
        self.report_line(ctx);
        match r {
            Ok(s) => {
                self.failures = 0;
                if !self.online {
                    self.online = true;
                    ctx.unsolicited(ReceiptEvent::Online);
                }
                if self.status.is_some_and(|old| old != s) {
                    ctx.unsolicited(ReceiptEvent::StatusChanged(s));
                }
                self.status = Some(s);
                Ok(s)
            }
            Err(e) => {
                self.failures += 1;
                if self.failures >= self.config.offline_after && self.online {
                    self.online = false;
                    ctx.unsolicited(ReceiptEvent::Offline {
                        reason: e.to_string(),
                    });
                }
                Err(e)
            }
        }
    }

    fn initialise(&mut self, ctx: &Ctx<ReceiptEvent>) -> Result<PrinterStatus, String> {
        self.last_start = Some(Instant::now());
        self.config
            .model
            .status
            .check()
            .map_err(|e| e.to_string())?;
        self.link
            .write_all(&[super::ESC, b'@'])
            .map_err(|e| e.to_string())?;
        self.status = None;
        let s = self.refresh(ctx).map_err(|e| e.to_string())?;
        self.ready = true;
        ctx.emit(ReceiptEvent::Ready(s));
        Ok(s)
    }

    fn print(&mut self, ctx: &Ctx<ReceiptEvent>, receipt: &Receipt) -> Outcome<ReceiptPayload> {
        let bytes = match render(receipt, &self.config.model) {
            Ok(b) => b,
            Err(e) => return Outcome::fail(CompletionCode::InvalidData, e.to_string()),
        };
        let before = match self.refresh(ctx) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::fail(
                    code_of(&e),
                    format!("receipt not printed: status unknown: {e}"),
                );
            }
        };
        if let Some(why) = before.refusal() {
            return Outcome::fail_with(
                CompletionCode::DeviceNotReady,
                ReceiptPayload::Status(before),
                format!("receipt not printed: {why}"),
            );
        }
        if let Err(e) = self.link.write_all(&bytes) {
            return Outcome::fail(
                CompletionCode::HardwareError,
                format!("receipt not printed: {e}"),
            );
        }
        match self.refresh(ctx) {
            Ok(after) => match after.refusal() {
                None => Outcome::ok(ReceiptPayload::Printed {
                    status: after,
                    bytes: bytes.len(),
                }),
                Some(why) => Outcome::fail_with(
                    CompletionCode::HardwareError,
                    ReceiptPayload::Status(after),
                    format!("receipt may be incomplete: {why} after printing"),
                ),
            },
            Err(e) => Outcome::fail(code_of(&e), format!("receipt sent but not confirmed: {e}")),
        }
    }
}

impl Driver for ReceiptPrinter {
    type Command = ReceiptCommand;
    type Payload = ReceiptPayload;
    type Event = ReceiptEvent;

    fn start(&mut self, ctx: &mut Ctx<ReceiptEvent>) {
        if let Err(reason) = self.initialise(ctx) {
            if self.online {
                self.online = false;
                ctx.unsolicited(ReceiptEvent::Offline { reason });
            }
        }
    }

    fn execute(
        &mut self,
        ctx: &mut Ctx<ReceiptEvent>,
        command: ReceiptCommand,
    ) -> Outcome<ReceiptPayload> {
        match command {
            ReceiptCommand::Print(receipt) => self.print(ctx, &receipt),
            ReceiptCommand::Status => match self.refresh(ctx) {
                Ok(s) => Outcome::ok(ReceiptPayload::Status(s)),
                Err(e) => Outcome::fail(code_of(&e), e.to_string()),
            },
            ReceiptCommand::Reset => {
                self.ready = false;
                match self.initialise(ctx) {
                    Ok(s) => Outcome::ok(ReceiptPayload::Status(s)),
                    Err(e) => Outcome::fail(CompletionCode::HardwareError, e),
                }
            }
        }
    }

    fn poll(&mut self, ctx: &mut Ctx<ReceiptEvent>) {
        if ctx.room() < 8 {
            return;
        }
        if !self.ready {
            if self
                .last_start
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            {
                let _ = self.initialise(ctx);
            }
            return;
        }
        // A job or start-up just read the status: no need to ask again so soon.
        if self
            .last_read
            .is_some_and(|t| t.elapsed() < self.config.poll_interval / 2)
        {
            return;
        }
        let _ = self.refresh(ctx);
    }

    fn poll_interval(&self) -> Duration {
        self.config.poll_interval
    }
}
