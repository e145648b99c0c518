//! The simulated printer's mechanics: paper tray, toner, a first-in first-out job queue and
//! the injectable faults. Time comes in as an argument (`now`), so the model is
//! deterministic and testable without sleeping; the only I/O is saving a completed job's PDF.
//!
//! One page comes out every `page` interval while a job prints. A stopping condition (empty
//! tray, empty toner) pauses the job (`processing-stopped`) until it is fixed; a jam aborts
//! the job and stops the printer until it is cleared, as a real laser printer would.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::pdf::sanitise_name;

/// Jobs kept in memory, finished ones included (the oldest finished job is forgotten first).
pub const MAX_JOBS_KEPT: usize = 64;
/// Jobs not yet finished at once; more are refused with server-error-busy.
pub const MAX_ACTIVE_JOBS: usize = 8;
/// Below this many sheets the tray reports `media-low`.
pub const LOW_PAPER: u32 = 20;
/// The largest tray load accepted.
pub const MAX_TRAY: u32 = 100_000;
/// A Create-Job whose document never comes is aborted after this long.
pub const INCOMING_TIMEOUT: Duration = Duration::from_secs(60);

/// The toner cartridge, as the control socket sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toner {
    /// Plenty left.
    Ok,
    /// Printing goes on; `toner-low-warning`.
    Low,
    /// Nothing prints; `toner-empty-error`, jobs refused.
    Empty,
}

impl Toner {
    /// `marker-levels` in percent.
    pub fn level(self) -> i32 {
        match self {
            Toner::Ok => 80,
            Toner::Low => 10,
            Toner::Empty => 0,
        }
    }
}

/// `printer-state` (RFC 8011 5.4.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrinterState {
    /// 3.
    Idle = 3,
    /// 4.
    Processing = 4,
    /// 5.
    Stopped = 5,
}

impl PrinterState {
    /// The name used in the control socket's answers.
    pub fn name(self) -> &'static str {
        match self {
            PrinterState::Idle => "idle",
            PrinterState::Processing => "processing",
            PrinterState::Stopped => "stopped",
        }
    }
}

/// `job-state` (RFC 8011 5.3.7); `pending-held` is never used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// 3: queued, or waiting for its document after Create-Job.
    Pending = 3,
    /// 5: printing.
    Processing = 5,
    /// 6: paused by an empty tray or empty toner.
    ProcessingStopped = 6,
    /// 7: canceled by a client.
    Canceled = 7,
    /// 8: aborted by the printer (jam, or no document in time).
    Aborted = 8,
    /// 9: every page printed.
    Completed = 9,
}

impl JobState {
    /// Whether the job is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Canceled | JobState::Aborted | JobState::Completed
        )
    }

    /// The RFC keyword, as the control socket reports it.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Processing => "processing",
            JobState::ProcessingStopped => "processing-stopped",
            JobState::Canceled => "canceled",
            JobState::Aborted => "aborted",
            JobState::Completed => "completed",
        }
    }
}

/// One job.
#[derive(Debug)]
pub struct Job {
    /// `job-id`, from 1.
    pub id: i32,
    /// `job-name` as the client sent it (bounded by IPP to 255 bytes).
    pub name: String,
    /// `job-originating-user-name`.
    pub user: String,
    /// `job-state`.
    pub state: JobState,
    /// Pages in the document (`job-impressions`); 0 until it arrives.
    pub pages: u32,
    /// Pages printed (`job-impressions-completed`).
    pub printed: u32,
    /// The document while the job is not finished; dropped when it ends.
    document: Option<Vec<u8>>,
    /// Why it ended, when the printer ended it (`job-state-message`).
    pub message: Option<String>,
    /// When it was created.
    pub created: Instant,
    /// When it started printing.
    pub processing: Option<Instant>,
    /// When it ended.
    pub completed: Option<Instant>,
    /// Where its PDF was saved.
    pub file: Option<PathBuf>,
    /// Why saving failed.
    pub save_error: Option<String>,
}

