//! The vocabulary of the session: what comes in ([`Event`]), what goes out ([`Command`]),
//! why something was refused ([`Rejected`]) and the plain data they carry.

use super::change::Hoppers;
use crate::accounts::{Transfer, TransferError};
use crate::ids::{DeviceKey, DocCode, IssueNumber, SessionId};
use crate::money::{Coin, Note, Sheets, Won};
use serde::{Deserialize, Serialize};

/// Limits and timings of a session, so that everything a citizen or a device can make the
/// session hold is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// Most lines (documents) in one basket.
    pub max_lines: usize,
    /// Most copies of one line.
    pub max_copies: u8,
    /// Fingerprint attempts before the citizen is sent to the counter.
    pub fingerprint_tries: u8,
    /// Largest total fee one session may charge; a larger basket is refused before payment.
    pub max_due: Won,
    /// Inactivity (ms) in a state that waits for the citizen before the timeout warning.
    pub warn_after_ms: u64,
    /// Time (ms) after the warning before the session times out and returns the money.
    pub grace_ms: u64,
}

impl Default for SessionConfig {
    /// 10 documents, 10 copies each, 3 fingerprint tries, at most 1,000,000 won, a warning
    /// after 60 s of inactivity and the timeout 30 s later.
    fn default() -> SessionConfig {
        SessionConfig {
            max_lines: 10,
            max_copies: 10,
            fingerprint_tries: 3,
            max_due: Won::new(1_000_000),
            warn_after_ms: 60_000,
            grace_ms: 30_000,
        }
    }
}

/// One document the citizen put in the basket, as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRequest {
    /// Which document type.
    pub code: DocCode,
    /// How many copies (1..=`max_copies`).
    pub copies: u8,
    /// Whether the document is personal and needs identity proof (resident number and
    /// fingerprint); parcel and building documents do not.
    pub needs_identity: bool,
}

/// What the e-government network returned for one basket line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedDoc {
    /// The issue number (발급번호) assigned to this document.
    pub issue: IssueNumber,
    /// The fee for one copy; zero for a free document.
    pub fee_per_copy: Won,
    /// Sheets one copy takes once rendered (at least 1).
    pub pages: Sheets,
}

/// The consumables the kiosk reports when the documents are fetched: the check that the
/// basket can be served is made against this, before any money is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Blank security paper in the A4 tray.
    pub paper: Sheets,
    /// Whether the A4 printer's toner is usable.
    pub toner_ok: bool,
    /// Which coins have a hopper and how full each is, including every coin already
    /// booked into them.
    pub hoppers: Hoppers,
}

/// Why the e-government fetch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FetchFailure {
    /// The e-government network cannot be reached at all.
    NetworkDown,
    /// The back end that owns these documents (court, resident registration, tax...) is
    /// down; others may still work.
    BackendDown,
    /// The back end answered but refused to issue (no record, restriction).
    Refused,
}

/// Why the kiosk itself cannot serve a fetched basket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Refusal {
    /// The tray holds fewer sheets than the basket needs.
    NotEnoughPaper {
        /// Sheets the basket needs.
        needed: Sheets,
        /// Sheets in the tray.
        available: Sheets,
    },
    /// The printer's toner is not usable.
    TonerOut,
    /// The total fee is above the session limit (or does not fit in a number at all).
    DueTooLarge,
    /// The page count does not fit in a number.
    TooManyPages,
}

/// What went wrong with the A4 printer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrintFault {
    /// Paper jam (용지 걸림).
    Jam,
    /// The tray ran empty.
    TrayEmpty,
    /// Any other printer error (offline, door open, toner).
    Other,
}

/// Why a note was handed back instead of kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReturnReason {
    /// The basket is already paid (or free).
    NotNeeded,
    /// Keeping it would create change the hoppers cannot pay exactly.
    CannotMakeChange,
    /// The kiosk is not taking money now (before payment, printing, after cancel).
    NotAccepting,
}

/// Why a session ended without issuing anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndReason {
    /// The citizen pressed cancel.
    CitizenCanceled,
    /// Nobody answered the timeout warning.
    TimedOut,
    /// The fingerprint did not match within the allowed tries.
    IdentityFailed,
    /// The identity service could not be reached.
    IdentityUnavailable,
    /// The documents could not be fetched.
    FetchFailed(FetchFailure),
    /// The kiosk cannot print this basket.
    CannotServe(Refusal),
    /// Money arrived while no session was running; it is given back.
    StrayMoney,
}

