//! The IPP A4 printer driver, on the `ipp` crate's blocking client (run on the actor's
//! blocking pool like every driver).
//!
//! A job is Create-Job then Send-Document (so a failed upload leaves a job id to cancel),
//! followed with Get-Job-Attributes until it ends, with Get-Printer-Attributes alongside.
//! A printer that reports a stopping condition (empty tray, jam, open door) before the job is
//! refused; one that reports it during the job and keeps it for longer than the stall
//! timeout gets its job canceled, and the completion says how many pages came out, so the
//! session can refund the rest. Every wait is bounded: each request has a timeout and the
//! whole job has a deadline.

use std::time::{Duration, Instant};

use ::ipp::model::{DelimiterTag, StatusCode};
use ::ipp::operation::builder::IppOperationBuilder;
use ::ipp::payload::IppPayload;
use ::ipp::prelude::{IppClient, IppError, Uri};
use ::ipp::request::IppRequestResponse;
use ::ipp::value::IppValue;
use serde::{Deserialize, Serialize};

use super::{A4Status, Health, JobProgress, JobState};
use crate::api::{self, CompletionCode, Ctx, Driver, Outcome, QueueSizes, Spawned};

/// Settings of the A4 printer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct A4PrinterConfig {
    /// The printer's URI, e.g. `ipp://localhost:631/ipp/print`.
    pub uri: String,
    /// `requesting-user-name` on jobs.
    pub user: String,
    /// How often the printer's status is read between jobs.
    pub poll_interval: Duration,
    /// How often a job is looked at while it prints.
    pub job_poll: Duration,
    /// Time allowed for one IPP request.
    pub request_timeout: Duration,
    /// Time allowed for a whole job.
    pub job_timeout: Duration,
    /// How long a stopping condition may stand during a job before it is canceled.
    pub stall_timeout: Duration,
    /// The largest document accepted.
    pub max_document: usize,
    /// Consecutive failed polls before the printer is reported offline.
    pub offline_after: u32,
}

impl Default for A4PrinterConfig {
    fn default() -> Self {
        A4PrinterConfig {
            uri: "ipp://localhost:631/ipp/print".into(),
            user: "kiosk".into(),
            poll_interval: Duration::from_secs(2),
            job_poll: Duration::from_millis(250),
            request_timeout: Duration::from_secs(10),
            job_timeout: Duration::from_secs(300),
            stall_timeout: Duration::from_secs(30),
            max_document: 64 * 1024 * 1024,
            offline_after: 3,
        }
    }
}

/// A document to print.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct A4Job {
    /// `job-name` (a document type and issue number, never personal data).
    pub name: String,
    /// The PDF.
    pub pdf: Vec<u8>,
}

/// Commands of the A4 printer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum A4Command {
    /// Print a PDF and follow it to its end.
    Print(A4Job),
    /// Read the printer's status now.
    Status,
}

/// How a job ended, or where it stood when the driver gave up on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReport {
    /// The job as last read.
    pub job: JobProgress,
    /// The printer as last read.
    pub status: A4Status,
}

/// What A4 printer commands produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum A4Payload {
    /// A job's report (on success: completed; on failure: where it stopped).
    Job(JobReport),
    /// The printer's status (also why a job was refused).
    Status(A4Status),
}

/// Everything the A4 printer reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum A4Event {
    /// Start-up read the status.
    Ready(A4Status),
    /// The printer's status changed.
    StatusChanged(A4Status),
    /// A job moved (state or pages).
    Job(JobProgress),
    /// The printer stopped answering.
    Offline {
        /// Why.
        reason: String,
    },
    /// It answers again.
    Online,
}