impl Job {
    /// Whether the job was created without a document and is still waiting for it.
    pub fn awaits_document(&self) -> bool {
        self.state == JobState::Pending && self.document.is_none()
    }

    /// `job-state-reasons`.
    pub fn reasons(&self) -> &'static [&'static str] {
        match self.state {
            JobState::Pending if self.document.is_none() => &["job-incoming"],
            JobState::Pending => &["job-queued"],
            JobState::Processing => &["job-printing"],
            JobState::ProcessingStopped => &["printer-stopped"],
            JobState::Canceled => &["job-canceled-by-user"],
            JobState::Aborted => &["aborted-by-system"],
            JobState::Completed => &["job-completed-successfully"],
        }
    }

    fn status_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "user": self.user,
            "state": self.state.name(),
            "reasons": self.reasons(),
            "pages": self.pages,
            "impressions_completed": self.printed,
            "message": self.message,
            "file": self.file.as_ref().map(|p| p.display().to_string()),
            "save_error": self.save_error,
        })
    }
}

/// Why a job cannot be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// Jammed or out of toner: server-error-not-accepting-jobs.
    NotAccepting,
    /// Too many unfinished jobs: server-error-busy.
    Busy,
}

/// Why a job operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobError {
    /// No such job (or forgotten): client-error-not-found.
    NotFound,
    /// Not in a state that allows it: client-error-not-possible.
    NotPossible,
}

/// A control-socket command (`{"cmd": ...}`), see docs/SIMULATORS.md.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    /// The next job (or the one printing) jams after this many more pages.
    Jam {
        /// Pages that still come out before the jam.
        #[serde(default)]
        after_pages: u32,
    },
    /// Clear a jam (and a jam still armed). (`{}`: a unit variant would let unknown fields
    /// through.)
    Clear {},
    /// Load the tray with exactly this many sheets.
    Paper {
        /// Sheets in the tray after loading.
        sheets: u32,
    },
    /// Set the toner cartridge's state.
    Toner {
        /// `ok`, `low` or `empty`.
        state: Toner,
    },
    /// Take the printer off the network (it stops answering) or back on.
    Offline {
        /// Off the network?
        on: bool,
    },
    /// Whether Get-Jobs takes `which-jobs` `all` (RFC 8011; the default) or refuses it
    /// with client-error-attributes-or-values-not-supported as an IPP/1.1-era printer does
    /// (RFC 2911 has only `completed` and `not-completed`), so a client's fallback can be
    /// tested.
    WhichJobsAll {
        /// Take `all`?
        on: bool,
    },
    /// Change nothing, just answer.
    Status {},
}

/// The printer.
#[derive(Debug)]
pub struct Device {
    /// Sheets in the tray.
    pub paper: u32,
    /// The toner cartridge.
    pub toner: Toner,
    /// Pages before an armed jam.
    pub jam_after: Option<u32>,
    /// Jammed until cleared.
    pub jammed: bool,
    /// Off the network: the HTTP server drops every request unanswered.
    pub offline: bool,
    /// Pages printed since start.
    pub printed_pages: u64,
    /// Get-Jobs takes `which-jobs` `all` ([`Control::WhichJobsAll`]).
    pub which_jobs_all: bool,
    page: Duration,
    save_dir: Option<PathBuf>,
    next_id: i32,
    jobs: VecDeque<Job>,
    next_page_at: Option<Instant>,
}

impl Device {
    /// A printer with `paper` sheets, printing one page every `page` (zero: instantly),
    /// saving completed documents to `save_dir`.
    pub fn new(paper: u32, page: Duration, save_dir: Option<PathBuf>) -> Device {
        Device {
            paper: paper.min(MAX_TRAY),
            toner: Toner::Ok,
            jam_after: None,
            jammed: false,
            offline: false,
            printed_pages: 0,
            which_jobs_all: true,
            page,
            save_dir,
            next_id: 1,
            jobs: VecDeque::new(),
            next_page_at: None,
        }
    }

