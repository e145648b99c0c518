//! The two edges the orchestrator talks through: the devices and the e-government network.
//!
//! Both are traits so the orchestrator can be driven by the real drivers over serial ports
//! and mutual TLS (the daemon, the end-to-end tests) or by in-memory doubles (its unit
//! tests and the throughput benchmark). Device commands are fire-and-forget: their results
//! come back as [`Input`]s on the orchestrator's one queue, in the order the world
//! produced them, exactly like a real device's events.

use kiosk_core::session::Event;
use kiosk_core::{Coin, DocCode, IssueNumber, Note, Won};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What the world tells the orchestrator. Money and paper events carry what names them
/// physically (a device serial and counter, or the intent they settle), so the
/// orchestrator books each once however often a driver reports it.
#[derive(Debug)]
pub enum Input {
    /// The coin acceptor credited a coin: its own event counter is its device key.
    CoinCredited {
        /// The coin.
        coin: Coin,
        /// The acceptor's serial number.
        serial: u32,
        /// The ccTalk event counter of this coin's event.
        counter: u8,
    },
    /// The acceptor's counter moved past events that are not money (rejects, alarms).
    CoinCounter {
        /// The acceptor's serial number.
        serial: u32,
        /// The counter now.
        counter: u8,
    },
    /// The acceptor's counter jumped by more than its buffer holds: events were lost.
    /// `coins` are the ones still in the buffer (counter, coin): physically taken.
    CoinsLost {
        /// The acceptor's serial number.
        serial: u32,
        /// The counter before.
        previous: u8,
        /// The counter now.
        current: u8,
        /// The coins still known.
        coins: Vec<(u8, Coin)>,
    },
    /// The acceptor reset: its counter is back at 0.
    CoinAcceptorReset,
    /// The validator credited a note: its stacked counter is its device key.
    NoteCredited {
        /// The note.
        note: Note,
        /// The validator's serial number.
        serial: u32,
        /// The validator's stacked counter including this note.
        stacked: u32,
    },
    /// A hopper finished a payout.
    HopperSettled {
        /// The coin.
        coin: Coin,
        /// Coins that left.
        paid: u32,
        /// Coins that did not.
        unpaid: u32,
        /// The dispense intent this settles.
        intent: String,
        /// The hopper's event counter after it, when read.
        counter: Option<u8>,
    },
    /// A hopper's event counter as read at start-up.
    HopperCounter {
        /// The coin.
        coin: Coin,
        /// The counter.
        counter: u8,
    },
    /// A device event the session takes as it is: a note in escrow or handed back, a
    /// page out, a copy completed, a print job failed. Pages are named by the
    /// orchestrator (session, job, page), so they need no device identity here.
    Event(Event),
    /// The fingerprint scanner read a finger (or failed to).
    FingerScanned(Result<Zeroizing<Vec<u8>>, String>),
    /// A state change of a device worth showing or acting on.
    Device(DeviceNote),
    /// A network call finished (see [`crate::kiosk`]).
    Net(NetDone),
    /// Time passed.
    Tick,
}

/// What a hopper says of its last payout (ccTalk header 166), asked after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopperFacts {
    /// Its dispense event counter.
    pub counter: u8,
    /// Coins the last payout paid.
    pub paid: u8,
    /// Coins it could not pay.
    pub unpaid: u8,
}

/// What the validator's counters say, asked after a restart once no note is in motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorFacts {
    /// Its serial number.
    pub serial: u32,
    /// Notes it ever stacked.
    pub stacked: u32,
}

/// A print job as the printer knows it, asked by job name after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobFacts {
    /// The printer's job id.
    pub job_id: i32,
    /// Pages that came out.
    pub pages: u32,
    /// Whether the job has ended (completed, canceled, aborted).
    pub ended: bool,
    /// Whether the printer aborted it (a jam): a sheet left the tray and was not printed.
    pub aborted: bool,
}