/// Why an IPP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum A4Error {
    /// The URI does not parse.
    #[error("printer URI: {0}")]
    Uri(String),
    /// The request could not be built.
    #[error("building {op}: {reason}")]
    Build {
        /// The operation.
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// Transport or protocol failure (connection refused, timeout, bad reply).
    #[error("{op}: {source}")]
    Transport {
        /// The operation.
        op: &'static str,
        /// The client's error.
        source: IppError,
    },
    /// The printer answered with an IPP error status.
    #[error("{op}: printer answered {status}")]
    Status {
        /// The operation.
        op: &'static str,
        /// Its status code.
        status: String,
    },
    /// A required attribute is missing from the reply.
    #[error("{op}: reply lacks {attribute}")]
    Missing {
        /// The operation.
        op: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
}

/// The driver; run it with [`spawn`].
pub struct A4Printer {
    config: A4PrinterConfig,
    uri: Result<Uri, String>,
    status: Option<A4Status>,
    ready: bool,
    online: bool,
    failures: u32,
}

/// Starts an A4 printer actor.
pub fn spawn(config: A4PrinterConfig, sizes: QueueSizes) -> Spawned<A4Command, A4Payload, A4Event> {
    api::spawn(A4Printer::new(config), sizes)
}

fn values(v: &IppValue) -> Vec<&IppValue> {
    match v {
        IppValue::Array(a) => a.iter().collect(),
        v => vec![v],
    }
}

fn find<'a>(r: &'a IppRequestResponse, tag: DelimiterTag, name: &str) -> Option<&'a IppValue> {
    r.attributes()
        .groups_of(tag)
        .find_map(|g| g.get(name))
        .map(|a| a.value())
}

fn int(v: &IppValue) -> Option<i32> {
    match v {
        IppValue::Integer(i) | IppValue::Enum(i) => Some(*i),
        _ => None,
    }
}

impl A4Printer {
    /// A driver that has not talked to the printer yet.
    pub fn new(config: A4PrinterConfig) -> A4Printer {
        let uri = config
            .uri
            .parse::<Uri>()
            .map_err(|e| format!("{}: {e}", config.uri));
        A4Printer {
            config,
            uri,
            status: None,
            ready: false,
            online: true,
            failures: 0,
        }
    }

    fn uri(&self) -> Result<Uri, A4Error> {
        self.uri.clone().map_err(A4Error::Uri)
    }

    fn send(
        &self,
        op: &'static str,
        req: Result<IppRequestResponse, ::ipp::parser::IppParseError>,
    ) -> Result<IppRequestResponse, A4Error> {
        let req = req.map_err(|e| A4Error::Build {
            op,
            reason: e.to_string(),
        })?;
        let client = IppClient::builder(self.uri()?)
            .request_timeout(self.config.request_timeout)
            .build();
        let resp = client
            .send(req)
            .map_err(|source| A4Error::Transport { op, source })?;
        let status = resp.header().status_code();
        if !status.is_success() {
            return Err(A4Error::Status {
                op,
                status: if status == StatusCode::UnknownStatusCode {
                    format!("0x{:04X}", resp.header().operation_or_status)
                } else {
                    status.to_string()
                },
            });
        }
        Ok(resp)
    }

    fn read_status(&self) -> Result<A4Status, A4Error> {
        const OP: &str = "Get-Printer-Attributes";
        let req = IppOperationBuilder::get_printer_attributes(self.uri()?)
            .attributes(["printer-state", "printer-state-reasons"])
            .build()
            .map(Into::into);
        let resp = self.send(OP, req)?;
        let state = find(&resp, DelimiterTag::PrinterAttributes, "printer-state")
            .and_then(int)
            .ok_or(A4Error::Missing {
                op: OP,
                attribute: "printer-state",
            })?;
        let reasons: Vec<String> = find(
            &resp,
            DelimiterTag::PrinterAttributes,
            "printer-state-reasons",
        )
        .map(|v| values(v).iter().map(|v| v.to_string()).collect())
        .unwrap_or_default();
        Ok(A4Status::from_ipp(state, &reasons))
    }

    /// Reads the status, reports a change and the line's health.
    fn refresh(&mut self, ctx: &Ctx<A4Event>) -> Result<A4Status, A4Error> {
        match self.read_status() {
            Ok(s) => {
                self.failures = 0;
                if !self.online {
                    self.online = true;
                    ctx.unsolicited(A4Event::Online);
                }
                if self.status.as_ref().is_some_and(|old| *old != s) {
                    ctx.unsolicited(A4Event::StatusChanged(s.clone()));
                }
                self.status = Some(s.clone());
                Ok(s)
            }
            Err(e) => {
                self.failures += 1;
                if self.failures >= self.config.offline_after && self.online {
                    self.online = false;
                    ctx.unsolicited(A4Event::Offline {
                        reason: e.to_string(),
                    });
                }
                Err(e)
            }
        }
    }