    /// `printer-is-accepting-jobs`: a jam or an empty cartridge refuses new jobs; an empty
    /// tray does not (the job waits for paper, as on a real printer).
    pub fn accepting(&self) -> bool {
        !self.jammed && self.toner != Toner::Empty
    }

    /// `printer-state`.
    pub fn state(&self) -> PrinterState {
        if self.jammed || self.toner == Toner::Empty || self.paper == 0 {
            PrinterState::Stopped
        } else if self.jobs.iter().any(|j| j.state == JobState::Processing) {
            PrinterState::Processing
        } else {
            PrinterState::Idle
        }
    }

    /// `printer-state-reasons` (`none` when there is nothing to say).
    pub fn reasons(&self) -> Vec<&'static str> {
        let mut r = Vec::new();
        if self.jammed {
            r.push("media-jam-error");
        }
        if self.paper == 0 {
            r.push("media-empty-error");
            if self
                .jobs
                .iter()
                .any(|j| j.state == JobState::ProcessingStopped)
            {
                r.push("media-needed-error");
            }
        } else if self.paper < LOW_PAPER {
            r.push("media-low-warning");
        }
        match self.toner {
            Toner::Ok => {}
            Toner::Low => r.push("toner-low-warning"),
            Toner::Empty => r.push("toner-empty-error"),
        }
        if r.is_empty() {
            r.push("none");
        }
        r
    }

    /// `printer-state-message`.
    pub fn message(&self) -> &'static str {
        if self.jammed {
            "Paper jam: open the cover and remove the sheet."
        } else if self.toner == Toner::Empty {
            "Toner empty: replace the cartridge."
        } else if self.paper == 0 {
            "Tray empty: load A4 paper."
        } else if self.state() == PrinterState::Processing {
            "Printing."
        } else {
            "Ready."
        }
    }

    /// Jobs, oldest first.
    pub fn jobs(&self) -> impl DoubleEndedIterator<Item = &Job> {
        self.jobs.iter()
    }

    /// One job.
    pub fn job(&self, id: i32) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    fn job_mut(&mut self, id: i32) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// Jobs not finished.
    pub fn active_jobs(&self) -> usize {
        self.jobs.iter().filter(|j| !j.state.is_terminal()).count()
    }

    /// Creates a job waiting for its document (Create-Job, or the first half of Print-Job).
    pub fn create_job(&mut self, name: &str, user: &str, now: Instant) -> Result<i32, CreateError> {
        if !self.accepting() {
            return Err(CreateError::NotAccepting);
        }
        if self.active_jobs() >= MAX_ACTIVE_JOBS {
            return Err(CreateError::Busy);
        }
        while self.jobs.len() >= MAX_JOBS_KEPT {
            // MAX_ACTIVE_JOBS < MAX_JOBS_KEPT, so a finished job is always there to forget.
            let Some(i) = self.jobs.iter().position(|j| j.state.is_terminal()) else {
                return Err(CreateError::Busy);
            };
            self.jobs.remove(i);
        }
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.jobs.push_back(Job {
            id,
            name: name.to_owned(),
            user: user.to_owned(),
            state: JobState::Pending,
            pages: 0,
            printed: 0,
            document: None,
            message: None,
            created: now,
            processing: None,
            completed: None,
            file: None,
            save_error: None,
        });
        Ok(id)
    }

    /// Gives a job created without a document its checked PDF of `pages` pages.
    pub fn attach_document(
        &mut self,
        id: i32,
        pdf: Vec<u8>,
        pages: u32,
        now: Instant,
    ) -> Result<(), JobError> {
        let job = self.job_mut(id).ok_or(JobError::NotFound)?;
        if !job.awaits_document() {
            return Err(JobError::NotPossible);
        }
        job.document = Some(pdf);
        job.pages = pages;
        self.step(now);
        Ok(())
    }

    /// Cancels an unfinished job (Cancel-Job); pages already out stay counted.
    pub fn cancel(&mut self, id: i32, now: Instant) -> Result<(), JobError> {
        let job = self.job_mut(id).ok_or(JobError::NotFound)?;
        if job.state.is_terminal() {
            return Err(JobError::NotPossible);
        }
        let was_printing = matches!(
            job.state,
            JobState::Processing | JobState::ProcessingStopped
        );
        job.state = JobState::Canceled;
        job.document = None;
        job.completed = Some(now);
        if was_printing {
            self.next_page_at = None;
        }
        self.step(now);
        Ok(())
    }

    /// Applies a control command; the answer is an error text for a refused one (which
    /// changes nothing).
    pub fn apply(&mut self, cmd: &Control, now: Instant) -> Result<(), String> {
        match *cmd {
            Control::Jam { after_pages } => self.jam_after = Some(after_pages),
            Control::Clear {} => {
                self.jammed = false;
                self.jam_after = None;
            }
            Control::Paper { sheets } => {
                if sheets > MAX_TRAY {
                    return Err(format!("at most {MAX_TRAY} sheets"));
                }
                self.paper = sheets;
            }
            Control::Toner { state } => self.toner = state,
            Control::Offline { on } => self.offline = on,
            Control::WhichJobsAll { on } => self.which_jobs_all = on,
            Control::Status {} => {}
        }
        self.step(now);
        Ok(())
    }

    /// The control socket's answer.
    pub fn status_json(&self) -> Value {
        json!({
            "ok": true,
            "paper": self.paper,
            "toner": self.toner,
            "jammed": self.jammed,
            "jam_after_pages": self.jam_after,
            "offline": self.offline,
            "accepting": self.accepting(),
            "printer_state": self.state().name(),
            "printer_state_reasons": self.reasons(),
            "printed_pages": self.printed_pages,
            "which_jobs_all": self.which_jobs_all,
            "jobs": self.jobs.iter().map(Job::status_json).collect::<Vec<_>>(),
        })
    }

    /// When [`Device::step`] next has something to do (a page due), if anything.
    pub fn next_wake(&self) -> Option<Instant> {
        self.next_page_at
    }

    /// Advances the printer to `now`: starts the next job, prints the pages that are due,
    /// pauses on an empty tray or cartridge, jams, completes and saves.
    pub fn step(&mut self, now: Instant) {
        self.expire_incoming(now);
        // Every turn prints a page or changes a job's state, and a page is printed at most
        // once per page of the current job, so the loop ends.
        loop {
            let current = self
                .jobs
                .iter()
                .position(|j| matches!(j.state, JobState::Processing | JobState::ProcessingStopped))
                .or_else(|| {
                    if self.jammed {
                        None
                    } else {
                        self.jobs
                            .iter()
                            .position(|j| j.state == JobState::Pending && j.document.is_some())
                    }
                });
            let Some(i) = current else {
                self.next_page_at = None;
                return;
            };
            let blocked = self.paper == 0 || self.toner == Toner::Empty;
            let page = self.page;
            let Some(job) = self.jobs.get_mut(i) else {
                return;
            };
            match job.state {
                JobState::Pending => {
                    job.state = JobState::Processing;
                    job.processing = Some(now);
                    self.next_page_at = Some(now + page);
                }
                JobState::ProcessingStopped if !blocked => {
                    job.state = JobState::Processing;
                    self.next_page_at = Some(now + page);
                }
                _ => {}
            }
            if blocked {
                job.state = JobState::ProcessingStopped;
                self.next_page_at = None;
                return;
            }
            let due = *self.next_page_at.get_or_insert(now + page);
            if now < due {
                return;
            }
            if self.jam_after == Some(0) {
                self.jam_after = None;
                self.jammed = true;
                job.state = JobState::Aborted;
                job.message = Some(format!("Paper jam after {} pages.", job.printed));
                job.document = None;
                job.completed = Some(now);
                self.next_page_at = None;
                continue;
            }
            self.paper -= 1;
            self.printed_pages += 1;
            self.jam_after = self.jam_after.map(|n| n.saturating_sub(1));
            job.printed += 1;
            if job.printed >= job.pages {
                job.state = JobState::Completed;
                job.completed = Some(now);
                let document = job.document.take();
                if let (Some(dir), Some(pdf)) = (&self.save_dir, document) {
                    match save(dir, job.id, &job.name, &pdf) {
                        Ok(path) => job.file = Some(path),
                        Err(e) => {
                            eprintln!("a4-printer: saving job {}: {e}", job.id);
                            job.save_error = Some(e.to_string());
                        }
                    }
                }
                self.next_page_at = None;
            } else {
                self.next_page_at = Some(due + page);
            }
        }
    }

    fn expire_incoming(&mut self, now: Instant) {
        for job in &mut self.jobs {
            if job.awaits_document() && now.duration_since(job.created) >= INCOMING_TIMEOUT {
                job.state = JobState::Aborted;
                job.message = Some("No document arrived.".into());
                job.completed = Some(now);
            }
        }
    }
}

