//! The IPP A4 printer driver, on the `ipp` crate's blocking client (run on the actor's
//! blocking pool like every driver).
//!
//! A job is Create-Job then Send-Document (so a failed upload leaves a job id to cancel),
//! followed with Get-Job-Attributes until it ends, with Get-Printer-Attributes alongside.
//! [`A4Event::Submitted`] reports the printer's job id as soon as Create-Job gave it, before
//! the document goes: every later event of the job carries that id, so the host follows pages
//! by job id and never counts a page of one job for another.
//! A printer that reports a stopping condition (empty tray, jam, open door) before the job is
//! refused; one that reports it during the job and keeps it for longer than the stall
//! timeout gets its job canceled, and the completion says how many pages came out, so the
//! session can refund the rest. Every wait is bounded: each request has a timeout and the
//! whole job has a deadline.
//!
//! A job the driver gives up on (host cancel, stall, deadline, printer lost) is canceled on
//! the printer and the cancel is confirmed by reading the job back: a job abandoned by one
//! citizen must never go on printing for the next. When the printer cannot be reached to
//! cancel it, the driver remembers the job and cancels it as soon as the printer answers
//! again (before any new job is sent).
//!
//! After a host crash, recovery asks the printer itself: [`A4Command::FindJob`] finds the
//! newest job of a name (the job id may never have reached the host's journal), and
//! [`A4Command::Cancel`] ends a job left over from before the crash. The driver never
//! resubmits a job by itself.

use std::time::{Duration, Instant};

use ::ipp::attribute::{IppAttribute, IppAttributeGroup};
use ::ipp::model::{DelimiterTag, StatusCode};
use ::ipp::operation::builder::IppOperationBuilder;
use ::ipp::parser::IppParseError;
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
    /// Time allowed for one IPP request; also how long a canceled job may take to end (a
    /// laser printer finishes the sheet in its paper path first).
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
    /// `job-name` (a document type and issue number, never personal data). Recovery finds
    /// the job on the printer by this name ([`A4Command::FindJob`]), so it should be unique
    /// to one printed copy (the kiosk uses `S<session>-<issue>-<copy>`, ASCII, under 64
    /// characters).
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
    /// Find the newest job whose `job-name` is exactly `name`, finished or not: what became
    /// of a job sent before a host crash, whose job id may never have been journaled.
    /// Get-Jobs with `which-jobs` `all` (on a printer that refuses `all`: `not-completed`
    /// then `completed`, merged); answers [`A4Payload::Found`]. "Newest" is the highest job
    /// id (printers number jobs upwards).
    FindJob {
        /// The `job-name` the job was sent with ([`A4Job::name`]).
        name: String,
    },
    /// Cancel a job (Cancel-Job), e.g. one left over from before a host crash, so it never
    /// prints for someone else; answers [`A4Payload::Done`] once the printer reports it over
    /// (read back with Get-Job-Attributes: a printer may take a moment to stop, and recovery
    /// must not read a job as still printing after Done). A job already over (completed,
    /// canceled, aborted), or one the printer no longer knows (printers forget only finished
    /// jobs), is not an error: Done too. A job still not over after the request timeout is
    /// a [`CompletionCode::TimeOut`] failure (ask again).
    Cancel {
        /// The printer's job id ([`A4Event::Submitted`], [`JobProgress::job_id`]).
        job_id: i32,
    },
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
    /// [`A4Command::FindJob`]'s answer: the newest job of that name as the printer reports it
    /// now (state and pages), or `None` when the printer knows no job of that name.
    Found(Option<JobProgress>),
    /// [`A4Command::Cancel`] is done: the job is over on the printer.
    Done,
}

/// Everything the A4 printer reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum A4Event {
    /// Start-up read the status.
    Ready(A4Status),
    /// The printer's status changed.
    StatusChanged(A4Status),
    /// A print job exists on the printer: Create-Job answered with its id, and the document
    /// has not been sent yet. Emitted before any [`A4Event::Job`] of it, so the host can
    /// journal the id first and follow the job's pages by id.
    Submitted {
        /// The job's `job-name` ([`A4Job::name`]).
        name: String,
        /// The printer's job id.
        job_id: i32,
    },
    /// A job moved (state or pages). Also reported, unsolicited, for a job the driver had to
    /// abandon unconfirmed once the printer ends it (its final pages).
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