/// Where the citizen is sent when the kiosk cannot finish here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CounterReason {
    /// Fingerprint not matched after the allowed tries: bring the ID card to the counter.
    FingerprintNotMatched,
    /// The back end refused to issue: the counter can look at the case.
    RequestRefused,
}

/// Which service is down when the citizen is sent elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outage {
    /// The whole e-government network.
    Network,
    /// The back end owning the requested documents.
    Backend,
    /// The identity (fingerprint) service.
    IdentityService,
}

/// A message the UI must show (and voice guidance must speak). Carries a reason, never
/// free text, so every message can be translated and voiced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Guidance {
    /// Inactivity: the session ends in `ms_left` unless the citizen asks for more time.
    TimeoutWarning {
        /// Milliseconds before the timeout.
        ms_left: u64,
    },
    /// The fingerprint did not match; place the right thumb again.
    RetryFingerprint {
        /// Attempts still allowed.
        tries_left: u8,
    },
    /// Nothing more can be done here: go to the civil-affairs counter.
    GoToCounter(CounterReason),
    /// A service is down: use another kiosk later, the counter, or online issuing.
    GoElsewhere(Outage),
    /// This kiosk cannot print the basket now (paper, toner, size); nothing was charged.
    CannotServe(Refusal),
    /// Printing failed; what was not printed is refunded.
    PrintFailed {
        /// The fault.
        fault: PrintFault,
        /// Fees of the copies not printed, given back.
        refund: Won,
    },
    /// The session was canceled at the citizen's request.
    Canceled,
    /// The session timed out.
    TimedOut,
    /// A note is being handed back.
    NoteReturned(ReturnReason),
}

/// The key of a pending (two-phase) ledger entry for a note in escrow. The session chooses
/// it; the ledger stores it with the pending transfer and resolves it by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EscrowKey {
    /// The session that booked it.
    pub session: SessionId,
    /// 0, 1, 2... within the session.
    pub seq: u32,
}

/// One issued line on the receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLine {
    /// Document type.
    pub code: DocCode,
    /// Issue number.
    pub issue: IssueNumber,
    /// Copies actually printed.
    pub copies: u8,
    /// Fee per copy.
    pub fee_per_copy: Won,
}

/// What the receipt printer prints: documents, money in and out, and any IOU. No personal
/// data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The session.
    pub session: SessionId,
    /// Lines with at least one printed copy.
    pub lines: Vec<ReceiptLine>,
    /// Money inserted (coins and stacked notes).
    pub inserted: Won,
    /// Fees earned.
    pub fees: Won,
    /// Coins paid back (change and refunds).
    pub paid_back: Won,
    /// Owed and not paid (IOU), to be settled at the counter.
    pub owed: Won,
}

/// Something that happened: from the citizen, an identity or e-government reply, a money
/// or printing device, or the clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The citizen touched the idle screen.
    Begin,
    /// The citizen added a document to the basket.
    AddDocument(DocRequest),
    /// The citizen removed basket line `line` (0-based).
    RemoveDocument {
        /// The line.
        line: usize,
    },
    /// The citizen confirmed the basket.
    Confirm,
    /// The citizen pressed cancel.
    Cancel,
    /// The citizen answered the timeout warning ("more time").
    MoreTime,
    /// The citizen asked for a receipt.
    ReceiptRequested,
    /// The identity back end matched the fingerprint.
    IdentityVerified,
    /// The fingerprint did not match.
    FingerprintMismatch,
    /// The identity service is down.
    IdentityUnavailable,
    /// The e-government reply: one entry per basket line, in basket order, and the kiosk's
    /// resources at this moment.
    Fetched {
        /// Per line.
        documents: Vec<FetchedDoc>,
        /// Paper, toner and hoppers now.
        resources: Resources,
    },
    /// The e-government fetch failed.
    FetchFailed(FetchFailure),
    /// The coin acceptor credited a coin (ccTalk buffered credit). Always booked.
    CoinCredited(Coin),
    /// A note is held in the validator's escrow (SSP read with a channel). Always booked
    /// as pending; answered with [`Command::StackNote`] or [`Command::ReturnNote`].
    NoteEscrowed(Note),
    /// The validator stacked a note (SSP credit/stacked). Always booked.
    NoteStacked(Note),
    /// The validator handed the escrowed note back (SSP rejected).
    NoteReturned(Note),
    /// A hopper finished a [`Command::Dispense`]: `paid + unpaid` equals the count asked.
    HopperSettled {
        /// The hopper's coin.
        coin: Coin,
        /// Coins that left the hopper.
        paid: u32,
        /// Coins it could not pay (it ran dry).
        unpaid: u32,
    },
    /// One sheet of print job `job` came out.
    PagePrinted {
        /// The job of [`Command::Print`].
        job: u32,
    },
    /// Print job `job` completed: every sheet of the copy is out.
    CopyCompleted {
        /// The job.
        job: u32,
    },
    /// Print job `job` failed.
    PrintFailed {
        /// The job.
        job: u32,
        /// What went wrong.
        fault: PrintFault,
        /// Blank sheets lost in the jam (not counting sheets already reported printed).
        spoiled: Sheets,
    },
    /// The clock: milliseconds on the daemon's monotonic clock. Send one every second or so.
    Tick {
        /// Now.
        now_ms: u64,
    },
}