    fn job(&self, job_id: i32) -> Result<JobProgress, A4Error> {
        const OP: &str = "Get-Job-Attributes";
        let req = IppOperationBuilder::get_job_attributes(self.uri()?, job_id)
            .user_name(&self.config.user)
            .build()
            .map(Into::into);
        let resp = self.send(OP, req)?;
        let get = |name| find(&resp, DelimiterTag::JobAttributes, name).and_then(int);
        let state = get("job-state").ok_or(A4Error::Missing {
            op: OP,
            attribute: "job-state",
        })?;
        let pages = get("job-impressions-completed")
            .or_else(|| get("job-pages-completed"))
            .or_else(|| get("job-media-sheets-completed"))
            .unwrap_or(0);
        Ok(JobProgress {
            job_id,
            state: JobState::from_ipp(state),
            pages_completed: u32::try_from(pages).unwrap_or(0),
        })
    }

    fn cancel(&self, job_id: i32) -> Result<(), A4Error> {
        let req = IppOperationBuilder::cancel_job(self.uri()?, job_id)
            .user_name(&self.config.user)
            .build()
            .map(Into::into);
        self.send("Cancel-Job", req).map(|_| ())
    }

    fn submit(&self, job: A4Job) -> Result<i32, A4Error> {
        const OP: &str = "Create-Job";
        // The ipp crate's Create-Job builder has no user name: add it as an operation
        // attribute, so the job's owner is the same on every later operation.
        let user = self.config.user.clone();
        let req = IppOperationBuilder::create_job(self.uri()?)
            .job_name(&job.name)
            .build()
            .map(Into::<IppRequestResponse>::into)
            .and_then(|mut r| {
                let user = IppValue::new_name_without_language(user)?;
                r.attributes_mut().add(
                    DelimiterTag::OperationAttributes,
                    ::ipp::attribute::IppAttribute::new(
                        ::ipp::attribute::IppAttributeName::REQUESTING_USER_NAME,
                        user,
                    ),
                );
                Ok(r)
            });
        let resp = self.send(OP, req)?;
        let job_id = find(&resp, DelimiterTag::JobAttributes, "job-id")
            .and_then(int)
            .ok_or(A4Error::Missing {
                op: OP,
                attribute: "job-id",
            })?;
        let req = IppOperationBuilder::send_document(
            self.uri()?,
            job_id,
            IppPayload::new(std::io::Cursor::new(job.pdf)),
        )
        .user_name(&self.config.user)
        .document_format("application/pdf")
        .last(true)
        .build()
        .map(Into::into);
        if let Err(e) = self.send("Send-Document", req) {
            // Leave no half-submitted job behind.
            let _ = self.cancel(job_id);
            return Err(e);
        }
        Ok(job_id)
    }