/// The most abandoned jobs remembered for a later cancel (see [`A4Printer`]); more means the
/// printer has been unreachable through many jobs, and the oldest is forgotten.
const MAX_ABANDONED: usize = 32;

/// What the Get-Jobs of [`A4Command::FindJob`] asks for: enough to recognise the job and say
/// where it stands.
const FIND_ATTRIBUTES: [&str; 4] = [
    "job-id",
    "job-name",
    "job-state",
    "job-impressions-completed",
];

/// The driver; run it with [`spawn`].
pub struct A4Printer {
    config: A4PrinterConfig,
    uri: Result<Uri, String>,
    status: Option<A4Status>,
    ready: bool,
    online: bool,
    failures: u32,
    /// Jobs given up on whose cancel the printer has not confirmed (it could not be
    /// reached), with their names: canceled as soon as the printer answers again. The name
    /// is checked first, so a printer that restarted and reuses the id for someone else's
    /// job does not get that job canceled.
    abandoned: Vec<(i32, String)>,
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

fn name_value(v: &IppValue) -> Option<String> {
    match v {
        IppValue::NameWithoutLanguage(n) => Some(n.as_str().to_owned()),
        IppValue::NameWithLanguage { name, .. } => Some(name.as_str().to_owned()),
        _ => None,
    }
}

/// A job as one job-attributes group reports it: its progress (`None` without `job-state`)
/// and its `job-name` when present.
fn job_in(g: &IppAttributeGroup, job_id: i32) -> Option<(JobProgress, Option<String>)> {
    let get = |name| g.get(name).map(IppAttribute::value).and_then(int);
    let state = get("job-state")?;
    let pages = get("job-impressions-completed")
        .or_else(|| get("job-pages-completed"))
        .or_else(|| get("job-media-sheets-completed"))
        .unwrap_or(0);
    let progress = JobProgress {
        job_id,
        state: JobState::from_ipp(state),
        pages_completed: u32::try_from(pages).unwrap_or(0),
    };
    let name = g
        .get("job-name")
        .map(IppAttribute::value)
        .and_then(name_value);
    Some((progress, name))
}

/// An IPP error status as an [`A4Error`].
fn status_error(op: &'static str, resp: &IppRequestResponse) -> A4Error {
    let status = resp.header().status_code();
    A4Error::Status {
        op,
        status: if status == StatusCode::UnknownStatusCode {
            format!("0x{:04X}", resp.header().operation_or_status)
        } else {
            status.to_string()
        },
    }
}

/// Adds an operation attribute the `ipp` crate's builders have no method for.
fn with_operation_attribute(
    mut r: IppRequestResponse,
    name: &str,
    value: Result<IppValue, IppParseError>,
) -> Result<IppRequestResponse, IppParseError> {
    let a = IppAttribute::with_name(name, value?)?;
    r.attributes_mut().add(DelimiterTag::OperationAttributes, a);
    Ok(r)
}

/// What became of a Cancel-Job.
enum Cancel {
    /// The job is over: canceled now, or it had already ended. Its last reading, unless the
    /// printer no longer knows the job (it forgets only finished jobs).
    Ended(Option<JobProgress>),
    /// The printer took the cancel, but the job had not ended within the request timeout;
    /// its last reading, if any.
    Pending(Option<JobProgress>),
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
            abandoned: Vec::new(),
        }
    }

    fn uri(&self) -> Result<Uri, A4Error> {
        self.uri.clone().map_err(A4Error::Uri)
    }

    /// One request and its response, whatever IPP status it carries.
    fn exchange(
        &self,
        op: &'static str,
        req: Result<IppRequestResponse, IppParseError>,
    ) -> Result<IppRequestResponse, A4Error> {
        let req = req.map_err(|e| A4Error::Build {
            op,
            reason: e.to_string(),
        })?;
        let client = IppClient::builder(self.uri()?)
            .request_timeout(self.config.request_timeout)
            .build();
        client
            .send(req)
            .map_err(|source| A4Error::Transport { op, source })
    }

    /// One request whose response must be a success.
    fn send(
        &self,
        op: &'static str,
        req: Result<IppRequestResponse, IppParseError>,
    ) -> Result<IppRequestResponse, A4Error> {
        let resp = self.exchange(op, req)?;
        if !resp.header().status_code().is_success() {
            return Err(status_error(op, &resp));
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

    /// Reads the status, reports a change and the line's health; when the printer answers,
    /// cancels the jobs abandoned while it did not.
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
                self.cancel_abandoned(ctx);
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

    /// Get-Job-Attributes: the job's progress and name, or `None` when the printer does not
    /// know the job (`client-error-not-found`).
    fn read_job(&self, job_id: i32) -> Result<Option<(JobProgress, Option<String>)>, A4Error> {
        const OP: &str = "Get-Job-Attributes";
        let req = IppOperationBuilder::get_job_attributes(self.uri()?, job_id)
            .user_name(&self.config.user)
            .build()
            .map(Into::into);
        let resp = self.exchange(OP, req)?;
        match resp.header().status_code() {
            StatusCode::ClientErrorNotFound => return Ok(None),
            s if !s.is_success() => return Err(status_error(OP, &resp)),
            _ => {}
        }
        resp.attributes()
            .groups_of(DelimiterTag::JobAttributes)
            .find_map(|g| job_in(g, job_id))
            .map(Some)
            .ok_or(A4Error::Missing {
                op: OP,
                attribute: "job-state",
            })
    }

    fn job(&self, job_id: i32) -> Result<JobProgress, A4Error> {
        match self.read_job(job_id)? {
            Some((p, _)) => Ok(p),
            None => Err(A4Error::Status {
                op: "Get-Job-Attributes",
                status: StatusCode::ClientErrorNotFound.to_string(),
            }),
        }
    }

    /// Cancel-Job, confirmed by reading the job back until it is over, for at most `wait`
    /// (the job is read at least once). A job already over, or unknown to the printer, is
    /// [`Cancel::Ended`]: RFC 8011 has `client-error-not-possible` for the first, but
    /// printers differ, so the job is read.
    fn cancel(&self, job_id: i32, wait: Duration) -> Result<Cancel, A4Error> {
        const OP: &str = "Cancel-Job";
        let req = IppOperationBuilder::cancel_job(self.uri()?, job_id)
            .user_name(&self.config.user)
            .build()
            .map(Into::into);
        let resp = self.exchange(OP, req)?;
        match resp.header().status_code() {
            StatusCode::ClientErrorNotFound => return Ok(Cancel::Ended(None)),
            s if !s.is_success() => {
                return match self.read_job(job_id) {
                    Ok(None) => Ok(Cancel::Ended(None)),
                    Ok(Some((p, _))) if p.state.is_terminal() => Ok(Cancel::Ended(Some(p))),
                    _ => Err(status_error(OP, &resp)),
                };
            }
            _ => {}
        }
        let until = Instant::now() + wait;
        let mut last = None;
        loop {
            match self.read_job(job_id) {
                Ok(None) => return Ok(Cancel::Ended(last)),
                Ok(Some((p, _))) if p.state.is_terminal() => return Ok(Cancel::Ended(Some(p))),
                Ok(Some((p, _))) => last = Some(p),
                Err(_) => {}
            }
            if Instant::now() >= until {
                return Ok(Cancel::Pending(last));
            }
            std::thread::sleep(self.config.job_poll);
        }
    }

    /// Cancels a job the driver gives up on, waiting for it to end as long as for a request
    /// (the printer gets as long to carry the cancel out as to answer); when the printer
    /// does not confirm it, the job is remembered and canceled once the printer answers
    /// again. Returns the job's last reading, if any, and what to add to the completion's
    /// detail.
    fn abandon(&mut self, job_id: i32, name: &str) -> (Option<JobProgress>, String) {
        match self.cancel(job_id, self.config.request_timeout) {
            Ok(Cancel::Ended(p)) => (p, "; canceled".into()),
            Ok(Cancel::Pending(p)) => {
                self.remember(job_id, name);
                (
                    p,
                    "; cancel not yet carried out by the printer, asked again later".into(),
                )
            }
            Err(e) => {
                self.remember(job_id, name);
                (
                    None,
                    format!("; cancel failed ({e}), retried when the printer answers"),
                )
            }
        }
    }

    fn remember(&mut self, job_id: i32, name: &str) {
        if self.abandoned.iter().any(|(id, _)| *id == job_id) {
            return;
        }
        if self.abandoned.len() >= MAX_ABANDONED {
            self.abandoned.remove(0);
        }
        self.abandoned.push((job_id, name.to_owned()));
    }

    /// Cancels the abandoned jobs the printer can be asked about now, without waiting (this
    /// runs on every status read, also while a job is followed); those it does not confirm
    /// over stay for the next time. A job over is reported with its final pages.
    fn cancel_abandoned(&mut self, ctx: &Ctx<A4Event>) {
        for (job_id, name) in std::mem::take(&mut self.abandoned) {
            let seen = match self.read_job(job_id) {
                Ok(seen) => seen,
                Err(_) => {
                    self.remember(job_id, &name);
                    continue;
                }
            };
            let Some((p, printer_name)) = seen else {
                continue; // Forgotten: printers forget only finished jobs.
            };
            if printer_name.is_some_and(|n| n != name) {
                continue; // The printer restarted: this id is another job now.
            }
            if p.state.is_terminal() {
                ctx.unsolicited(A4Event::Job(p));
                continue;
            }
            match self.cancel(job_id, Duration::ZERO) {
                Ok(Cancel::Ended(Some(p))) => ctx.unsolicited(A4Event::Job(p)),
                Ok(Cancel::Ended(None)) => {}
                Ok(Cancel::Pending(_)) | Err(_) => self.remember(job_id, &name),
            }
        }
    }

    /// Get-Jobs with this `which-jobs`: every listed job's name and progress, in the
    /// printer's order.
    fn get_jobs(&self, which: &str) -> Result<Vec<(String, JobProgress)>, A4Error> {
        const OP: &str = "Get-Jobs";
        // The owner's name goes with it: CUPS shows job names only to their owner.
        let requested = FIND_ATTRIBUTES
            .iter()
            .map(|a| IppValue::new_keyword(*a))
            .collect::<Result<Vec<_>, _>>()
            .map(IppValue::Array);
        let req = IppOperationBuilder::get_jobs(self.uri()?)
            .user_name(&self.config.user)
            .build()
            .map(Into::<IppRequestResponse>::into)
            .and_then(|r| with_operation_attribute(r, "which-jobs", IppValue::new_keyword(which)))
            .and_then(|r| with_operation_attribute(r, "requested-attributes", requested));
        let resp = self.send(OP, req)?;
        Ok(resp
            .attributes()
            .groups_of(DelimiterTag::JobAttributes)
            .filter_map(|g| {
                let id = g.get("job-id").map(IppAttribute::value).and_then(int)?;
                let (p, name) = job_in(g, id)?;
                Some((name?, p))
            })
            .collect())
    }

    /// The newest job named exactly `name` (see [`A4Command::FindJob`]).
    fn find_job(&self, name: &str) -> Result<Option<JobProgress>, A4Error> {
        let jobs = match self.get_jobs("all") {
            Ok(jobs) => jobs,
            // An IPP/1.1 printer knows only these two. Not-completed first: a job that ends
            // between the two requests is then seen in the second, never in neither.
            Err(A4Error::Status { .. }) => {
                let mut jobs = self.get_jobs("not-completed")?;
                jobs.extend(self.get_jobs("completed")?);
                jobs
            }
            Err(e) => return Err(e),
        };
        // Of two readings of one job, the later wins.
        Ok(jobs
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, p)| p)
            .fold(None, |best: Option<JobProgress>, p| match best {
                Some(b) if b.job_id > p.job_id => Some(b),
                _ => Some(p),
            }))
    }

    /// Create-Job: the new job's id.
    fn create(&self, name: &str) -> Result<i32, A4Error> {
        const OP: &str = "Create-Job";
        // The ipp crate's Create-Job builder has no user name: add it as an operation
        // attribute, so the job's owner is the same on every later operation.
        let user = IppValue::new_name_without_language(self.config.user.clone());
        let req = IppOperationBuilder::create_job(self.uri()?)
            .job_name(name)
            .build()
            .map(Into::<IppRequestResponse>::into)
            .and_then(|r| with_operation_attribute(r, "requesting-user-name", user));
        let resp = self.send(OP, req)?;
        find(&resp, DelimiterTag::JobAttributes, "job-id")
            .and_then(int)
            .ok_or(A4Error::Missing {
                op: OP,
                attribute: "job-id",
            })
    }

    fn send_document(&self, job_id: i32, pdf: Vec<u8>) -> Result<(), A4Error> {
        let req = IppOperationBuilder::send_document(
            self.uri()?,
            job_id,
            IppPayload::new(std::io::Cursor::new(pdf)),
        )
        .user_name(&self.config.user)
        .document_format("application/pdf")
        .last(true)
        .build()
        .map(Into::into);
        self.send("Send-Document", req).map(|_| ())
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
        let A4Job { name, pdf } = job;
        let job_id = match self.create(&name) {
            Ok(id) => id,
            Err(e) => return Outcome::fail(CompletionCode::HardwareError, e.to_string()),
        };
        ctx.emit(A4Event::Submitted {
            name: name.clone(),
            job_id,
        });
        if let Err(e) = self.send_document(job_id, pdf) {
            // Leave no half-submitted job behind.
            let (_, cancel) = self.abandon(job_id, &name);
            return Outcome::fail(CompletionCode::HardwareError, format!("{e}{cancel}"));
        }
        self.follow(ctx, job_id, &name, before)
    }

    /// Follows a submitted job to its end, within the job deadline.
    fn follow(
        &mut self,
        ctx: &Ctx<A4Event>,
        job_id: i32,
        name: &str,
        mut status: A4Status,
    ) -> Outcome<A4Payload> {
        let deadline = Instant::now() + self.config.job_timeout;
        let mut last: Option<JobProgress> = None;
        let mut stalled_since: Option<Instant> = None;
        let mut errors = 0u32;
        loop {
            if ctx.is_canceled() {
                return self.give_up(
                    ctx,
                    (job_id, name),
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
                        // The job may go on printing unseen: it is canceled all the same,
                        // now or when the printer answers again.
                        return self.give_up(
                            ctx,
                            (job_id, name),
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
                    return self.give_up(
                        ctx,
                        (job_id, name),
                        last,
                        status,
                        CompletionCode::HardwareError,
                        format!("job {job_id} stopped: {why}"),
                    );
                }
            } else {
                stalled_since = None;
            }
            if Instant::now() >= deadline {
                return self.give_up(
                    ctx,
                    (job_id, name),
                    last,
                    status,
                    CompletionCode::TimeOut,
                    format!("job {job_id} not done in time"),
                );
            }
            std::thread::sleep(self.config.job_poll);
        }
    }

    /// A job the driver stops following: canceled on the printer (see [`Self::abandon`]),
    /// then a failed completion with the job as last read (after the cancel it says how many
    /// pages came out) and the detail.
    fn give_up(
        &mut self,
        ctx: &Ctx<A4Event>,
        (job_id, name): (i32, &str),
        last: Option<JobProgress>,
        status: A4Status,
        code: CompletionCode,
        detail: String,
    ) -> Outcome<A4Payload> {
        let (after, cancel) = self.abandon(job_id, name);
        let read = after.or_else(|| self.job(job_id).ok());
        let job = match read {
            Some(p) => {
                if last != Some(p) {
                    ctx.emit(A4Event::Job(p));
                }
                p
            }
            None => last.unwrap_or(JobProgress {
                job_id,
                state: JobState::Unknown(0),
                pages_completed: 0,
            }),
        };
        let pages = job.pages_completed;
        Outcome::fail_with(
            code,
            A4Payload::Job(JobReport { job, status }),
            format!("{detail}{cancel} ({pages} pages printed)"),
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
        // A printer that cannot be reached is not ready; one that answers with an error
        // status refused the operation.
        let failed = |e: A4Error| {
            let code = match e {
                A4Error::Transport { .. } | A4Error::Uri(_) => CompletionCode::DeviceNotReady,
                _ => CompletionCode::HardwareError,
            };
            Outcome::fail(code, e.to_string())
        };
        match command {
            A4Command::Print(job) => self.print(ctx, job),
            A4Command::Status => match self.refresh(ctx) {
                Ok(s) => Outcome::ok(A4Payload::Status(s)),
                Err(e) => Outcome::fail(CompletionCode::DeviceNotReady, e.to_string()),
            },
            A4Command::FindJob { name } => match self.find_job(&name) {
                Ok(found) => Outcome::ok(A4Payload::Found(found)),
                Err(e) => failed(e),
            },
            A4Command::Cancel { job_id } => {
                match self.cancel(job_id, self.config.request_timeout) {
                    Ok(Cancel::Ended(_)) => Outcome::ok(A4Payload::Done),
                    Ok(Cancel::Pending(p)) => Outcome::fail(
                        CompletionCode::TimeOut,
                        format!(
                            "job {job_id} canceled but not over in time (last seen {:?})",
                            p.map(|p| p.state)
                        ),
                    ),
                    Err(e) => failed(e),
                }
            }
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