impl Event {
    /// A short stable name for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Begin => "begin",
            Event::AddDocument(_) => "add-document",
            Event::RemoveDocument { .. } => "remove-document",
            Event::Confirm => "confirm",
            Event::Cancel => "cancel",
            Event::MoreTime => "more-time",
            Event::ReceiptRequested => "receipt-requested",
            Event::IdentityVerified => "identity-verified",
            Event::FingerprintMismatch => "fingerprint-mismatch",
            Event::IdentityUnavailable => "identity-unavailable",
            Event::Fetched { .. } => "fetched",
            Event::FetchFailed(_) => "fetch-failed",
            Event::CoinCredited(_) => "coin-credited",
            Event::NoteEscrowed(_) => "note-escrowed",
            Event::NoteStacked(_) => "note-stacked",
            Event::NoteReturned(_) => "note-returned",
            Event::HopperSettled { .. } => "hopper-settled",
            Event::PagePrinted { .. } => "page-printed",
            Event::CopyCompleted { .. } => "copy-completed",
            Event::PrintFailed { .. } => "print-failed",
            Event::Tick { .. } => "tick",
        }
    }
}

/// Something the daemon must do. The daemon executes commands in order; ledger commands
/// must be written before the next event is handed to the session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Write `transfer` to the ledger; with `pending: Some(key)` as a pending (two-phase)
    /// transfer under `key`, which does not move balances until posted.
    Book {
        /// The movement.
        transfer: Transfer,
        /// The pending key, for a note in escrow.
        pending: Option<EscrowKey>,
        /// The physical event this booking stands for (see [`DeviceKey`]); set on the
        /// money or paper movement an event keyed with [`Session::handle_keyed`] causes.
        ///
        /// [`Session::handle_keyed`]: crate::Session::handle_keyed
        key: Option<DeviceKey>,
    },
    /// Post the pending transfer `key`: it now moves balances.
    PostPending {
        /// The key.
        key: EscrowKey,
    },
    /// Void the pending transfer `key`: it never moves balances.
    VoidPending {
        /// The key.
        key: EscrowKey,
    },
    /// Ask for the resident number (first attempt) and capture the fingerprint, then send
    /// them to the identity back end. They never reach the session.
    VerifyIdentity {
        /// 1 for the first attempt.
        attempt: u8,
    },
    /// Fetch the basket from the e-government network; reply with [`Event::Fetched`] or
    /// [`Event::FetchFailed`].
    Fetch {
        /// The basket in order.
        documents: Vec<DocRequest>,
    },
    /// Tell the e-government network this issue number will not be issued.
    CancelIssue {
        /// The number.
        issue: IssueNumber,
    },
    /// Tell the e-government network this issue number was issued (printed).
    ConfirmIssued {
        /// The number.
        issue: IssueNumber,
        /// Copies printed.
        copies: u8,
    },
    /// Enable the coin acceptor and the bill validator.
    EnableAcceptors,
    /// Inhibit the coin acceptor and the bill validator.
    DisableAcceptors,
    /// What to show while waiting for money.
    PaymentStatus {
        /// Total fee.
        due: Won,
        /// Credit so far (coins and stacked notes).
        credited: Won,
        /// The hoppers cannot give change for a 1,000-won note against what is still due:
        /// ask for the exact amount.
        exact_amount_only: bool,
    },
    /// Let the escrowed note stack (SSP: poll instead of hold).
    StackNote {
        /// Its pending entry.
        key: EscrowKey,
        /// The note.
        note: Note,
    },
    /// Hand the escrowed note back (SSP reject).
    ReturnNote {
        /// Its pending entry.
        key: EscrowKey,
        /// The note.
        note: Note,
        /// Why, for the UI.
        reason: ReturnReason,
    },
    /// Print one copy of a document: `pages` sheets. Answer with page/completed/failed
    /// events carrying `job`.
    Print {
        /// Job number, unique in the session.
        job: u32,
        /// Document type.
        code: DocCode,
        /// Issue number to print on it.
        issue: IssueNumber,
        /// 1-based copy number.
        copy: u8,
        /// Sheets.
        pages: Sheets,
    },
    /// Dispense `count` coins from `coin`'s hopper (ccTalk 167, never resent); answer with
    /// [`Event::HopperSettled`].
    Dispense {
        /// The hopper.
        coin: Coin,
        /// Coins.
        count: u32,
    },
    /// The kiosk owes `amount` it could not pay: put it on the receipt and raise it to staff.
    RaiseIou {
        /// Owed.
        amount: Won,
    },
    /// Print this receipt on the receipt printer.
    PrintReceipt(Receipt),
    /// Show (and speak) this message.
    Guide(Guidance),
    /// The session has finished; every won is settled. A new session may begin.
    Ended,
}