    fn print(&mut self, ctx: &Ctx<A4Event>, job: A4Job) -> Outcome<A4Payload> {
        if job.pdf.len() > self.config.max_document {
            return Outcome::fail(
                CompletionCode::InvalidData,
                format!(
                    "document of {} bytes exceeds {}",
                    job.pdf.len(),
                    self.config.max_document
                ),
            );
        }
        if !job.pdf.starts_with(b"%PDF-") {
            return Outcome::fail(CompletionCode::InvalidData, "document is not a PDF");
        }
        let before = match self.refresh(ctx) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::fail(CompletionCode::DeviceNotReady, format!("not printed: {e}"));
            }
        };
        if before.health == Health::Error {
            return Outcome::fail_with(
                CompletionCode::DeviceNotReady,
                A4Payload::Status(before.clone()),
                format!("not printed: {}", before.describe(Health::Error)),
            );
        }
        let job_id = match self.submit(job) {
            Ok(id) => id,
            Err(e) => return Outcome::fail(CompletionCode::HardwareError, e.to_string()),
        };
        self.follow(ctx, job_id, before)
    }

    /// Follows a submitted job to its end, within the job deadline.
    fn follow(
        &mut self,
        ctx: &Ctx<A4Event>,
        job_id: i32,
        mut status: A4Status,
    ) -> Outcome<A4Payload> {
        let deadline = Instant::now() + self.config.job_timeout;
        let mut last: Option<JobProgress> = None;
        let mut stalled_since: Option<Instant> = None;
        let mut errors = 0u32;
        loop {
            if ctx.is_canceled() {
                let _ = self.cancel(job_id);
                return self.end(
                    ctx,
                    job_id,
                    last,
                    status,
                    CompletionCode::Canceled,
                    "canceled by the host".into(),
                );
            }
            match self.job(job_id) {
                Ok(p) => {
                    errors = 0;
                    if last != Some(p) {
                        ctx.emit(A4Event::Job(p));
                        last = Some(p);
                    }
                }
                Err(e) => {
                    errors += 1;
                    if errors > self.config.offline_after {
                        return self.end(
                            ctx,
                            job_id,
                            last,
                            status,
                            CompletionCode::TimeOut,
                            format!("job {job_id} lost: {e}"),
                        );
                    }
                }
            }
            if let Ok(s) = self.refresh(ctx) {
                status = s;
            }
            if let Some(p) = last {
                let report = || JobReport {
                    job: p,
                    status: status.clone(),
                };
                match p.state {
                    JobState::Completed => return Outcome::ok(A4Payload::Job(report())),
                    JobState::Canceled | JobState::Aborted => {
                        let why = status.describe(Health::Error);
                        return Outcome::fail_with(
                            CompletionCode::HardwareError,
                            A4Payload::Job(report()),
                            format!(
                                "job {job_id} {} after {} pages{}{why}",
                                if p.state == JobState::Canceled {
                                    "canceled"
                                } else {
                                    "aborted"
                                },
                                p.pages_completed,
                                if why.is_empty() { "" } else { ": " },
                            ),
                        );
                    }
                    _ => {}
                }
            }
            let stopped = status.health == Health::Error
                || last.is_some_and(|p| p.state == JobState::ProcessingStopped);
            if stopped {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.config.stall_timeout {
                    let why = match status.describe(Health::Error) {
                        w if w.is_empty() => "processing stopped".to_owned(),
                        w => w,
                    };
                    let _ = self.cancel(job_id);
                    return self.end(
                        ctx,
                        job_id,
                        last,
                        status,
                        CompletionCode::HardwareError,
                        format!("job {job_id} stopped: {why}; canceled"),
                    );
                }
            } else {
                stalled_since = None;
            }
            if Instant::now() >= deadline {
                let _ = self.cancel(job_id);
                return self.end(
                    ctx,
                    job_id,
                    last,
                    status,
                    CompletionCode::TimeOut,
                    format!("job {job_id} not done in time; canceled"),
                );
            }
            std::thread::sleep(self.config.job_poll);
        }
    }

    /// A failed job's completion: the job read once more (after a cancel it says how many
    /// pages came out), with the detail.
    fn end(
        &mut self,
        ctx: &Ctx<A4Event>,
        job_id: i32,
        last: Option<JobProgress>,
        status: A4Status,
        code: CompletionCode,
        detail: String,
    ) -> Outcome<A4Payload> {
        let job = match self.job(job_id) {
            Ok(p) => {
                if last != Some(p) {
                    ctx.emit(A4Event::Job(p));
                }
                p
            }
            Err(_) => last.unwrap_or(JobProgress {
                job_id,
                state: JobState::Unknown(0),
                pages_completed: 0,
            }),
        };
        let pages = job.pages_completed;
        Outcome::fail_with(
            code,
            A4Payload::Job(JobReport { job, status }),
            format!("{detail} ({pages} pages printed)"),
        )
    }
}

impl Driver for A4Printer {
    type Command = A4Command;
    type Payload = A4Payload;
    type Event = A4Event;

    fn start(&mut self, ctx: &mut Ctx<A4Event>) {
        match self.refresh(ctx) {
            Ok(s) => {
                self.ready = true;
                ctx.emit(A4Event::Ready(s));
            }
            Err(e) => {
                if self.online {
                    self.online = false;
                    ctx.unsolicited(A4Event::Offline {
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    fn execute(&mut self, ctx: &mut Ctx<A4Event>, command: A4Command) -> Outcome<A4Payload> {
        match command {
            A4Command::Print(job) => self.print(ctx, job),
            A4Command::Status => match self.refresh(ctx) {
                Ok(s) => Outcome::ok(A4Payload::Status(s)),
                Err(e) => Outcome::fail(CompletionCode::DeviceNotReady, e.to_string()),
            },
        }
    }

    fn poll(&mut self, ctx: &mut Ctx<A4Event>) {
        if ctx.room() < 4 {
            return;
        }
        if let Ok(s) = self.refresh(ctx) {
            if !self.ready {
                self.ready = true;
                ctx.emit(A4Event::Ready(s));
            }
        }
    }

    fn poll_interval(&self) -> Duration {
        self.config.poll_interval
    }
}
