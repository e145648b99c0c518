//! The orchestrator: one task that owns the citizen's session, the ledger and the view.
//!
//! Decisions are kiosk-core's [`Session`]; this module is the shell around it. Everything
//! that happens (a touch, a coin, a page, a reply) arrives as one [`Input`] or
//! [`ApiRequest`] on one bounded queue and is handled to completion before the next: no
//! locks, no races between a coin and a cancel. Each command the session emits is carried
//! out here: bookings go to the ledger before anything else happens (so a crash leaves
//! the journal ahead of the world, never behind), device commands go to [`Hardware`],
//! network calls are saved, then sent on their own tasks and answer back as inputs.

use kiosk_catalog::{KioskCatalog, Requirement};
use kiosk_core::session::{
    Command, DocRequest, EndReason, Event, FetchFailure, FetchedDoc, Guidance, Hoppers, Receipt,
    Resources, SessionConfig, State,
};
use kiosk_core::{Account, DocCode, IssueNumber, Session, SessionId, Sheets, Won};
use kiosk_ledger::{
    Entry, IdempotencyKey, Intent, IntentKind, Ledger, MessageState, Op, Resolve, Service,
    Settlement,
};
use kiosk_render::{IssuedAt, RenderRequest, Renderer, SigningKey};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, info_span, warn};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::config::Elsewhere;
use crate::keys;
use crate::metrics::Metrics;
use crate::ports::{
    DeviceNote, FetchRequest, Hardware, Input, NetDone, NetFailure, NetOutcome, Network, Prepared,
};
use crate::schedule::{Phase, Schedule};
use crate::view::{
    EndedView, IdentityView, KioskView, LineView, PrintingView, SessionView, Snapshot,
};

/// A request from the touchscreen.
#[derive(Debug)]
pub enum ApiRequest {
    /// Start a session.
    Begin,
    /// Add a basket line.
    Add {
        /// Type.
        code: String,
        /// Copies.
        copies: u8,
        /// Options.
        options: BTreeMap<String, String>,
        /// Address for property documents.
        address: Option<String>,
    },
    /// Remove a line.
    Remove(usize),
    /// Basket done.
    Confirm,
    /// The resident number from the keypad.
    Identity(Zeroizing<String>),
    /// More time.
    MoreTime,
    /// A receipt.
    Receipt,
    /// Cancel.
    Cancel,
    /// Back to the attract screen.
    Finish,
    /// Call staff.
    Help,
    /// Nothing: proves the orchestrator answers (the watchdog's ping).
    Ping,
}

/// Why an API request was refused; `code` is the stable name of LOCAL-API.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable code.
    pub code: &'static str,
    /// English text for logs.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

/// What the orchestrator's queue carries.
#[derive(Debug)]
pub enum Msg {
    /// From the world.
    Input(Input),
    /// From the touchscreen, with where to answer.
    Api(ApiRequest, oneshot::Sender<Result<(), ApiError>>),
    /// Stop taking sessions and exit when idle (SIGTERM, the daily restart).
    Drain,
    /// What the self-check reads from the orchestrator.
    Inspect(oneshot::Sender<Inspection>),
    /// Free disk fell below the reserve (or rose above it again).
    DiskLow(bool),
}

/// The orchestrator's readings for the self-check.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The A4 printer can print.
    pub printer_ok: bool,
    /// Sheets in the tray.
    pub paper: i64,
    /// Coins per hopper (value, count).
    pub hoppers: Vec<(u64, u32)>,
    /// The stacker reported full.
    pub stacker_full: bool,
    /// The network's breaker is closed.
    pub network_ok: bool,
    /// Unix ms of the newest journal entry.
    pub last_entry_ms: i64,
}

/// Bound of the orchestrator's queue: device drivers and the API wait when it is full
/// (back-pressure), nothing is dropped.
pub const QUEUE: usize = 256;

/// Fixed settings of the orchestrator.
#[derive(Clone)]
pub struct Settings {
    /// Kiosk id (printed on certificates).
    pub kiosk_id: String,
    /// Site name.
    pub site: String,
    /// Session limits.
    pub session: SessionConfig,
    /// Hours and restart.
    pub schedule: Schedule,
    /// Coins the hoppers pay.
    pub hopper_coins: Vec<kiosk_core::Coin>,
    /// Where else to go.
    pub where_else: Vec<Elsewhere>,
    /// How long an ended session stays on screen.
    pub linger_ms: u64,
    /// The touchscreen's starting accessibility settings.
    pub accessibility: crate::config::AccessibilitySection,
}

/// A basket line's details beyond what the session machine needs.
#[derive(Debug, Clone)]
struct Line {
    code: DocCode,
    name: String,
    name_en: String,
    agency: String,
    copies: u8,
    options: BTreeMap<String, String>,
    address: Option<String>,
    needs_identity: bool,
}

/// One running session.
struct Run {
    machine: Session,
    lines: Vec<Line>,
    prepared: Vec<Prepared>,
    rrn: Option<Zeroizing<String>>,
    token: Option<Zeroizing<String>>,
    identity_attempt: Option<u8>,
    scanning: bool,
    pages_done: u32,
    pages_total: u32,
    printing: Option<(DocCode, IssueNumber)>,
    guidance: Option<Guidance>,
    ended_at_ms: Option<u64>,
    receipt: bool,
    exact_amount_only: bool,
    span: tracing::Span,
    /// The stack intent of the note in escrow, while the validator stacks it.
    stack_intent: Option<String>,
    /// Payouts ordered so far (numbers the dispense intents).
    dispenses: u32,
    /// Pages reported per print job (names the sheets).
    job_pages: BTreeMap<u32, u32>,
}