/// Device states the orchestrator keeps (for the self-check, the screen and metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DeviceNote {
    /// A device is online or not.
    Online {
        /// Which.
        device: &'static str,
        /// Whether.
        online: bool,
    },
    /// The A4 printer's toner can print or not.
    Toner {
        /// Whether it can.
        ok: bool,
    },
    /// Earphones plugged in or out.
    Earphone {
        /// Whether inserted.
        inserted: bool,
    },
    /// A door opened or closed.
    Door {
        /// Which.
        door: &'static str,
        /// Whether open.
        open: bool,
    },
    /// A key of the physical keypad.
    Keypad {
        /// The key name.
        key: String,
    },
    /// The validator's stacker is full.
    StackerFull,
    /// The cabinet's tamper switch tripped (or was reset).
    Tamper {
        /// Whether tripped.
        tripped: bool,
    },
    /// An alarm of the I/O board: `auth-lockout` (repeated bad MACs), `host-reset`
    /// (the board power-cycled the PC), `events-lost` (its event queue overflowed),
    /// `event-forged` (events with a bad MAC or replayed, dropped), `config` (the board did
    /// not take or keep the host watchdog setting).
    BoardAlarm {
        /// Which.
        alarm: &'static str,
    },
    /// A money device reported tampering (a note pulled back while stacking, a coin on a
    /// string, a hopper's opto fraud bits): nothing was credited for it.
    Fraud {
        /// Which device.
        device: &'static str,
    },
}

/// The devices, as the orchestrator commands them.
pub trait Hardware: Send + 'static {
    /// Lets coins and notes in, or stops them.
    fn set_acceptors(&mut self, on: bool);
    /// Moves the note in escrow to the stacker.
    fn stack_note(&mut self, note: Note);
    /// Gives the note in escrow back.
    fn return_note(&mut self, note: Note);
    /// Pays out coins; the result comes back as [`Input::HopperSettled`] with `intent`.
    fn dispense(&mut self, coin: Coin, count: u32, intent: String);
    /// Prints a PDF as job `job` under the printer job name `name`, page by page.
    fn print(&mut self, job: u32, name: String, pdf: Arc<Vec<u8>>, pages: u32);
    /// Prints a receipt.
    fn print_receipt(&mut self, lines: Vec<String>, iou: Option<String>);
    /// Reads a finger. The resident number is only a hint for simulated scanners, which
    /// have no finger to read; a real scanner ignores it.
    fn scan_finger(&mut self, rrn: Zeroizing<String>);
    /// Whether the A4 printer can print now (toner, not jammed, online).
    fn printer_ok(&self) -> bool;

    // ----- what recovery asks the devices after a restart ------------------------------

    /// Waits until `coin`'s hopper has finished paying, then reads what its last payout
    /// paid (a hopper goes on paying when the host dies).
    fn last_dispense(&self, coin: Coin)
    -> impl Future<Output = Result<HopperFacts, String>> + Send;
    /// Returns a note still in escrow, waits until no note is in motion, then reads the
    /// validator's counters.
    fn settle_validator(&self) -> impl Future<Output = Result<ValidatorFacts, String>> + Send;
    /// The newest print job called `name`, if the printer knows one.
    fn find_job(&self, name: &str)
    -> impl Future<Output = Result<Option<JobFacts>, String>> + Send;
    /// Stops a job left over from before a restart (it must not print for anyone else).
    fn cancel_job(&self, job_id: i32) -> impl Future<Output = Result<(), String>> + Send;
}

/// Makes the certificate a fetched document becomes: its PDF and how many pages it has.
///
/// A trait so the deterministic simulation, which judges money and paper and not PDFs,
/// can keep a rendered certificate per type instead of typesetting thousands a minute;
/// the daemon uses kiosk-render's engine ([`kiosk_render::Renderer`]).
pub trait Typeset: Send + Sync + 'static {
    /// The PDF and its page count for `req`, with the verification code signed by `key`.
    fn typeset(
        &self,
        req: &kiosk_render::RenderRequest,
        key: &kiosk_render::SigningKey,
    ) -> Result<(Vec<u8>, usize), String>;
}

impl Typeset for kiosk_render::Renderer {
    fn typeset(
        &self,
        req: &kiosk_render::RenderRequest,
        key: &kiosk_render::SigningKey,
    ) -> Result<(Vec<u8>, usize), String> {
        self.render(req, key)
            .map(|r| (r.pdf, r.pages))
            .map_err(|e| e.to_string())
    }
}