/// Why an event was refused. A refused event changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The event means nothing in this state.
    #[error("{event} is not valid in state {state}")]
    NotNow {
        /// The state's name.
        state: &'static str,
        /// The event's name.
        event: &'static str,
    },
    /// The basket already holds the maximum of lines.
    #[error("the basket is full ({max} documents)")]
    BasketFull {
        /// The limit.
        max: usize,
    },
    /// Copies outside 1..=max.
    #[error("{copies} copies; allowed 1 to {max}")]
    BadCopies {
        /// Asked.
        copies: u8,
        /// The limit.
        max: u8,
    },
    /// No such basket line.
    #[error("no basket line {0}")]
    NoSuchLine(usize),
    /// Confirming an empty basket.
    #[error("the basket is empty")]
    EmptyBasket,
    /// The e-government reply does not fit the basket.
    #[error("bad fetch reply: {0}")]
    BadReply(&'static str),
    /// A tick earlier than the last one.
    #[error("clock went backwards: {now_ms} < {last_ms}")]
    ClockWentBackwards {
        /// The tick.
        now_ms: u64,
        /// The last tick.
        last_ms: u64,
    },
    /// A second note in escrow while one is held: the validator has one escrow position.
    #[error("a note is already in escrow")]
    EscrowOccupied,
    /// A note returned while none is in escrow, or a different one.
    #[error("no such note in escrow")]
    NoEscrow,
    /// A hopper settled that was not asked to dispense.
    #[error("no dispense pending for {0:?}")]
    NoDispense(Coin),
    /// A hopper settlement whose counts do not add up to the count asked.
    #[error("hopper settlement {paid}+{unpaid} does not match the {requested} asked")]
    BadSettlement {
        /// Asked.
        requested: u32,
        /// Reported paid.
        paid: u32,
        /// Reported unpaid.
        unpaid: u32,
    },
    /// A printer event for a job that is not the current one.
    #[error("print job {got} is not the current job {current:?}")]
    WrongJob {
        /// The current job.
        current: Option<u32>,
        /// The event's job.
        got: u32,
    },
    /// More pages reported than the copy has.
    #[error("more pages than the copy has")]
    TooManyPages,
    /// An amount overflowed.
    #[error("amount overflow")]
    Overflow,
    /// A transfer could not be built.
    #[error("transfer refused: {0}")]
    Transfer(#[from] TransferError),
    /// The receipt was already printed.
    #[error("the receipt was already printed")]
    ReceiptAlreadyPrinted,
    /// A device key given with an event that moves no money or paper.
    #[error("{0} is not a device event that can carry a key")]
    Unkeyed(&'static str),
}