/// The orchestrator.
pub struct Kiosk<H: Hardware, N: Network> {
    settings: Settings,
    ledger: Ledger,
    catalog: Arc<KioskCatalog>,
    renderer: Arc<Renderer>,
    signing: Arc<SigningKey>,
    hw: H,
    net: Arc<N>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    tx: mpsc::Sender<Msg>,
    view: watch::Sender<Snapshot>,
    devices: tokio::sync::broadcast::Sender<DeviceNote>,
    run: Option<Run>,
    last_session: u64,
    earphone: bool,
    draining: bool,
    out_of_service: Option<String>,
    started_at: crate::schedule::ClockTime,
    disk_low: bool,
    stacker_full: bool,
    /// Each hopper's dispense event counter as last read (the `before` of a payout).
    hopper_counters: BTreeMap<kiosk_core::Coin, u8>,
    /// Network tasks started and not yet answered back into the queue.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a spawned network task until it has answered (dropped after its send).
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl InFlight {
    fn new(n: &Arc<std::sync::atomic::AtomicUsize>) -> InFlight {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(n.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Everything the orchestrator is built from.
pub struct Parts<H, N> {
    /// Settings.
    pub settings: Settings,
    /// The ledger (already recovered).
    pub ledger: Ledger,
    /// The catalog with this district's overrides.
    pub catalog: Arc<KioskCatalog>,
    /// The renderer.
    pub renderer: Arc<Renderer>,
    /// The key that signs the verification QR code.
    pub signing: Arc<SigningKey>,
    /// The devices.
    pub hw: H,
    /// The network.
    pub net: Arc<N>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// The orchestrator, its queue's receiving end, and the shell's handle.
pub type Built<H, N> = (Kiosk<H, N>, mpsc::Receiver<Msg>, Handle);

/// Handles the shell keeps: the queue, the view, device notes.
#[derive(Clone)]
pub struct Handle {
    /// The queue.
    pub tx: mpsc::Sender<Msg>,
    /// The latest snapshot.
    pub view: watch::Receiver<Snapshot>,
    /// Device notes for the touchscreen (earphone, keypad).
    pub devices: tokio::sync::broadcast::Sender<DeviceNote>,
}

impl Handle {
    /// Sends an API request and waits for its answer.
    pub async fn call(&self, req: ApiRequest) -> Result<(), ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Api(req, tx))
            .await
            .map_err(|_| ApiError::new(503, "stopping", "the kiosk is stopping"))?;
        rx.await
            .map_err(|_| ApiError::new(503, "stopping", "the kiosk is stopping"))?
    }
}

impl<H: Hardware, N: Network> Kiosk<H, N> {
    /// The orchestrator's queue, made first so the devices can report into it.
    pub fn queue() -> (mpsc::Sender<Msg>, mpsc::Receiver<Msg>) {
        mpsc::channel(QUEUE)
    }

    /// Builds the orchestrator around its queue (see [`Kiosk::queue`]).
    pub fn new(
        parts: Parts<H, N>,
        (tx, rx): (mpsc::Sender<Msg>, mpsc::Receiver<Msg>),
    ) -> Result<Built<H, N>, kiosk_ledger::LedgerError> {
        let last_session = parts.ledger.last_session()?;
        let started_at = parts.clock.local_time();
        let initial = Snapshot {
            kiosk: KioskView {
                id: parts.settings.kiosk_id.clone(),
                site: parts.settings.site.clone(),
                mode: "open",
                reason: None,
                hours: parts.settings.schedule.hours.to_string(),
                exact_amount_only: false,
                unavailable_agencies: Vec::new(),
                earphone: false,
                where_else: parts.settings.where_else.clone(),
                accessibility: parts.settings.accessibility.clone(),
                limits: limits(&parts.settings),
            },
            session: None,
        };
        let (view, view_rx) = watch::channel(initial);
        let (devices, _) = tokio::sync::broadcast::channel(64);
        let handle = Handle {
            tx: tx.clone(),
            view: view_rx,
            devices: devices.clone(),
        };
        let k = Kiosk {
            settings: parts.settings,
            ledger: parts.ledger,
            catalog: parts.catalog,
            renderer: parts.renderer,
            signing: parts.signing,
            hw: parts.hw,
            net: parts.net,
            clock: parts.clock,
            metrics: parts.metrics,
            tx,
            view,
            devices,
            run: None,
            last_session,
            earphone: false,
            draining: false,
            out_of_service: None,
            started_at,
            disk_low: false,
            stacker_full: false,
            hopper_counters: BTreeMap::new(),
            in_flight: Arc::default(),
        };
        Ok((k, rx, handle))
    }

    /// Runs until drained (or the queue closes). Returns once no session is open.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> Ledger {
        self.publish();
        while let Some(msg) = rx.recv().await {
            if !self.step(msg) {
                break;
            }
        }
        self.ledger
    }

    /// Handles one message to completion; `false` once drained and idle (time to stop).
    /// [`Kiosk::run`] is this in a loop; the deterministic simulation calls it directly,
    /// so that it, not a scheduler, decides what happens next.
    pub fn step(&mut self, msg: Msg) -> bool {
        {
            match msg {
                Msg::Input(i) => self.on_input(i),
                Msg::Api(req, answer) => {
                    let r = self.on_api(req);
                    let _ = answer.send(r);
                }
                Msg::Drain => self.draining = true,
                Msg::Inspect(answer) => {
                    let _ = answer.send(self.inspect());
                }
                Msg::DiskLow(low) => {
                    self.disk_low = low;
                    if low {
                        warn!(
                            incident = "disk-low",
                            "free disk below the reserve: no new session"
                        );
                    }
                }
            }
            self.publish();
            // An ended session only lingers on screen: it does not hold up a stop.
            let idle = self.run.as_ref().is_none_or(|r| r.ended_at_ms.is_some());
            if self.draining && idle {
                info!("drained: no session open, stopping");
                return false;
            }
        }
        true
    }

    /// The screen as last published.
    pub fn view_now(&self) -> Snapshot {
        self.view.borrow().clone()
    }

    /// Gives the ledger back (the simulation's crash drops everything else).
    pub fn into_ledger(self) -> Ledger {
        self.ledger
    }

    /// The devices (the simulation reads its doubles' physical counts through them).
    pub fn hardware(&self) -> &H {
        &self.hw
    }

    /// Network calls started and not yet answered into the queue: the simulation waits
    /// for them instead of guessing with a timeout.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The ledger (for tests and the self-check).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn now_ms(&self) -> i64 {
        self.clock.unix_ms()
    }

    fn phase(&self) -> Phase {
        self.settings.schedule.at(self.clock.local_time())
    }

    // ----- API ------------------------------------------------------------------------

    fn on_api(&mut self, req: ApiRequest) -> Result<(), ApiError> {
        match req {
            ApiRequest::Begin => {
                if self.run.as_ref().is_some_and(|r| r.ended_at_ms.is_none()) {
                    return Err(ApiError::new(409, "session-active", "a session is running"));
                }
                if let Some(why) = self.closed_reason() {
                    return Err(ApiError::new(503, "closed", why));
                }
                self.run = None;
                let run = self.new_run();
                self.run = Some(run);
                self.feed(Event::Begin);
                Ok(())
            }
            ApiRequest::Add {
                code,
                copies,
                options,
                address,
            } => {
                let line = self.check_line(&code, copies, options, address)?;
                let run = self.active()?;
                let _g = run.span.clone().entered();
                let req = DocRequest {
                    code: line.code.clone(),
                    copies,
                    needs_identity: line.needs_identity,
                };
                match run.machine.handle(Event::AddDocument(req)) {
                    Ok(cmds) => {
                        run.lines.push(line);
                        self.execute_all(cmds);
                        Ok(())
                    }
                    Err(e) => Err(rejected(&e)),
                }
            }
            ApiRequest::Remove(n) => {
                let run = self.active()?;
                match run.machine.handle(Event::RemoveDocument { line: n }) {
                    Ok(cmds) => {
                        run.lines.remove(n);
                        self.execute_all(cmds);
                        Ok(())
                    }
                    Err(e) => Err(rejected(&e)),
                }
            }
            ApiRequest::Confirm => self.feed_api(Event::Confirm),
            ApiRequest::MoreTime => self.feed_api(Event::MoreTime),
            ApiRequest::Receipt => {
                self.feed_api(Event::ReceiptRequested)?;
                if let Some(r) = &mut self.run {
                    r.receipt = true;
                }
                Ok(())
            }
            ApiRequest::Cancel => {
                let run = self.active()?;
                if matches!(
                    run.machine.state(),
                    State::Printing | State::PayingChange | State::Done
                ) {
                    return Err(ApiError::new(422, "too-late", "printing has started"));
                }
                self.feed_api(Event::Cancel)
            }
            ApiRequest::Identity(rrn) => {
                if !valid_rrn(&rrn) {
                    return Err(ApiError::new(
                        422,
                        "bad-resident-number",
                        "13 digits expected",
                    ));
                }
                let run = self.active()?;
                if run.machine.state() != State::Identifying {
                    return Err(ApiError::new(422, "not-now", "no identity check now"));
                }
                let digits: Zeroizing<String> =
                    Zeroizing::new(rrn.chars().filter(char::is_ascii_digit).collect());
                run.rrn = Some(digits);
                if run.identity_attempt.is_some() && !run.scanning {
                    self.start_scan();
                }
                Ok(())
            }
            ApiRequest::Finish => {
                match &self.run {
                    Some(r) if r.ended_at_ms.is_some() => self.run = None,
                    Some(_) => {
                        return Err(ApiError::new(422, "not-now", "the session is not over"));
                    }
                    None => return Err(ApiError::new(404, "no-session", "no session")),
                }
                Ok(())
            }
            ApiRequest::Ping => Ok(()),
            ApiRequest::Help => {
                let session = self.run.as_ref().map(|r| r.machine.id().0);
                warn!(
                    incident = "help-requested",
                    session, "a citizen asked for help"
                );
                self.metrics.incident("help-requested");
                Ok(())
            }
        }
    }

    fn closed_reason(&self) -> Option<String> {
        if self.draining {
            return Some("the kiosk is restarting".into());
        }
        if let Some(r) = &self.out_of_service {
            return Some(r.clone());
        }
        if self.disk_low {
            return Some("the disk is full".into());
        }
        if self.stacker_full {
            return Some("the note stacker is full".into());
        }
        match self.phase() {
            Phase::Open => None,
            Phase::Closed => Some("outside opening hours".into()),
            Phase::Draining | Phase::RestartDue => Some("the daily restart is near".into()),
        }
    }

    fn active(&mut self) -> Result<&mut Run, ApiError> {
        match &mut self.run {
            Some(r) if r.ended_at_ms.is_none() => Ok(r),
            _ => Err(ApiError::new(404, "no-session", "no session is running")),
        }
    }

    fn feed_api(&mut self, e: Event) -> Result<(), ApiError> {
        let run = self.active()?;
        let _g = run.span.clone().entered();
        match run.machine.handle(e) {
            Ok(cmds) => {
                self.execute_all(cmds);
                Ok(())
            }
            Err(e) => Err(rejected(&e)),
        }
    }

    fn check_line(
        &self,
        code: &str,
        copies: u8,
        options: BTreeMap<String, String>,
        address: Option<String>,
    ) -> Result<Line, ApiError> {
        let doc = self
            .catalog
            .enabled_documents()
            .find(|d| d.code.as_str() == code)
            .ok_or_else(|| {
                ApiError::new(422, "unknown-document", format!("no document {code:?}"))
            })?;
        if !self.net.agency_available(&doc.agency) || !self.net.network_available() {
            return Err(ApiError::new(
                422,
                "document-unavailable",
                format!("{}'s back end is down", doc.agency),
            ));
        }
        if copies == 0 || copies > self.settings.session.max_copies {
            return Err(ApiError::new(422, "bad-copies", "copies out of range"));
        }
        let mut chosen = BTreeMap::new();
        for (k, v) in &options {
            let opt = doc
                .option(k)
                .ok_or_else(|| ApiError::new(422, "bad-option", format!("no option {k:?}")))?;
            if opt.choice(v).is_none() {
                return Err(ApiError::new(
                    422,
                    "bad-option",
                    format!("{k} = {v:?} is not offered"),
                ));
            }
            chosen.insert(k.clone(), v.clone());
        }
        for opt in &doc.options {
            chosen
                .entry(opt.key.clone())
                .or_insert_with(|| opt.default.clone());
        }
        let address = match (doc.requires, address) {
            (Requirement::Address, Some(a)) => {
                let a = a.trim().to_owned();
                let ok =
                    (2..=100).contains(&a.chars().count()) && a.chars().all(|c| !c.is_control());
                if !ok {
                    return Err(ApiError::new(
                        422,
                        "bad-address",
                        "2 to 100 printable characters",
                    ));
                }
                Some(a)
            }
            (Requirement::Address, None) => {
                return Err(ApiError::new(
                    422,
                    "bad-address",
                    "this document needs an address",
                ));
            }
            (Requirement::Identity, Some(_)) => {
                return Err(ApiError::new(
                    422,
                    "bad-address",
                    "this document takes no address",
                ));
            }
            (Requirement::Identity, None) => None,
        };
        Ok(Line {
            code: doc.code.clone(),
            name: doc.name_ko.clone(),
            name_en: doc.name_en.clone(),
            agency: doc.agency.clone(),
            copies,
            options: chosen,
            address,
            needs_identity: doc.requires.needs_identity(),
        })
    }

    fn new_run(&mut self) -> Run {
        self.last_session += 1;
        let id = SessionId(self.last_session);
        self.metrics.session_started();
        Run {
            machine: Session::new(id, self.settings.session, self.hoppers()),
            lines: Vec::new(),
            prepared: Vec::new(),
            rrn: None,
            token: None,
            identity_attempt: None,
            scanning: false,
            pages_done: 0,
            pages_total: 0,
            printing: None,
            guidance: None,
            ended_at_ms: None,
            receipt: false,
            exact_amount_only: false,
            span: info_span!("session", id = id.0),
            stack_intent: None,
            dispenses: 0,
            job_pages: BTreeMap::new(),
        }
    }

    // ----- the world --------------------------------------------------------------------

    fn on_input(&mut self, input: Input) {
        match input {
            Input::CoinCredited {
                coin,
                serial,
                counter,
            } => self.on_coin(coin, serial, counter),
            Input::CoinCounter { serial, counter } => {
                let at = self.now_ms();
                let cur = self
                    .ledger
                    .cursor(keys::device::COIN_ACCEPTOR)
                    .ok()
                    .flatten();
                if let Some(c) = keys::advance(
                    cur.as_ref(),
                    keys::device::COIN_ACCEPTOR,
                    serial,
                    counter,
                    at,
                ) {
                    self.book_ops(&[Op::Cursor(c)]);
                }
            }
            Input::CoinsLost {
                serial,
                previous,
                current,
                coins,
            } => self.on_coins_lost(serial, previous, current, coins),
            Input::CoinAcceptorReset => {
                if let Ok(Some(mut c)) = self.ledger.cursor(keys::device::COIN_ACCEPTOR) {
                    c.counter = 0;
                    c.at_ms = self.now_ms();
                    self.book_ops(&[Op::Cursor(c)]);
                }
            }
            Input::NoteEscrowed(n) => self.feed_money(Event::NoteEscrowed(n), None, Vec::new()),
            Input::NoteCredited {
                note,
                serial,
                stacked,
            } => self.on_note_credited(note, serial, stacked),
            Input::NoteReturned(n) => {
                let side = self.settle_stack(0);
                self.feed_with(Event::NoteReturned(n), None, side);
            }
            Input::HopperSettled {
                coin,
                paid,
                unpaid,
                intent,
                counter,
            } => {
                let mut side = vec![Op::Settle {
                    intent: intent.clone(),
                    outcome: paid,
                    at_ms: self.now_ms(),
                }];
                if let Some(c) = counter {
                    self.hopper_counters.insert(coin, c);
                    side.push(Op::Cursor(kiosk_ledger::Cursor {
                        device: keys::hopper_device(coin),
                        serial: "0".into(),
                        counter: u32::from(c),
                        events: 0,
                        at_ms: self.now_ms(),
                    }));
                }
                let key = kiosk_core::DeviceKey::new(&intent).ok();
                self.feed_with(Event::HopperSettled { coin, paid, unpaid }, key, side);
            }
            Input::HopperCounter { coin, counter } => {
                self.hopper_counters.insert(coin, counter);
            }
            Input::PagePrinted { job } => {
                let Some(run) = &mut self.run else { return };
                run.pages_done += 1;
                let page = run.job_pages.entry(job).or_insert(0);
                *page += 1;
                let key = keys::sheet_key(run.machine.id(), job, *page);
                self.feed_with(Event::PagePrinted { job }, Some(key), Vec::new());
            }
            Input::CopyCompleted { job } => {
                let side = self.settle_print(job, None);
                self.feed_with(Event::CopyCompleted { job }, None, side)
            }
            Input::PrintFailed {
                job,
                fault,
                spoiled,
            } => {
                self.metrics.incident("print-failed");
                let side = self.settle_print(job, Some(0));
                self.feed_with(
                    Event::PrintFailed {
                        job,
                        fault,
                        spoiled,
                    },
                    None,
                    side,
                )
            }
            Input::FingerScanned(result) => self.on_scanned(result),
            Input::Device(note) => self.on_device(note),
            Input::Net(done) => self.on_net(done),
            Input::Tick => self.on_tick(),
        }
    }

    /// A coin: named by the acceptor's own counter; booked with the cursor in one
    /// transaction, so a restart resumes exactly after the last coin booked.
    fn on_coin(&mut self, coin: kiosk_core::Coin, serial: u32, counter: u8) {
        let at = self.now_ms();
        let cur = self
            .ledger
            .cursor(keys::device::COIN_ACCEPTOR)
            .ok()
            .flatten();
        let Some(next) = keys::advance(
            cur.as_ref(),
            keys::device::COIN_ACCEPTOR,
            serial,
            counter,
            at,
        ) else {
            warn!(
                counter,
                "a coin event already booked was reported again: refused"
            );
            return;
        };
        let key = keys::coin_key(&next);
        if self.ledger.find(&ledger_key(&key)).ok().flatten().is_some() {
            warn!(key = key.as_str(), "a coin already booked: refused");
            return;
        }
        self.feed_money(Event::CoinCredited(coin), Some(key), vec![Op::Cursor(next)]);
    }

    /// Coins whose events fell out of the acceptor's buffer are gone from the books'
    /// view, but the ones still in it are physically in the machine: booked to suspense
    /// for staff, and the kiosk takes no more money until someone looks.
    fn on_coins_lost(
        &mut self,
        serial: u32,
        previous: u8,
        current: u8,
        coins: Vec<(u8, kiosk_core::Coin)>,
    ) {
        let at = self.now_ms();
        let mut cur = self
            .ledger
            .cursor(keys::device::COIN_ACCEPTOR)
            .ok()
            .flatten();
        let mut ops = Vec::new();
        let mut known = 0u64;
        for (counter, coin) in coins {
            let Some(next) = keys::advance(
                cur.as_ref(),
                keys::device::COIN_ACCEPTOR,
                serial,
                counter,
                at,
            ) else {
                continue;
            };
            let debit = if self.settings.hopper_coins.contains(&coin) {
                Account::Hopper(coin)
            } else {
                Account::Cashbox
            };
            match kiosk_core::Transfer::new(
                debit,
                Account::Suspense,
                coin.value().get(),
                kiosk_core::TransferCode::Unexplained,
            ) {
                Ok(t) => ops.push(Op::Post(
                    Entry::new(t, at).key(ledger_key(&keys::coin_key(&next))),
                )),
                Err(e) => error!(%e, "cannot book a lost coin"),
            }
            known += coin.value().get();
            cur = Some(next);
        }
        if let Some(c) = keys::advance(
            cur.as_ref(),
            keys::device::COIN_ACCEPTOR,
            serial,
            current,
            at,
        ) {
            ops.push(Op::Cursor(c));
        } else if let Some(c) = cur {
            ops.push(Op::Cursor(c));
        }
        self.book_ops(&ops);
        error!(
            incident = "coin-events-lost",
            previous,
            current,
            suspense = known,
            "coin events were lost: known coins booked to suspense; money taken out of service"
        );
        self.metrics.incident("coin-events-lost");
        self.out_of_service = Some("money devices: coin events lost".into());
        self.hw.set_acceptors(false);
    }

    /// A note credited: named by the validator's stacked counter. Whether it arrives as
    /// the stack command's completion, as the poll's credit event, or both, it is
    /// booked once.
    fn on_note_credited(&mut self, note: kiosk_core::Note, serial: u32, stacked: u32) {
        let key = keys::note_key(serial, stacked);
        if self.ledger.find(&ledger_key(&key)).ok().flatten().is_some() {
            info!(key = key.as_str(), "note credit already booked");
            return;
        }
        let mut side = self.settle_stack(1);
        side.push(Op::Cursor(kiosk_ledger::Cursor {
            device: keys::device::BILL_VALIDATOR.into(),
            serial: keys::serial_text(serial),
            counter: stacked,
            events: u64::from(stacked),
            at_ms: self.now_ms(),
        }));
        self.feed_money(Event::NoteStacked(note), Some(key), side);
    }

    /// Settles the open stack intent (1: stacked, 0: returned), if there is one.
    fn settle_stack(&mut self, outcome: u32) -> Vec<Op> {
        let at = self.now_ms();
        match self.run.as_mut().and_then(|r| r.stack_intent.take()) {
            Some(intent) => vec![Op::Settle {
                intent,
                outcome,
                at_ms: at,
            }],
            None => Vec::new(),
        }
    }

    /// Settles print job `job`'s intent with the pages that came out (all of them when
    /// `pages` is `None`).
    fn settle_print(&mut self, job: u32, pages: Option<u32>) -> Vec<Op> {
        let at = self.now_ms();
        let Some(run) = &self.run else {
            return Vec::new();
        };
        let done = run.job_pages.get(&job).copied().unwrap_or(0);
        let total = run
            .printing
            .as_ref()
            .and_then(|(_, issue)| run.prepared.iter().find(|p| &p.issue == issue))
            .map_or(done, |p| p.pages);
        vec![Op::Settle {
            intent: keys::print_intent(run.machine.id(), job),
            outcome: pages.map_or(total, |_| done),
            at_ms: at,
        }]
    }

    fn on_device(&mut self, note: DeviceNote) {
        match &note {
            DeviceNote::Earphone { inserted } => self.earphone = *inserted,
            DeviceNote::Online { device, online } => {
                self.metrics.device_online(device, *online);
            }
            DeviceNote::Door { door, open } => {
                info!(door, open, "door");
            }
            DeviceNote::StackerFull => {
                warn!(incident = "stacker-full", "the note stacker is full");
                self.stacker_full = true;
            }
            _ => {}
        }
        let _ = self.devices.send(note);
    }

    /// Money with no session: a session is opened to give it back (the machine's stray
    /// money path), so even a coin dropped on an idle kiosk is booked and returned.
    fn feed_money(&mut self, e: Event, key: Option<kiosk_core::DeviceKey>, side: Vec<Op>) {
        if self.run.as_ref().is_none_or(|r| r.ended_at_ms.is_some()) {
            warn!(
                event = e.name(),
                "money while no session runs: returning it"
            );
            let run = self.new_run();
            self.run = Some(run);
        }
        self.feed_with(e, key, side);
    }

    fn feed(&mut self, e: Event) {
        self.feed_with(e, None, Vec::new());
    }

    /// Feeds one event to the session; what it decides is booked with `side` (the
    /// event's cursor or intent settlement) in one transaction, then carried out.
    fn feed_with(&mut self, e: Event, key: Option<kiosk_core::DeviceKey>, side: Vec<Op>) {
        let Some(run) = &mut self.run else {
            warn!(event = e.name(), "event with no session: ignored");
            if !side.is_empty() {
                self.book_ops(&side);
            }
            return;
        };
        let _g = run.span.clone().entered();
        let name = e.name();
        let r = match key {
            Some(k) => run.machine.handle_keyed(e, k),
            None => run.machine.handle(e),
        };
        match r {
            Ok(cmds) => self.execute_batch(cmds, side),
            Err(err) => {
                warn!(event = name, %err, "event refused by the session");
                // The device's counter still moved; an intent stays open for recovery
                // to settle from the device, since nothing was booked for it here.
                let cursors: Vec<Op> = side
                    .into_iter()
                    .filter(|o| matches!(o, Op::Cursor(_)))
                    .collect();
                if !cursors.is_empty() {
                    self.book_ops(&cursors);
                }
            }
        }
    }

    fn on_tick(&mut self) {
        let mono = self.clock.mono_ms();
        let linger = self.settings.linger_ms;
        if self
            .run
            .as_ref()
            .and_then(|r| r.ended_at_ms)
            .is_some_and(|at| mono.saturating_sub(at) >= linger)
        {
            self.run = None;
        }
        if self.run.as_ref().is_some_and(|r| r.ended_at_ms.is_none()) {
            self.feed(Event::Tick { now_ms: mono });
        }
        let now = self.clock.local_time();
        let restarted_already = self
            .settings
            .schedule
            .restart_done_recently(self.started_at, now);
        let idle = self.run.as_ref().is_none_or(|r| r.ended_at_ms.is_some());
        if self.phase() == Phase::RestartDue && idle && !restarted_already {
            info!("daily restart: exiting for the service manager to start us again");
            self.draining = true;
        }
    }

    fn on_scanned(&mut self, result: Result<Zeroizing<Vec<u8>>, String>) {
        let Some(run) = &mut self.run else { return };
        run.scanning = false;
        let template = match result {
            Ok(t) => t,
            Err(reason) => {
                warn!(%reason, "fingerprint scanner failed");
                self.feed(Event::IdentityUnavailable);
                return;
            }
        };
        let Some(rrn) = run.rrn.clone() else { return };
        let session = run.machine.id();
        let id = uuid::Uuid::new_v4().to_string();
        if let Err(e) = self.ledger.egov_sent(
            &id,
            Service::VerifyIdentity,
            Some(session),
            None,
            None,
            self.now_ms(),
        ) {
            error!(%e, "cannot save the message id: not sending");
            self.feed(Event::IdentityUnavailable);
            return;
        }
        let net = self.net.clone();
        let tx = self.tx.clone();
        let guard = InFlight::new(&self.in_flight);
        tokio::spawn(async move {
            let _guard = guard;
            let outcome = net.verify_identity(&id, &rrn, &template).await;
            drop(template);
            drop(rrn);
            let _ = tx
                .send(Msg::Input(Input::Net(NetDone::Identity {
                    session: session.0,
                    message_id: id,
                    outcome,
                })))
                .await;
        });
    }

    fn on_net(&mut self, done: NetDone) {
        match done {
            NetDone::Identity {
                session,
                message_id,
                outcome,
            } => {
                let state = match &outcome {
                    NetOutcome::Ok(_) => MessageState::Ok,
                    NetOutcome::Failed(_) => MessageState::Failed,
                    NetOutcome::Unknown => MessageState::Unknown,
                };
                self.settle(&message_id, state, None, None);
                let Some(run) = &mut self.run else { return };
                if run.machine.id().0 != session {
                    return;
                }
                let event = match outcome {
                    NetOutcome::Ok(token) => {
                        run.token = Some(token);
                        run.rrn = None; // wiped: the number is not needed any more
                        Event::IdentityVerified
                    }
                    NetOutcome::Failed(NetFailure::FingerprintMismatch) => {
                        Event::FingerprintMismatch
                    }
                    NetOutcome::Failed(_) | NetOutcome::Unknown => {
                        run.rrn = None;
                        Event::IdentityUnavailable
                    }
                };
                self.feed(event);
            }
            NetDone::Fetched { session, lines } => self.on_fetched(session, lines),
            NetDone::Reported {
                message_id,
                issue,
                outcome,
            } => {
                let (state, ev) = match outcome {
                    NetOutcome::Ok(ev) => (MessageState::Ok, Some(ev)),
                    NetOutcome::Failed(f) => {
                        warn!(?f, issue = issue.as_str(), "report refused");
                        (MessageState::Failed, None)
                    }
                    NetOutcome::Unknown => (MessageState::Unknown, None),
                };
                self.settle(&message_id, state, None, ev);
            }
        }
    }

    fn settle(
        &mut self,
        id: &str,
        state: MessageState,
        issue: Option<IssueNumber>,
        ev: Option<crate::ports::Evidence>,
    ) {
        let s = Settlement {
            state,
            issue,
            request_sha256: ev.map(|e| e.request_sha256),
            reply_sha256: ev.map(|e| e.reply_sha256),
            at_ms: self.now_ms(),
        };
        if let Err(e) = self.ledger.egov_settle(id, &s) {
            error!(%e, "cannot record a message outcome");
        }
    }

    fn on_fetched(&mut self, session: u64, lines: Vec<(String, NetOutcome<Prepared>)>) {
        let mut docs = Vec::new();
        let mut failure = None;
        for (id, outcome) in lines {
            match outcome {
                NetOutcome::Ok(p) => {
                    self.settle(
                        &id,
                        MessageState::Ok,
                        Some(p.issue.clone()),
                        Some(p.evidence),
                    );
                    docs.push(p);
                }
                NetOutcome::Failed(f) => {
                    self.settle(&id, MessageState::Failed, None, None);
                    failure.get_or_insert(match f {
                        NetFailure::NetworkDown => FetchFailure::NetworkDown,
                        NetFailure::BackendDown(_) => FetchFailure::BackendDown,
                        _ => FetchFailure::Refused,
                    });
                }
                NetOutcome::Unknown => {
                    self.settle(&id, MessageState::Unknown, None, None);
                    failure.get_or_insert(FetchFailure::NetworkDown);
                }
            }
        }
        let resources = self.resources();
        let Some(run) = &mut self.run else { return };
        if run.machine.id().0 != session {
            return;
        }
        if let Some(f) = failure {
            // The documents that were fetched will not be printed: cancel their issues.
            let issues: Vec<IssueNumber> = docs.iter().map(|d| d.issue.clone()).collect();
            self.feed(Event::FetchFailed(f));
            for issue in issues {
                self.execute(Command::CancelIssue { issue }, None);
            }
            return;
        }
        run.pages_total = run
            .lines
            .iter()
            .zip(&docs)
            .map(|(l, d)| d.pages * u32::from(l.copies))
            .sum();
        let fetched = docs
            .iter()
            .map(|d| FetchedDoc {
                issue: d.issue.clone(),
                fee_per_copy: d.fee,
                pages: Sheets::new(d.pages),
            })
            .collect();
        run.prepared = docs;
        self.feed(Event::Fetched {
            documents: fetched,
            resources,
        });
    }

    fn inspect(&self) -> Inspection {
        let h = self.hoppers();
        Inspection {
            printer_ok: self.hw.printer_ok(),
            paper: self.ledger.balance(&Account::PaperTray).unwrap_or(0),
            hoppers: self
                .settings
                .hopper_coins
                .iter()
                .map(|c| (c.value().get(), h.available(*c)))
                .collect(),
            stacker_full: self.stacker_full,
            network_ok: self.net.network_available(),
            last_entry_ms: self
                .ledger
                .last_seq()
                .ok()
                .and_then(|s| self.ledger.entries_since(s.saturating_sub(1), 1).ok())
                .and_then(|v| v.first().map(|e| e.at_ms))
                .unwrap_or(0),
        }
    }

    fn hoppers(&self) -> Hoppers {
        let mut h = Hoppers::NONE;
        for &coin in &self.settings.hopper_coins {
            let won = self
                .ledger
                .balance(&Account::Hopper(coin))
                .unwrap_or(0)
                .max(0) as u64;
            let count = won / coin.value().get();
            h = h.with(coin, u32::try_from(count).unwrap_or(u32::MAX));
        }
        h
    }

    fn resources(&self) -> Resources {
        let paper = self.ledger.balance(&Account::PaperTray).unwrap_or(0).max(0);
        Resources {
            paper: Sheets::new(u32::try_from(paper).unwrap_or(u32::MAX)),
            toner_ok: self.hw.printer_ok(),
            hoppers: self.hoppers(),
        }
    }

    // ----- commands -------------------------------------------------------------------

    fn execute_all(&mut self, cmds: Vec<Command>) {
        self.execute_batch(cmds, Vec::new());
    }

    /// Carries out what the session decided for one event: every booking, every intent
    /// of a device command and the event's own `side` ops go to the ledger in one
    /// transaction first; only then are the devices told. If the ledger refuses, no
    /// device acts and the kiosk stops taking money.
    fn execute_batch(&mut self, cmds: Vec<Command>, side: Vec<Op>) {
        let at = self.now_ms();
        let mut ops = side;
        let mut planned = Vec::with_capacity(cmds.len());
        for c in cmds {
            let intent = self.intent_for(&c, at);
            if let Some(i) = &intent {
                ops.push(Op::Intent(i.clone()));
            }
            if let Some(op) = self.ledger_op(&c, at) {
                ops.push(op);
            }
            planned.push((c, intent.map(|i| i.id)));
        }
        if !ops.is_empty() && !self.book_ops(&ops) {
            return;
        }
        for (c, intent) in planned {
            self.execute(c, intent);
        }
    }

    /// The intent to journal before a device command is carried out.
    fn intent_for(&mut self, cmd: &Command, at: i64) -> Option<Intent> {
        let run = self.run.as_mut()?;
        let session = run.machine.id();
        let base = |id: String, kind, device: String, amount: u32| Intent {
            id,
            kind,
            session,
            device,
            amount,
            before: None,
            job_name: None,
            document: None,
            issue: None,
            fee: None,
            code: None,
            at_ms: at,
        };
        match cmd {
            Command::Dispense { coin, count } => {
                let n = run.dispenses;
                run.dispenses += 1;
                let mut i = base(
                    keys::dispense_intent(session, n),
                    IntentKind::Dispense,
                    keys::hopper_device(*coin),
                    *count,
                );
                i.before = self.hopper_counters.get(coin).map(|&c| u32::from(c));
                i.code = Some(if run.machine.state() == State::PayingChange {
                    kiosk_core::TransferCode::ChangePaid
                } else {
                    kiosk_core::TransferCode::Refund
                });
                Some(i)
            }
            Command::StackNote { key, note } => {
                let mut i = base(
                    keys::stack_intent(session, key.seq),
                    IntentKind::Stack,
                    keys::device::BILL_VALIDATOR.into(),
                    u32::try_from(note.value().get()).unwrap_or(u32::MAX),
                );
                i.before = self
                    .ledger
                    .cursor(keys::device::BILL_VALIDATOR)
                    .ok()
                    .flatten()
                    .map(|c| c.counter);
                run.stack_intent = Some(i.id.clone());
                Some(i)
            }
            Command::Print {
                job,
                code,
                issue,
                copy,
                pages,
            } => {
                let fee = run
                    .prepared
                    .iter()
                    .find(|p| &p.issue == issue)
                    .map(|p| p.fee.get());
                let mut i = base(
                    keys::print_intent(session, *job),
                    IntentKind::Print,
                    keys::device::A4_PRINTER.into(),
                    pages.get(),
                );
                i.job_name = Some(keys::job_name(session, issue, *copy));
                i.document = Some(code.clone());
                i.issue = Some(issue.clone());
                i.fee = fee;
                Some(i)
            }
            _ => None,
        }
    }

    /// The ledger write a booking command stands for.
    fn ledger_op(&self, cmd: &Command, at: i64) -> Option<Op> {
        match cmd {
            Command::Book {
                transfer,
                pending,
                key,
            } => {
                let run = self.run.as_ref()?;
                let mut entry = Entry::new(transfer.clone(), at).session(run.machine.id());
                let about_a_document = matches!(
                    transfer.code(),
                    kiosk_core::TransferCode::Fee
                        | kiosk_core::TransferCode::SheetPrinted
                        | kiosk_core::TransferCode::SheetSpoiled
                );
                if let Some((code, issue)) = run.printing.as_ref().filter(|_| about_a_document) {
                    entry = entry.document(code.clone()).issue(issue.clone());
                }
                if let Some(k) = key {
                    entry = entry.key(ledger_key(k));
                }
                match pending {
                    Some(k) => match escrow_key(*k) {
                        Ok(key) => Some(Op::Pending(entry.key(key))),
                        Err(e) => {
                            error!(%e, "bad escrow key");
                            None
                        }
                    },
                    None => Some(Op::Post(entry)),
                }
            }
            Command::PostPending { key } => escrow_key(*key).ok().map(|k| Op::PostPending {
                pending: Resolve::Key(k),
                at_ms: at,
            }),
            Command::VoidPending { key } => escrow_key(*key).ok().map(|k| Op::VoidPending {
                pending: Resolve::Key(k),
                at_ms: at,
            }),
            _ => None,
        }
    }

    fn execute(&mut self, cmd: Command, intent: Option<String>) {
        let at = self.now_ms();
        match cmd {
            Command::Book { .. } | Command::PostPending { .. } | Command::VoidPending { .. } => {}
            Command::VerifyIdentity { attempt } => {
                if let Some(run) = &mut self.run {
                    run.identity_attempt = Some(attempt);
                    run.guidance = Some(Guidance::RetryFingerprint {
                        tries_left: self.settings.session.fingerprint_tries + 1 - attempt,
                    });
                    if run.rrn.is_some() {
                        self.start_scan();
                    }
                }
            }
            Command::Fetch { documents } => self.start_fetch(documents.len()),
            Command::CancelIssue { issue } => self.report(issue, None),
            Command::ConfirmIssued { issue, copies } => {
                let pages = self
                    .run
                    .as_ref()
                    .and_then(|r| r.prepared.iter().find(|p| p.issue == issue))
                    .map_or(0, |p| p.pages * u32::from(copies));
                self.report(issue, Some(pages));
            }
            Command::EnableAcceptors => self.hw.set_acceptors(true),
            Command::DisableAcceptors => self.hw.set_acceptors(false),
            Command::PaymentStatus {
                exact_amount_only, ..
            } => {
                if let Some(run) = &mut self.run {
                    run.exact_amount_only = exact_amount_only;
                }
            }
            Command::StackNote { note, .. } => self.hw.stack_note(note),
            Command::ReturnNote { note, reason, .. } => {
                info!(?reason, "returning a note");
                self.hw.return_note(note)
            }
            Command::Print {
                job,
                code,
                issue,
                copy,
                ..
            } => {
                let Some(run) = &mut self.run else { return };
                let Some(p) = run.prepared.iter().find(|p| p.issue == issue) else {
                    error!(job, "print command for an issue that was not fetched");
                    return;
                };
                let (pdf, pages) = (p.pdf.clone(), p.pages);
                let name = keys::job_name(run.machine.id(), &issue, copy);
                run.printing = Some((code.clone(), issue.clone()));
                self.metrics.print_submitted(code.as_str());
                self.hw.print(job, name, pdf, pages);
            }
            Command::Dispense { coin, count } => match intent {
                Some(id) => self.hw.dispense(coin, count, id),
                None => error!(?coin, count, "a payout without its intent: not paid"),
            },
            Command::RaiseIou { amount } => {
                warn!(
                    incident = "iou",
                    amount = amount.get(),
                    "change owed to a citizen"
                );
                self.metrics.incident("iou");
            }
            Command::PrintReceipt(r) => {
                let (lines, iou) = receipt_lines(&r, &self.settings.kiosk_id, at);
                self.hw.print_receipt(lines, iou);
            }
            Command::Guide(g) => {
                if let Some(run) = &mut self.run {
                    run.guidance = Some(g);
                }
            }
            Command::Ended => {
                let mono = self.clock.mono_ms();
                if let Some(run) = &mut self.run {
                    run.ended_at_ms = Some(mono);
                    run.rrn = None;
                    run.token = None;
                    let outcome = match run.machine.state() {
                        State::Done => "done",
                        State::Canceled(r) => end_reason(r),
                        _ => "other",
                    };
                    let _g = run.span.clone().entered();
                    info!(
                        outcome,
                        inserted = run.machine.inserted().get(),
                        fees = run.machine.fees().get(),
                        paid_back = run.machine.paid_back().get(),
                        owed = run.machine.owed().get(),
                        "session ended"
                    );
                    self.metrics.session_ended(outcome);
                    for l in &run.lines {
                        self.metrics.issuance(l.code.as_str(), outcome);
                    }
                }
            }
        }
    }

    /// Writes `ops` in one transaction. On refusal the kiosk stops taking money: the
    /// books refused something the session decided, and no device may act on it.
    fn book_ops(&mut self, ops: &[Op]) -> bool {
        let started = std::time::Instant::now();
        match self.ledger.apply(ops) {
            Ok(_) => {
                self.metrics.ledger_commit(started.elapsed());
                true
            }
            Err(e) => {
                error!(%e, ops = ops.len(), "ledger refused a batch; taking the kiosk out of service");
                self.out_of_service = Some("ledger error".into());
                self.hw.set_acceptors(false);
                false
            }
        }
    }

    fn start_scan(&mut self) {
        let Some(run) = &mut self.run else { return };
        let Some(rrn) = run.rrn.clone() else { return };
        run.scanning = true;
        self.hw.scan_finger(rrn);
    }

    fn start_fetch(&mut self, n: usize) {
        let at = self.now_ms();
        let Some(run) = &self.run else { return };
        let session = run.machine.id();
        let mut jobs = Vec::new();
        for line in run.lines.iter().take(n) {
            let id = uuid::Uuid::new_v4().to_string();
            jobs.push((id, line.clone()));
        }
        for (id, line) in &jobs {
            if let Err(e) = self.ledger.egov_sent(
                id,
                Service::FetchDocument,
                Some(session),
                Some(&line.code),
                None,
                at,
            ) {
                error!(%e, "cannot save a message id: not fetching");
                self.feed(Event::FetchFailed(FetchFailure::NetworkDown));
                return;
            }
        }
        let token = run.token.clone();
        let net = self.net.clone();
        let tx = self.tx.clone();
        let renderer = self.renderer.clone();
        let signing = self.signing.clone();
        let kiosk_id = self.settings.kiosk_id.clone();
        let metrics = self.metrics.clone();
        let guard = InFlight::new(&self.in_flight);
        tokio::spawn(async move {
            let _guard = guard;
            let mut out = Vec::new();
            for (id, line) in jobs {
                let req = FetchRequest {
                    code: line.code.clone(),
                    agency: line.agency.clone(),
                    options: line.options.clone(),
                    token: if line.needs_identity {
                        token.clone()
                    } else {
                        None
                    },
                    address: line.address.clone(),
                };
                let started = std::time::Instant::now();
                let outcome = net.fetch_document(&id, &req).await;
                metrics.egov_latency("fetch-document", started.elapsed());
                let outcome = match outcome {
                    NetOutcome::Ok(doc) => {
                        let renderer = renderer.clone();
                        let signing = signing.clone();
                        let kiosk_id = kiosk_id.clone();
                        let line = line.clone();
                        let rendered = tokio::task::spawn_blocking(move || {
                            render(&renderer, &signing, &kiosk_id, &line, doc, at)
                        })
                        .await;
                        match rendered {
                            Ok(Ok(p)) => NetOutcome::Ok(p),
                            Ok(Err(e)) => NetOutcome::Failed(NetFailure::BadReply(e)),
                            Err(e) => NetOutcome::Failed(NetFailure::BadReply(e.to_string())),
                        }
                    }
                    NetOutcome::Failed(f) => NetOutcome::Failed(f),
                    NetOutcome::Unknown => NetOutcome::Unknown,
                };
                let stop = !matches!(outcome, NetOutcome::Ok(_));
                out.push((id, outcome));
                if stop {
                    break;
                }
            }
            let _ = tx
                .send(Msg::Input(Input::Net(NetDone::Fetched {
                    session: session.0,
                    lines: out,
                })))
                .await;
        });
    }

    fn report(&mut self, issue: IssueNumber, confirm_pages: Option<u32>) {
        let id = uuid::Uuid::new_v4().to_string();
        let service = if confirm_pages.is_some() {
            Service::ConfirmIssued
        } else {
            Service::CancelIssue
        };
        let session = self.run.as_ref().map(|r| r.machine.id());
        if let Err(e) =
            self.ledger
                .egov_sent(&id, service, session, None, Some(&issue), self.now_ms())
        {
            error!(%e, "cannot save a message id; the reconciler will report it");
            return;
        }
        let net = self.net.clone();
        let tx = self.tx.clone();
        let guard = InFlight::new(&self.in_flight);
        tokio::spawn(async move {
            let _guard = guard;
            let outcome = match confirm_pages {
                Some(p) => net.confirm_issued(&id, &issue, p).await,
                None => net.cancel_issue(&id, &issue).await,
            };
            let _ = tx
                .send(Msg::Input(Input::Net(NetDone::Reported {
                    message_id: id,
                    issue,
                    outcome,
                })))
                .await;
        });
    }

    // ----- the view -------------------------------------------------------------------

    fn publish(&mut self) {
        let mode = if self.out_of_service.is_some() {
            "out-of-service"
        } else if self.draining {
            "restarting"
        } else {
            match self.phase() {
                Phase::Open if !self.net.network_available() => "out-of-service",
                Phase::Open => "open",
                Phase::Closed => "out-of-hours",
                Phase::Draining | Phase::RestartDue => "restarting",
            }
        };
        let reason = self.out_of_service.clone().or_else(|| {
            (!self.net.network_available()).then(|| "the e-government network is down".into())
        });
        let hoppers = self.hoppers();
        let exact = !self
            .settings
            .hopper_coins
            .iter()
            .any(|&c| hoppers.available(c) >= 10);
        let unavailable: Vec<String> = self
            .catalog
            .catalog()
            .agencies()
            .iter()
            .filter(|a| !self.net.agency_available(&a.code))
            .map(|a| a.code.clone())
            .collect();
        let session = self.run.as_ref().map(|r| session_view(r, &self.settings));
        for (coin, _) in self.settings.hopper_coins.iter().map(|c| (c, ())) {
            self.metrics
                .hopper_level(coin.value().get(), hoppers.available(*coin));
        }
        self.metrics
            .paper(self.ledger.balance(&Account::PaperTray).unwrap_or(0));
        let snap = Snapshot {
            kiosk: KioskView {
                id: self.settings.kiosk_id.clone(),
                site: self.settings.site.clone(),
                mode,
                reason: if mode == "open" { None } else { reason },
                hours: self.settings.schedule.hours.to_string(),
                exact_amount_only: exact,
                unavailable_agencies: unavailable,
                earphone: self.earphone,
                where_else: self.settings.where_else.clone(),
                accessibility: self.settings.accessibility.clone(),
                limits: limits(&self.settings),
            },
            session,
        };
        self.view.send_if_modified(|old| {
            if *old == snap {
                false
            } else {
                *old = snap;
                true
            }
        });
    }
}

fn limits(s: &Settings) -> crate::view::Limits {
    crate::view::Limits {
        max_copies: s.session.max_copies,
        max_lines: s.session.max_lines,
    }
}

fn session_view(r: &Run, s: &Settings) -> SessionView {
    let m = &r.machine;
    let basket = r
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| LineView {
            line: i,
            code: l.code.to_string(),
            name: l.name.clone(),
            name_en: l.name_en.clone(),
            copies: l.copies,
            options: l.options.clone(),
            needs_identity: l.needs_identity,
            fee_per_copy: r.prepared.get(i).map(|p| p.fee.get()),
            pages: r.prepared.get(i).map(|p| p.pages),
        })
        .collect();
    let needed = r.lines.iter().any(|l| l.needs_identity);
    let tries_used = r.identity_attempt.map_or(0, |a| a.saturating_sub(1));
    let due = m.due().get();
    let inserted = m.inserted().get();
    let ended = r.ended_at_ms.map(|_| EndedView {
        reason: match m.state() {
            State::Done => "done",
            State::Canceled(reason) => end_reason(reason),
            _ => "other",
        },
        inserted,
        fees: m.fees().get(),
        paid_back: m.paid_back().get(),
        owed: m.owed().get(),
    });
    let guidance = match (r.scanning, r.guidance) {
        // A retry keeps its message (with the tries left) while the finger is read again.
        (true, Some(g @ Guidance::RetryFingerprint { .. })) if tries_used > 0 => {
            Some(guidance_json(g))
        }
        (true, _) => Some(serde_json::json!({"kind": "place-finger"})),
        (false, g) => g.map(guidance_json),
    };
    SessionView {
        id: m.id().0,
        state: m.state().name(),
        basket,
        identity: IdentityView {
            needed,
            given: r.rrn.is_some() || r.token.is_some(),
            tries_left: s.session.fingerprint_tries.saturating_sub(tries_used),
            scanning: r.scanning,
        },
        due,
        inserted,
        change: inserted.saturating_sub(due.max(m.fees().get())),
        exact_amount_only: r.exact_amount_only,
        printing: PrintingView {
            pages_done: r.pages_done,
            pages_total: r.pages_total,
        },
        receipt: r.receipt,
        guidance,
        ended,
    }
}

