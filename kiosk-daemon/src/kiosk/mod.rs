//! The orchestrator: one task that owns the citizen's session, the ledger and the view.
//!
//! Decisions are kiosk-core's [`Session`]; this module is the shell around it. Everything
//! that happens (a touch, a coin, a page, a reply) arrives as one [`Input`] or
//! [`ApiRequest`] on one bounded queue and is handled to completion before the next: no
//! locks, no races between a coin and a cancel. Each command the session emits is carried
//! out here: bookings go to the ledger before anything else happens (so a crash leaves
//! the journal ahead of the world, never behind), device commands go to [`Hardware`],
//! network calls are saved, then sent on their own tasks and answer back as inputs.
//!
//! Where the rest lives: `request` (the touchscreen's requests, validated), `money` (device
//! events booked under their device keys, intents journaled before a device acts),
//! `issuing` (identity, fetch, confirm and cancel over the network), `screen` (the view).

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
use kiosk_render::{IssuedAt, RenderRequest, SigningKey};
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
    Typeset,
};
use crate::schedule::{Phase, Schedule};
mod issuing;
mod money;
mod request;
mod screen;

use issuing::receipt_lines;
pub use request::valid_rrn;
use screen::{end_reason, limits};

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
    renderer: Arc<dyn Typeset>,
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
    /// Cabinet doors open now: no money is taken while any is.
    doors_open: std::collections::BTreeSet<&'static str>,
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
    pub renderer: Arc<dyn Typeset>,
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
            doors_open: Default::default(),
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
                    // The answer carries the state after the action: publish first.
                    self.publish();
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

    /// Takes no more money until staff have looked: the acceptors are inhibited and no
    /// session starts (a fraud alarm, lost coin events, notes or payouts recovery could
    /// not explain). The session running finishes; a restart after the visit clears it.
    pub fn hold_money(&mut self, reason: &str) {
        error!(
            incident = "money-held",
            reason, "the kiosk takes no money until staff look"
        );
        self.out_of_service = Some(reason.to_owned());
        self.hw.set_acceptors(false);
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
            Input::CoinCounter { serial, counter } => self.on_coin_counter(serial, counter),
            Input::CoinsLost {
                serial,
                previous,
                current,
                coins,
            } => self.on_coins_lost(serial, previous, current, coins),
            Input::CoinAcceptorReset => self.on_acceptor_reset(),
            Input::NoteCredited {
                note,
                serial,
                stacked,
            } => self.on_note_credited(note, serial, stacked),
            Input::HopperSettled {
                coin,
                paid,
                unpaid,
                intent,
                counter,
            } => self.on_hopper_settled(coin, paid, unpaid, intent, counter),
            Input::HopperCounter { coin, counter } => {
                self.hopper_counters.insert(coin, counter);
            }
            Input::Event(e) => self.on_event(e),
            Input::FingerScanned(result) => self.on_scanned(result),
            Input::Device(note) => self.on_device(note),
            Input::Net(done) => self.on_net(done),
            Input::Tick => self.on_tick(),
        }
    }

    /// A device event the session takes as it is, with what the orchestrator adds: the
    /// sheet's key for a page, the intent a copy or a note settles.
    fn on_event(&mut self, e: Event) {
        match e {
            Event::NoteEscrowed(_) => self.feed_money(e, None, Vec::new()),
            Event::NoteReturned(_) => {
                let side = self.settle_stack(0);
                self.feed_with(e, None, side);
            }
            Event::PagePrinted { job } => {
                let Some(run) = &mut self.run else { return };
                run.pages_done += 1;
                let page = run.job_pages.entry(job).or_insert(0);
                *page += 1;
                let key = keys::sheet_key(run.machine.id(), job, *page);
                self.feed_with(e, Some(key), Vec::new());
            }
            Event::CopyCompleted { job } => {
                let side = self.settle_print(job, None);
                self.feed_with(e, None, side)
            }
            Event::PrintFailed { job, .. } => {
                self.metrics.incident("print-failed");
                let side = self.settle_print(job, Some(0));
                self.feed_with(e, None, side)
            }
            other => warn!(event = other.name(), "not a device event: ignored"),
        }
    }

    fn on_device(&mut self, note: DeviceNote) {
        match &note {
            DeviceNote::Earphone { inserted } => self.earphone = *inserted,
            DeviceNote::Online { device, online } => {
                self.metrics.device_online(device, *online);
            }
            DeviceNote::Door { door, open } => {
                // No maintenance session exists yet (the maintenance issue brings them):
                // every opening is outside one, so money stops while any door is open.
                if *open {
                    error!(
                        incident = "door-open",
                        door, "a door opened: no money while it is open"
                    );
                    self.metrics.incident("door-open");
                    self.doors_open.insert(door);
                    self.hw.set_acceptors(false);
                } else {
                    info!(door, "door closed");
                    self.doors_open.remove(door);
                }
            }
            DeviceNote::Tamper { tripped: true } => {
                self.metrics.incident("tamper");
                self.hold_money("the tamper switch tripped");
            }
            DeviceNote::BoardAlarm { alarm } => {
                error!(
                    incident = "io-board-alarm",
                    alarm, "the I/O board raised an alarm"
                );
                self.metrics.incident(alarm);
                match *alarm {
                    "auth-lockout" => {
                        self.hold_money("repeated bad unlock attempts on the I/O board")
                    }
                    // Something on the device line speaks for the board: no door or
                    // sensor reading can be trusted until staff look.
                    "event-forged" => {
                        self.hold_money("forged or replayed events on the I/O board's line")
                    }
                    _ => {}
                }
            }
            DeviceNote::StackerFull => {
                warn!(incident = "stacker-full", "the note stacker is full");
                self.stacker_full = true;
            }
            DeviceNote::Fraud { device } => {
                self.metrics.incident("fraud");
                self.hold_money(&format!("money devices: fraud reported by the {device}"));
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

    fn execute(&mut self, cmd: Command, intent: Option<String>) {
        let at = self.now_ms();
        match cmd {
            Command::Book { .. } | Command::PostPending { .. } | Command::VoidPending { .. } => {}
            Command::VerifyIdentity { attempt } => {
                if let Some(run) = &mut self.run {
                    run.identity_attempt = Some(attempt);
                    // Only a second or later attempt follows a failed scan.
                    run.guidance = (attempt > 1).then(|| Guidance::RetryFingerprint {
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
                let catalog = self.catalog.catalog();
                let (lines, iou) = receipt_lines(
                    &r,
                    &self.settings.kiosk_id,
                    at,
                    issuing::RECEIPT_COLUMNS,
                    |code| catalog.document(code.as_str()).map(|d| d.name_ko.clone()),
                );
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
}