/// How a network call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetOutcome<T> {
    /// Answered and verified.
    Ok(T),
    /// Refused, or never sent.
    Failed(NetFailure),
    /// Sent; the answer was lost. Settle by message id, never by guessing.
    Unknown,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetFailure {
    /// The fingerprint did not match.
    FingerprintMismatch,
    /// The network refused the request.
    Refused(String),
    /// The network cannot be reached (or its breaker is open).
    NetworkDown,
    /// One back end (agency) is down.
    BackendDown(String),
    /// The reply did not parse or verify.
    BadReply(String),
}

/// Hashes kept as evidence (no personal data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evidence {
    /// SHA-256 of the request bytes.
    pub request_sha256: [u8; 32],
    /// SHA-256 of the reply bytes.
    pub reply_sha256: [u8; 32],
}

/// What to fetch for one basket line.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The type.
    pub code: DocCode,
    /// Its agency (for the per-back-end breaker).
    pub agency: String,
    /// The citizen's options.
    pub options: BTreeMap<String, String>,
    /// The identity token, for personal documents.
    pub token: Option<Zeroizing<String>>,
    /// The parcel or building address, for property documents.
    pub address: Option<String>,
}

/// A fetched document.
#[derive(Debug, Clone)]
pub struct FetchedDocument {
    /// The issue number.
    pub issue: IssueNumber,
    /// The fee per copy.
    pub fee: Won,
    /// The document data for the template.
    pub data: serde_json::Value,
    /// Evidence.
    pub evidence: Evidence,
}

/// What an earlier message became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageFate {
    /// It was done; the issue number it produced, if any.
    Completed(Option<IssueNumber>, Evidence),
    /// It failed.
    Failed,
    /// The network never received it.
    NotReceived,
}

/// The e-government network.
pub trait Network: Send + Sync + 'static {
    /// Checks a resident number and a fingerprint template; answers a short-lived token.
    fn verify_identity(
        &self,
        id: &str,
        rrn: &str,
        template: &[u8],
    ) -> impl Future<Output = NetOutcome<Zeroizing<String>>> + Send;
    /// Fetches a document's data, issue number and fee.
    fn fetch_document(
        &self,
        id: &str,
        req: &FetchRequest,
    ) -> impl Future<Output = NetOutcome<FetchedDocument>> + Send;
    /// Reports a document printed.
    fn confirm_issued(
        &self,
        id: &str,
        issue: &IssueNumber,
        pages: u32,
    ) -> impl Future<Output = NetOutcome<Evidence>> + Send;
    /// Reports a document not printed.
    fn cancel_issue(
        &self,
        id: &str,
        issue: &IssueNumber,
    ) -> impl Future<Output = NetOutcome<Evidence>> + Send;
    /// Asks what became of an earlier message.
    fn message_status(&self, id: &str) -> impl Future<Output = NetOutcome<MessageFate>> + Send;
    /// Whether an agency's documents can be fetched now (its breaker is closed).
    fn agency_available(&self, agency: &str) -> bool;
    /// Whether the network as a whole is reachable (its breaker is closed).
    fn network_available(&self) -> bool;
}

/// A finished network call, routed back to the orchestrator.
#[derive(Debug)]
pub enum NetDone {
    /// The identity check of `session`.
    Identity {
        /// The session.
        session: u64,
        /// The message.
        message_id: String,
        /// The token or why not.
        outcome: NetOutcome<Zeroizing<String>>,
    },
    /// The fetch of every basket line of `session`, rendered.
    Fetched {
        /// The session.
        session: u64,
        /// One per basket line, in order.
        lines: Vec<(String, NetOutcome<Prepared>)>,
    },
    /// A confirm or cancel ended.
    Reported {
        /// The message.
        message_id: String,
        /// The issue.
        issue: IssueNumber,
        /// The outcome.
        outcome: NetOutcome<Evidence>,
    },
}

/// A fetched document rendered and ready to print.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The issue number.
    pub issue: IssueNumber,
    /// The fee per copy.
    pub fee: Won,
    /// Pages of one copy.
    pub pages: u32,
    /// The PDF.
    pub pdf: Arc<Vec<u8>>,
    /// Evidence.
    pub evidence: Evidence,
}