fn end_reason(r: EndReason) -> &'static str {
    match r {
        EndReason::CitizenCanceled => "citizen-canceled",
        EndReason::TimedOut => "timed-out",
        EndReason::IdentityFailed => "identity-failed",
        EndReason::IdentityUnavailable => "identity-unavailable",
        EndReason::FetchFailed(_) => "fetch-failed",
        EndReason::CannotServe(_) => "cannot-serve",
        EndReason::StrayMoney => "stray-money",
    }
}

fn guidance_json(g: Guidance) -> serde_json::Value {
    use kiosk_core::session::{CounterReason, Outage, PrintFault, Refusal, ReturnReason};
    use serde_json::json;
    match g {
        Guidance::TimeoutWarning { ms_left } => {
            json!({"kind": "timeout-warning", "seconds_left": ms_left.div_ceil(1000)})
        }
        Guidance::RetryFingerprint { tries_left } => {
            json!({"kind": "retry-fingerprint", "tries_left": tries_left})
        }
        Guidance::GoToCounter(r) => json!({"kind": "go-to-counter", "why": match r {
            CounterReason::FingerprintNotMatched => "fingerprint-not-matched",
            CounterReason::RequestRefused => "request-refused",
        }}),
        Guidance::GoElsewhere(o) => json!({"kind": "go-elsewhere", "why": match o {
            Outage::Network => "network",
            Outage::Backend => "backend",
            Outage::IdentityService => "identity-service",
        }}),
        Guidance::CannotServe(r) => json!({"kind": "cannot-serve", "why": match r {
            Refusal::NotEnoughPaper { .. } => "not-enough-paper",
            Refusal::TonerOut => "toner-out",
            Refusal::DueTooLarge => "due-too-large",
            Refusal::TooManyPages => "too-many-pages",
        }}),
        Guidance::PrintFailed { fault, refund } => json!({"kind": "print-failed",
            "fault": match fault { PrintFault::Jam => "jam", PrintFault::TrayEmpty => "tray-empty", PrintFault::Other => "other" },
            "refund": refund.get()}),
        Guidance::Canceled => json!({"kind": "canceled"}),
        Guidance::TimedOut => json!({"kind": "timed-out"}),
        Guidance::NoteReturned(r) => json!({"kind": "note-returned", "why": match r {
            ReturnReason::NotNeeded => "not-needed",
            ReturnReason::CannotMakeChange => "cannot-make-change",
            ReturnReason::NotAccepting => "not-accepting",
        }}),
    }
}