/// Saves a completed job as `DIR/<id>-<name>.pdf`, through a temporary file so a reader
/// never sees half a document.
fn save(dir: &Path, id: i32, name: &str, pdf: &[u8]) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{id}-{}.pdf", sanitise_name(name)));
    let part = dir.join(format!(".{id}.pdf.part"));
    std::fs::write(&part, pdf)?;
    std::fs::rename(&part, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: Duration = Duration::from_millis(100);

    fn printer(paper: u32) -> (Device, Instant) {
        (Device::new(paper, PAGE, None), Instant::now())
    }

    fn submit(d: &mut Device, pages: u32, t: Instant) -> i32 {
        let id = d.create_job("doc", "kiosk", t).expect("create");
        d.attach_document(id, b"%PDF-".to_vec(), pages, t)
            .expect("attach");
        id
    }

    #[test]
    fn one_page_comes_out_per_interval() {
        let (mut d, t) = printer(10);
        let id = submit(&mut d, 3, t);
        assert_eq!(d.job(id).map(|j| j.state), Some(JobState::Processing));
        assert_eq!(d.state(), PrinterState::Processing);
        d.step(t + PAGE);
        assert_eq!(d.job(id).map(|j| j.printed), Some(1));
        d.step(t + PAGE * 3);
        let j = d.job(id).expect("job");
        assert_eq!((j.state, j.printed), (JobState::Completed, 3));
        assert_eq!((d.paper, d.printed_pages), (7, 3));
        assert_eq!(d.state(), PrinterState::Idle);
        assert_eq!(d.reasons(), ["media-low-warning"]);
    }

    #[test]
    fn zero_interval_prints_at_once() {
        let mut d = Device::new(500, Duration::ZERO, None);
        let t = Instant::now();
        let id = submit(&mut d, 5, t);
        assert_eq!(d.job(id).map(|j| j.state), Some(JobState::Completed));
        assert_eq!(d.reasons(), ["none"]);
    }

    #[test]
    fn a_jam_aborts_the_job_and_stops_the_printer_until_cleared() {
        let (mut d, t) = printer(100);
        d.apply(&Control::Jam { after_pages: 1 }, t).expect("jam");
        let a = submit(&mut d, 3, t);
        let b = submit(&mut d, 1, t);
        d.step(t + PAGE * 10);
        let j = d.job(a).expect("job");
        assert_eq!((j.state, j.printed), (JobState::Aborted, 1));
        assert!(d.jammed && !d.accepting());
        assert_eq!(d.state(), PrinterState::Stopped);
        assert_eq!(d.reasons(), ["media-jam-error"]);
        assert_eq!(d.job(b).map(|j| j.state), Some(JobState::Pending));
        assert_eq!(
            d.create_job("x", "y", t).err(),
            Some(CreateError::NotAccepting)
        );
        let t2 = t + PAGE * 20;
        d.apply(&Control::Clear {}, t2).expect("clear");
        d.step(t2 + PAGE);
        assert_eq!(d.job(b).map(|j| j.state), Some(JobState::Completed));
    }

    #[test]
    fn an_empty_tray_pauses_the_job_until_paper_comes() {
        let (mut d, t) = printer(2);
        let id = submit(&mut d, 3, t);
        d.step(t + PAGE * 10);
        let j = d.job(id).expect("job");
        assert_eq!((j.state, j.printed), (JobState::ProcessingStopped, 2));
        assert_eq!(d.reasons(), ["media-empty-error", "media-needed-error"]);
        assert_eq!(d.state(), PrinterState::Stopped);
        let t2 = t + PAGE * 20;
        d.apply(&Control::Paper { sheets: 5 }, t2).expect("paper");
        d.step(t2 + PAGE);
        let j = d.job(id).expect("job");
        assert_eq!((j.state, j.printed), (JobState::Completed, 3));
        assert_eq!(d.paper, 4);
    }

    #[test]
    fn empty_toner_refuses_jobs_and_pauses_the_one_printing() {
        let (mut d, t) = printer(100);
        let id = submit(&mut d, 3, t);
        d.step(t + PAGE);
        d.apply(
            &Control::Toner {
                state: Toner::Empty,
            },
            t + PAGE,
        )
        .expect("toner");
        d.step(t + PAGE * 10);
        let j = d.job(id).expect("job");
        assert_eq!((j.state, j.printed), (JobState::ProcessingStopped, 1));
        assert_eq!(
            d.create_job("x", "y", t).err(),
            Some(CreateError::NotAccepting)
        );
        assert_eq!(d.cancel(id, t + PAGE * 11), Ok(()));
        assert_eq!(d.cancel(id, t + PAGE * 11), Err(JobError::NotPossible));
        assert_eq!(d.cancel(99, t), Err(JobError::NotFound));
    }

    #[test]
    fn memory_is_bounded() {
        let mut d = Device::new(MAX_TRAY, Duration::ZERO, None);
        let t = Instant::now();
        for _ in 0..MAX_JOBS_KEPT * 3 {
            submit(&mut d, 1, t);
        }
        assert_eq!(d.jobs().count(), MAX_JOBS_KEPT);
        let mut waiting = Device::new(10, Duration::ZERO, None);
        for _ in 0..MAX_ACTIVE_JOBS {
            waiting.create_job("x", "y", t).expect("create");
        }
        assert_eq!(
            waiting.create_job("x", "y", t).err(),
            Some(CreateError::Busy)
        );
        // Documents that never come are given up on.
        waiting.step(t + INCOMING_TIMEOUT);
        assert_eq!(waiting.active_jobs(), 0);
    }

    #[test]
    fn control_commands_parse_strictly() {
        let p = |s: &str| serde_json::from_str::<Control>(s);
        assert_eq!(
            p(r#"{"cmd":"jam","after_pages":2}"#).ok(),
            Some(Control::Jam { after_pages: 2 })
        );
        assert_eq!(
            p(r#"{"cmd":"jam"}"#).ok(),
            Some(Control::Jam { after_pages: 0 })
        );
        assert_eq!(
            p(r#"{"cmd":"toner","state":"low"}"#).ok(),
            Some(Control::Toner { state: Toner::Low })
        );
        assert_eq!(
            p(r#"{"cmd":"which_jobs_all","on":false}"#).ok(),
            Some(Control::WhichJobsAll { on: false })
        );
        for bad in [
            r#"{"cmd":"jam","after":2}"#,
            r#"{"cmd":"paper"}"#,
            r#"{"cmd":"paper","sheets":-1}"#,
            r#"{"cmd":"toner","state":"half"}"#,
            r#"{"cmd":"status","x":1}"#,
            r#"{"cmd":"which_jobs_all"}"#,
            r#"{"cmd":"launch"}"#,
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