fn rejected(e: &kiosk_core::session::Rejected) -> ApiError {
    use kiosk_core::session::Rejected as R;
    let code = match e {
        R::BasketFull { .. } => "basket-full",
        R::BadCopies { .. } => "bad-copies",
        R::NoSuchLine(_) => "bad-request",
        R::EmptyBasket => "empty-basket",
        _ => "not-now",
    };
    ApiError::new(422, code, e.to_string())
}

/// A device key as the ledger's idempotency key (same alphabet and length).
fn ledger_key(k: &kiosk_core::DeviceKey) -> IdempotencyKey {
    // Both types accept exactly ASCII letters, digits and `: . _ -` up to 64 characters.
    IdempotencyKey::new(k.as_str()).unwrap_or_else(|_| unreachable_ledger_key())
}

#[cold]
fn unreachable_ledger_key() -> IdempotencyKey {
    IdempotencyKey::new("invalid-device-key").unwrap_or_else(|_| unreachable_ledger_key())
}

fn escrow_key(k: kiosk_core::session::EscrowKey) -> Result<IdempotencyKey, kiosk_core::IdError> {
    IdempotencyKey::new(&format!("escrow:{}:{}", k.session.0, k.seq))
}

/// 13 digits, with or without the hyphen after the sixth.
pub fn valid_rrn(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        13 => b.iter().all(u8::is_ascii_digit),
        14 => {
            b[6] == b'-'
                && b[..6].iter().all(u8::is_ascii_digit)
                && b[7..].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

fn render(
    renderer: &Renderer,
    signing: &SigningKey,
    kiosk_id: &str,
    line: &Line,
    doc: crate::ports::FetchedDocument,
    at_ms: i64,
) -> Result<Prepared, String> {
    kiosk_render::check_data(&doc.data).map_err(|e| e.to_string())?;
    let req = RenderRequest {
        code: line.code.clone(),
        issue_number: doc.issue.clone(),
        issued_at: IssuedAt::from_unix(at_ms.div_euclid(1000)).map_err(|e| e.to_string())?,
        kiosk_id: kiosk_id.to_owned(),
        options: line.options.clone(),
        data: doc.data,
    };
    let r = renderer.render(&req, signing).map_err(|e| e.to_string())?;
    Ok(Prepared {
        issue: doc.issue,
        fee: doc.fee,
        pages: u32::try_from(r.pages).map_err(|e| e.to_string())?,
        pdf: Arc::new(r.pdf),
        evidence: doc.evidence,
    })
}

fn receipt_lines(r: &Receipt, kiosk: &str, at_ms: i64) -> (Vec<String>, Option<String>) {
    let when = IssuedAt::from_unix(at_ms.div_euclid(1000))
        .map(|t| t.display_kst())
        .unwrap_or_default();
    let mut lines = vec![
        "무인민원발급기 영수증".to_owned(),
        format!("{kiosk} #{}", r.session.0),
        when,
        "--------------------------------".to_owned(),
    ];
    for l in &r.lines {
        lines.push(format!("{} x{}", l.code, l.copies));
        lines.push(format!(
            "  {}  {}",
            l.issue,
            Won::new(l.fee_per_copy.get() * u64::from(l.copies))
        ));
    }
    lines.push("--------------------------------".to_owned());
    lines.push(format!("투입 {}", r.inserted));
    lines.push(format!("수수료 {}", r.fees));
    lines.push(format!("거스름 {}", r.paid_back));
    let iou = (!r.owed.is_zero()).then(|| format!("미지급 거스름 {} - 직원에게 문의", r.owed));
    (lines, iou)
}
