//! The [`Session`] and its [`State`]s.

use super::change::{CoinCounts, Hoppers, make_change, plan_payout};
use super::types::{
    Command, CounterReason, DocRequest, EndReason, EscrowKey, Event, FetchFailure, FetchedDoc,
    Guidance, Outage, PrintFault, Receipt, ReceiptLine, Refusal, Rejected, Resources, ReturnReason,
    SessionConfig,
};
use crate::accounts::{Account, Transfer, TransferCode};
use crate::ids::{DeviceKey, SessionId};
use crate::money::{Coin, Note, Sheets, Won};
use serde::{Deserialize, Serialize};

/// Where a session is. Each state says what the kiosk is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Nobody at the kiosk. Waits for a touch ([`Event::Begin`]). Money arriving here is
    /// stray: booked and given back.
    Idle,
    /// The citizen fills the basket. Waits for add/remove/confirm/cancel.
    Selecting,
    /// A personal document is in the basket: waits for the identity back end's verdict on
    /// the fingerprint (a limited number of tries).
    Identifying,
    /// Waits for the e-government network to return issue numbers, fees and pages.
    Fetching,
    /// Documents fetched and printable; acceptors enabled; waits for coins and notes until
    /// the credit covers the fee. The only state in which money is asked for.
    AwaitingPayment,
    /// Paid (or free): printing one copy at a time; waits for printer events.
    Printing,
    /// Printing is over (completely or not): paying change and refunds from the hoppers,
    /// or booking an IOU for what they cannot pay.
    PayingChange,
    /// The session ended before printing: waits until every won inserted is paid back
    /// (or owed) and any note in escrow is resolved.
    Refunding(EndReason),
    /// Finished after printing; every won settled. Terminal.
    Done,
    /// Finished without printing; every won returned or owed. Terminal.
    Canceled(EndReason),
}

impl State {
    /// A short stable name for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Selecting => "selecting",
            State::Identifying => "identifying",
            State::Fetching => "fetching",
            State::AwaitingPayment => "awaiting-payment",
            State::Printing => "printing",
            State::PayingChange => "paying-change",
            State::Refunding(_) => "refunding",
            State::Done => "done",
            State::Canceled(_) => "canceled",
        }
    }

    /// Whether the session has finished (it may still be paying back a late coin).
    pub fn is_terminal(&self) -> bool {
        matches!(self, State::Done | State::Canceled(_))
    }

    /// States that wait for the citizen, where inactivity times out.
    fn waits_for_citizen(&self) -> bool {
        matches!(
            self,
            State::Selecting | State::Identifying | State::AwaitingPayment
        )
    }

    /// States in which money pays back (change, refund, IOU) rather than toward the fee.
    fn pays_back(&self) -> bool {
        matches!(
            self,
            State::PayingChange | State::Refunding(_) | State::Done | State::Canceled(_)
        )
    }
}

/// One line of the basket: a document and how many of its copies have printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasketLine {
    /// What the citizen asked for.
    pub request: DocRequest,
    /// Copies completed so far.
    pub printed: u8,
}

/// A note held in the validator's escrow, booked as a pending transfer under `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingEscrow {
    key: EscrowKey,
    note: Note,
    /// The session told the daemon to stack it (otherwise to return it).
    stack: bool,
}

/// Dispense commands sent and not yet settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Payout {
    /// Coins asked per hopper that has not settled yet.
    open: CoinCounts,
    /// `ChangePaid` or `Refund`.
    code: TransferCode,
}

/// The copy being printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PrintJob {
    id: u32,
    line: usize,
    pages_done: Sheets,
}

/// One citizen's issuing session. Feed it events with [`Session::handle`]; carry out the
/// commands it returns in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    id: SessionId,
    config: SessionConfig,
    state: State,
    basket: Vec<BasketLine>,
    /// One per basket line once fetched.
    fetched: Vec<FetchedDoc>,
    fingerprint_failures: u8,
    due: Won,
    /// The session's view of the hoppers: the last snapshot plus coins in, minus coins out.
    hoppers: Hoppers,
    /// The balance of `SessionCredit`: what the kiosk holds for the citizen now.
    credit: Won,
    inserted: Won,
    fees: Won,
    paid_back: Won,
    owed: Won,
    escrow: Option<PendingEscrow>,
    next_escrow_seq: u32,
    payout: Option<Payout>,
    print: Option<PrintJob>,
    next_job: u32,
    print_failed: bool,
    acceptors_enabled: bool,
    last_status: Option<(Won, Won, bool)>,
    /// Canceled while the fetch was in flight: a late reply's issue numbers get canceled.
    fetch_outstanding: bool,
    now_ms: u64,
    /// Start of the current inactivity period: the first tick after the last activity.
    idle_since: Option<u64>,
    warned: bool,
    receipt_wanted: bool,
    receipt_printed: bool,
}

impl Session {
    /// A new session in [`State::Idle`]. `hoppers` says which coins have a hopper (so
    /// that a coin is booked to the right account from the start) and how full they are.
    pub fn new(id: SessionId, config: SessionConfig, hoppers: Hoppers) -> Session {
        Session {
            id,
            config,
            state: State::Idle,
            basket: Vec::new(),
            fetched: Vec::new(),
            fingerprint_failures: 0,
            due: Won::ZERO,
            hoppers,
            credit: Won::ZERO,
            inserted: Won::ZERO,
            fees: Won::ZERO,
            paid_back: Won::ZERO,
            owed: Won::ZERO,
            escrow: None,
            next_escrow_seq: 0,
            payout: None,
            print: None,
            next_job: 1,
            print_failed: false,
            acceptors_enabled: false,
            last_status: None,
            fetch_outstanding: false,
            now_ms: 0,
            idle_since: None,
            warned: false,
            receipt_wanted: false,
            receipt_printed: false,
        }
    }

    /// The session's number.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the inactivity warning stands: given, and no activity since. A screen that
    /// still shows the warning after "more time" traps the citizen behind it.
    pub fn warning_stands(&self) -> bool {
        self.warned && self.state.waits_for_citizen()
    }

    /// The basket.
    pub fn basket(&self) -> &[BasketLine] {
        &self.basket
    }

    /// The fetched documents, one per basket line (empty before the fetch).
    pub fn fetched(&self) -> &[FetchedDoc] {
        &self.fetched
    }

    /// The total fee of the basket (zero before the fetch).
    pub fn due(&self) -> Won {
        self.due
    }

    /// The citizen's credit now: inserted and not yet earned, paid back or owed. Always
    /// equals the `SessionCredit` balance of the transfers booked so far.
    pub fn credit(&self) -> Won {
        self.credit
    }

    /// Money inserted (coins and stacked notes).
    pub fn inserted(&self) -> Won {
        self.inserted
    }

    /// Fees earned.
    pub fn fees(&self) -> Won {
        self.fees
    }

    /// Coins paid back.
    pub fn paid_back(&self) -> Won {
        self.paid_back
    }

    /// Owed on IOUs.
    pub fn owed(&self) -> Won {
        self.owed
    }

    /// The session's view of the hoppers.
    pub fn hoppers(&self) -> &Hoppers {
        &self.hoppers
    }

    /// Whether the session has told the daemon to keep the acceptors enabled.
    pub fn acceptors_enabled(&self) -> bool {
        self.acceptors_enabled
    }

    /// Whether a note is held in escrow.
    pub fn has_escrow(&self) -> bool {
        self.escrow.is_some()
    }

    /// The print job in progress, if any.
    pub fn print_job(&self) -> Option<u32> {
        self.print.map(|j| j.id)
    }

    /// No money outstanding: no credit, no note in escrow, no dispense in flight.
    pub fn is_settled(&self) -> bool {
        self.credit.is_zero() && self.escrow.is_none() && self.payout.is_none()
    }

    /// Finished and settled: the daemon may drop the session.
    pub fn is_over(&self) -> bool {
        self.state.is_terminal() && self.is_settled()
    }

    /// Handles one event a device reported under `key`: like [`Session::handle`], and
    /// the money or paper movement it causes (the coin's credit, the note's stacking, the
    /// payout, the sheet) carries the key, so the ledger books that physical event once
    /// however often it is reported. Events that move nothing physical are refused.
    pub fn handle_keyed(&mut self, event: Event, key: DeviceKey) -> Result<Vec<Command>, Rejected> {
        let code = match &event {
            Event::CoinCredited(_) => TransferCode::CoinInserted,
            Event::NoteStacked(_) => TransferCode::NoteStacked,
            Event::PagePrinted { .. } => TransferCode::SheetPrinted,
            Event::HopperSettled { .. } => TransferCode::ChangePaid,
            _ => return Err(Rejected::Unkeyed(event.name())),
        };
        let mut cmds = self.handle(event)?;
        let is_it = |c: TransferCode| {
            c == code || (code == TransferCode::ChangePaid && c == TransferCode::Refund)
        };
        if let Some(Command::Book { key: k, .. }) = cmds.iter_mut().find(
            |c| matches!(c, Command::Book { transfer, pending: None, .. } if is_it(transfer.code())),
        ) {
            *k = Some(key);
        }
        Ok(cmds)
    }

    /// Handles one event. On `Ok`, the daemon must carry out the commands in order; on
    /// `Err`, nothing changed. See [`Session::handle_keyed`] for events a device reported.
    pub fn handle(&mut self, event: Event) -> Result<Vec<Command>, Rejected> {
        let mut next = self.clone();
        let mut out = Vec::new();
        next.apply(event, &mut out)?;
        next.settle(&mut out)?;
        *self = next;
        Ok(out)
    }

    fn apply(&mut self, event: Event, out: &mut Vec<Command>) -> Result<(), Rejected> {
        use State as S;
        let not_now = Rejected::NotNow {
            state: self.state.name(),
            event: event.name(),
        };
        match (self.state, event) {
            // Time and money are handled in every state.
            (_, Event::Tick { now_ms }) => self.on_tick(now_ms, out)?,
            (_, Event::CoinCredited(coin)) => self.on_coin(coin, out)?,
            (_, Event::NoteEscrowed(note)) => self.on_escrowed(note, out)?,
            (_, Event::NoteStacked(note)) => self.on_stacked(note, out)?,
            (_, Event::NoteReturned(note)) => self.on_returned(note, out)?,
            (_, Event::HopperSettled { coin, paid, unpaid }) => {
                self.on_hopper(coin, paid, unpaid, out)?;
            }
            (S::Idle, Event::ReceiptRequested) => return Err(not_now),
            (_, Event::ReceiptRequested) => {
                if self.receipt_printed {
                    return Err(Rejected::ReceiptAlreadyPrinted);
                }
                self.receipt_wanted = true;
            }

            (S::Idle, Event::Begin) => {
                self.state = S::Selecting;
                self.touch();
            }
            (S::Selecting, Event::AddDocument(request)) => {
                if self.basket.len() >= self.config.max_lines {
                    return Err(Rejected::BasketFull {
                        max: self.config.max_lines,
                    });
                }
                if request.copies == 0 || request.copies > self.config.max_copies {
                    return Err(Rejected::BadCopies {
                        copies: request.copies,
                        max: self.config.max_copies,
                    });
                }
                self.basket.push(BasketLine {
                    request,
                    printed: 0,
                });
                self.touch();
            }
            (S::Selecting, Event::RemoveDocument { line }) => {
                if line >= self.basket.len() {
                    return Err(Rejected::NoSuchLine(line));
                }
                self.basket.remove(line);
                self.touch();
            }
            (S::Selecting, Event::Confirm) => {
                if self.basket.is_empty() {
                    return Err(Rejected::EmptyBasket);
                }
                if self.basket.iter().any(|l| l.request.needs_identity) {
                    self.state = S::Identifying;
                    self.touch();
                    out.push(Command::VerifyIdentity { attempt: 1 });
                } else {
                    self.start_fetch(out);
                }
            }
            (S::Selecting | S::Identifying | S::Fetching | S::AwaitingPayment, Event::Cancel) => {
                self.end(EndReason::CitizenCanceled, out);
            }
            (S::Selecting | S::Identifying | S::AwaitingPayment, Event::MoreTime) => self.touch(),

            (S::Identifying, Event::IdentityVerified) => self.start_fetch(out),
            (S::Identifying, Event::FingerprintMismatch) => {
                self.fingerprint_failures = self.fingerprint_failures.saturating_add(1);
                if self.fingerprint_failures >= self.config.fingerprint_tries {
                    self.end(EndReason::IdentityFailed, out);
                } else {
                    self.touch();
                    out.push(Command::Guide(Guidance::RetryFingerprint {
                        tries_left: self.config.fingerprint_tries - self.fingerprint_failures,
                    }));
                    out.push(Command::VerifyIdentity {
                        attempt: self.fingerprint_failures + 1,
                    });
                }
            }
            (S::Identifying, Event::IdentityUnavailable) => {
                self.end(EndReason::IdentityUnavailable, out);
            }

            (
                S::Fetching,
                Event::Fetched {
                    documents,
                    resources,
                },
            ) => self.on_fetched(documents, resources, out)?,
            (S::Refunding(_) | S::Canceled(_), Event::Fetched { documents, .. })
                if self.fetch_outstanding =>
            {
                // The citizen left while the fetch was in flight: the numbers will not be used.
                self.fetch_outstanding = false;
                out.extend(
                    documents
                        .into_iter()
                        .map(|d| Command::CancelIssue { issue: d.issue }),
                );
            }
            (S::Fetching, Event::FetchFailed(failure)) => {
                self.end(EndReason::FetchFailed(failure), out);
            }

            (S::Printing, Event::PagePrinted { job }) => self.on_page(job, out)?,
            (S::Printing, Event::CopyCompleted { job }) => self.on_copy_completed(job, out)?,
            (
                S::Printing,
                Event::PrintFailed {
                    job,
                    fault,
                    spoiled,
                },
            ) => self.on_print_failed(job, fault, spoiled, out)?,

            _ => return Err(not_now),
        }
        Ok(())
    }

    // ----- citizen flow ---------------------------------------------------------------

    /// Activity: restart the inactivity period.
    fn touch(&mut self) {
        self.idle_since = None;
        self.warned = false;
    }

    fn start_fetch(&mut self, out: &mut Vec<Command>) {
        self.state = State::Fetching;
        out.push(Command::Fetch {
            documents: self.basket.iter().map(|l| l.request.clone()).collect(),
        });
    }

    /// Ends the session before printing: stop taking money, hand back a note the daemon
    /// was told to stack, say why, and return everything through `Refunding`.
    fn end(&mut self, reason: EndReason, out: &mut Vec<Command>) {
        if self.acceptors_enabled {
            self.acceptors_enabled = false;
            out.push(Command::DisableAcceptors);
        }
        if let Some(e) = &mut self.escrow {
            if e.stack {
                e.stack = false;
                out.push(Command::ReturnNote {
                    key: e.key,
                    note: e.note,
                    reason: ReturnReason::NotAccepting,
                });
            }
        }
        if self.state == State::Fetching {
            self.fetch_outstanding = true;
        }
        if self.state == State::AwaitingPayment {
            // Fetched but never printed: the issue numbers go back to the network.
            out.extend(self.fetched.iter().map(|d| Command::CancelIssue {
                issue: d.issue.clone(),
            }));
        }
        let guidance = match reason {
            EndReason::CitizenCanceled => Some(Guidance::Canceled),
            EndReason::TimedOut => Some(Guidance::TimedOut),
            EndReason::IdentityFailed => {
                Some(Guidance::GoToCounter(CounterReason::FingerprintNotMatched))
            }
            EndReason::IdentityUnavailable => Some(Guidance::GoElsewhere(Outage::IdentityService)),
            EndReason::FetchFailed(FetchFailure::NetworkDown) => {
                Some(Guidance::GoElsewhere(Outage::Network))
            }
            EndReason::FetchFailed(FetchFailure::BackendDown) => {
                Some(Guidance::GoElsewhere(Outage::Backend))
            }
            EndReason::FetchFailed(FetchFailure::Refused) => {
                Some(Guidance::GoToCounter(CounterReason::RequestRefused))
            }
            EndReason::CannotServe(r) => Some(Guidance::CannotServe(r)),
            EndReason::StrayMoney => None,
        };
        out.extend(guidance.map(Command::Guide));
        self.state = State::Refunding(reason);
    }

    fn on_tick(&mut self, now_ms: u64, out: &mut Vec<Command>) -> Result<(), Rejected> {
        if now_ms < self.now_ms {
            return Err(Rejected::ClockWentBackwards {
                now_ms,
                last_ms: self.now_ms,
            });
        }
        self.now_ms = now_ms;
        if !self.state.waits_for_citizen() {
            return Ok(());
        }
        let since = *self.idle_since.get_or_insert(now_ms);
        let idle = now_ms - since;
        let limit = self
            .config
            .warn_after_ms
            .saturating_add(self.config.grace_ms);
        if idle >= limit {
            self.end(EndReason::TimedOut, out);
        } else if idle >= self.config.warn_after_ms && !self.warned {
            self.warned = true;
            out.push(Command::Guide(Guidance::TimeoutWarning {
                ms_left: limit - idle,
            }));
        }
        Ok(())
    }

    fn on_fetched(
        &mut self,
        documents: Vec<FetchedDoc>,
        resources: Resources,
        out: &mut Vec<Command>,
    ) -> Result<(), Rejected> {
        if documents.len() != self.basket.len() {
            return Err(Rejected::BadReply("one entry per basket line expected"));
        }
        if documents.iter().any(|d| d.pages.is_zero()) {
            return Err(Rejected::BadReply("a document without pages"));
        }
        let mut due = Some(Won::ZERO);
        let mut pages = Some(Sheets::ZERO);
        for (line, doc) in self.basket.iter().zip(&documents) {
            let copies = line.request.copies;
            due = due.and_then(|d| d.checked_add(doc.fee_per_copy.checked_mul(u64::from(copies))?));
            pages = pages.and_then(|p| p.checked_add(doc.pages.checked_mul(u32::from(copies))?));
        }
        self.fetched = documents;
        self.hoppers = resources.hoppers;
        let refusal = match (due, pages) {
            (None, _) => Some(Refusal::DueTooLarge),
            (Some(d), _) if d > self.config.max_due => Some(Refusal::DueTooLarge),
            (_, None) => Some(Refusal::TooManyPages),
            (_, Some(needed)) if needed > resources.paper => Some(Refusal::NotEnoughPaper {
                needed,
                available: resources.paper,
            }),
            _ if !resources.toner_ok => Some(Refusal::TonerOut),
            _ => None,
        };
        match (refusal, due) {
            (None, Some(due)) => {
                self.due = due;
                if self.credit >= due {
                    // Free (or already covered by a coin that slipped in): no payment step.
                    self.start_printing(out)?;
                } else {
                    self.state = State::AwaitingPayment;
                    self.acceptors_enabled = true;
                    self.touch();
                    out.push(Command::EnableAcceptors);
                }
            }
            (refusal, _) => {
                out.extend(self.fetched.iter().map(|d| Command::CancelIssue {
                    issue: d.issue.clone(),
                }));
                self.end(
                    EndReason::CannotServe(refusal.unwrap_or(Refusal::DueTooLarge)),
                    out,
                );
            }
        }
        Ok(())
    }

    // ----- printing -------------------------------------------------------------------

    fn start_printing(&mut self, out: &mut Vec<Command>) -> Result<(), Rejected> {
        if self.acceptors_enabled {
            self.acceptors_enabled = false;
            out.push(Command::DisableAcceptors);
        }
        self.state = State::Printing;
        self.next_print_job(out)
    }

    /// Sends the next copy to the printer, or ends printing when every copy is out.
    fn next_print_job(&mut self, out: &mut Vec<Command>) -> Result<(), Rejected> {
        let next = self
            .basket
            .iter()
            .zip(&self.fetched)
            .enumerate()
            .find(|(_, (line, _))| line.printed < line.request.copies);
        match next {
            Some((index, (line, doc))) => {
                let id = self.next_job;
                self.next_job = self.next_job.checked_add(1).ok_or(Rejected::Overflow)?;
                out.push(Command::Print {
                    job: id,
                    code: line.request.code.clone(),
                    issue: doc.issue.clone(),
                    copy: line.printed + 1,
                    pages: doc.pages,
                });
                self.print = Some(PrintJob {
                    id,
                    line: index,
                    pages_done: Sheets::ZERO,
                });
            }
            None => {
                self.print = None;
                self.report_issues(out);
                self.state = State::PayingChange;
            }
        }
        Ok(())
    }

    /// Confirms the issue numbers with a printed copy and cancels the others.
    fn report_issues(&self, out: &mut Vec<Command>) {
        for (line, doc) in self.basket.iter().zip(&self.fetched) {
            out.push(if line.printed > 0 {
                Command::ConfirmIssued {
                    issue: doc.issue.clone(),
                    copies: line.printed,
                }
            } else {
                Command::CancelIssue {
                    issue: doc.issue.clone(),
                }
            });
        }
    }

    fn current_job(&self, job: u32) -> Result<PrintJob, Rejected> {
        match self.print {
            Some(j) if j.id == job => Ok(j),
            other => Err(Rejected::WrongJob {
                current: other.map(|j| j.id),
                got: job,
            }),
        }
    }

    fn job_pages(&self, job: &PrintJob) -> Sheets {
        self.fetched.get(job.line).map_or(Sheets::ZERO, |d| d.pages)
    }

    fn on_page(&mut self, job: u32, out: &mut Vec<Command>) -> Result<(), Rejected> {
        let mut j = self.current_job(job)?;
        if j.pages_done >= self.job_pages(&j) {
            return Err(Rejected::TooManyPages);
        }
        book(
            out,
            Account::Printed,
            Account::PaperTray,
            1,
            TransferCode::SheetPrinted,
        )?;
        j.pages_done = j
            .pages_done
            .checked_add(Sheets::new(1))
            .ok_or(Rejected::Overflow)?;
        self.print = Some(j);
        Ok(())
    }

    fn on_copy_completed(&mut self, job: u32, out: &mut Vec<Command>) -> Result<(), Rejected> {
        let j = self.current_job(job)?;
        let (code, fee) = match (self.basket.get(j.line), self.fetched.get(j.line)) {
            (Some(line), Some(doc)) => (line.request.code.clone(), doc.fee_per_copy),
            _ => {
                return Err(Rejected::WrongJob {
                    current: Some(j.id),
                    got: job,
                });
            }
        };
        let rest = self
            .job_pages(&j)
            .checked_sub(j.pages_done)
            .unwrap_or(Sheets::ZERO);
        if !rest.is_zero() {
            book(
                out,
                Account::Printed,
                Account::PaperTray,
                u64::from(rest.get()),
                TransferCode::SheetPrinted,
            )?;
        }
        if !fee.is_zero() {
            self.credit = self.credit.checked_sub(fee).ok_or(Rejected::Overflow)?;
            self.fees = self.fees.checked_add(fee).ok_or(Rejected::Overflow)?;
            book(
                out,
                Account::SessionCredit,
                Account::Revenue(code),
                fee.get(),
                TransferCode::Fee,
            )?;
        }
        if let Some(line) = self.basket.get_mut(j.line) {
            line.printed += 1;
        }
        self.next_print_job(out)
    }

    fn on_print_failed(
        &mut self,
        job: u32,
        fault: PrintFault,
        spoiled: Sheets,
        out: &mut Vec<Command>,
    ) -> Result<(), Rejected> {
        let j = self.current_job(job)?;
        // Sheets of an unfinished copy are not an issued document: they are spoiled too.
        if !j.pages_done.is_zero() {
            book(
                out,
                Account::Spoiled,
                Account::Printed,
                u64::from(j.pages_done.get()),
                TransferCode::SheetSpoiled,
            )?;
        }
        if !spoiled.is_zero() {
            book(
                out,
                Account::Spoiled,
                Account::PaperTray,
                u64::from(spoiled.get()),
                TransferCode::SheetSpoiled,
            )?;
        }
        let mut refund = Won::ZERO;
        for (line, doc) in self.basket.iter().zip(&self.fetched) {
            let unprinted = u64::from(line.request.copies.saturating_sub(line.printed));
            refund = doc
                .fee_per_copy
                .checked_mul(unprinted)
                .and_then(|f| refund.checked_add(f))
                .ok_or(Rejected::Overflow)?;
        }
        self.print = None;
        self.print_failed = true;
        self.report_issues(out);
        out.push(Command::Guide(Guidance::PrintFailed { fault, refund }));
        self.state = State::PayingChange;
        Ok(())
    }

    // ----- money ----------------------------------------------------------------------

    fn on_coin(&mut self, coin: Coin, out: &mut Vec<Command>) -> Result<(), Rejected> {
        let debit = if self.hoppers.has_hopper(coin) {
            Account::Hopper(coin)
        } else {
            Account::Cashbox
        };
        self.add_credit(coin.value())?;
        book(
            out,
            debit,
            Account::SessionCredit,
            coin.value().get(),
            TransferCode::CoinInserted,
        )?;
        self.hoppers.add(coin, 1);
        self.after_money();
        Ok(())
    }

    fn add_credit(&mut self, value: Won) -> Result<(), Rejected> {
        self.credit = self.credit.checked_add(value).ok_or(Rejected::Overflow)?;
        self.inserted = self.inserted.checked_add(value).ok_or(Rejected::Overflow)?;
        Ok(())
    }

    /// After money arrived: it is activity, and in `Idle` it is stray.
    fn after_money(&mut self) {
        if self.state == State::Idle {
            self.state = State::Refunding(EndReason::StrayMoney);
        }
        if self.state.waits_for_citizen() {
            self.touch();
        }
    }

    fn new_escrow_key(&mut self) -> Result<EscrowKey, Rejected> {
        let key = EscrowKey {
            session: self.id,
            seq: self.next_escrow_seq,
        };
        self.next_escrow_seq = self
            .next_escrow_seq
            .checked_add(1)
            .ok_or(Rejected::Overflow)?;
        Ok(key)
    }

    fn book_escrow(&mut self, note: Note, out: &mut Vec<Command>) -> Result<EscrowKey, Rejected> {
        let key = self.new_escrow_key()?;
        out.push(Command::Book {
            transfer: Transfer::new(
                Account::Escrow,
                Account::SessionCredit,
                note.value().get(),
                TransferCode::NoteEscrowed,
            )?,
            pending: Some(key),
            key: None,
        });
        Ok(key)
    }

    /// Why the note now in escrow must go back, or `None` to keep it.
    fn escrow_verdict(&self, note: Note) -> Option<ReturnReason> {
        if self.state != State::AwaitingPayment {
            return Some(ReturnReason::NotAccepting);
        }
        if self.credit >= self.due {
            return Some(ReturnReason::NotNeeded);
        }
        let change = self
            .credit
            .checked_add(note.value())
            .map(|after| after.saturating_sub(self.due));
        match change.and_then(|c| make_change(c, &self.hoppers)) {
            Some(_) => None,
            None => Some(ReturnReason::CannotMakeChange),
        }
    }

    fn on_escrowed(&mut self, note: Note, out: &mut Vec<Command>) -> Result<(), Rejected> {
        if self.escrow.is_some() {
            return Err(Rejected::EscrowOccupied);
        }
        let key = self.book_escrow(note, out)?;
        let verdict = self.escrow_verdict(note);
        match verdict {
            None => out.push(Command::StackNote { key, note }),
            Some(reason) => {
                out.push(Command::ReturnNote { key, note, reason });
                out.push(Command::Guide(Guidance::NoteReturned(reason)));
            }
        }
        self.escrow = Some(PendingEscrow {
            key,
            note,
            stack: verdict.is_none(),
        });
        self.after_money();
        Ok(())
    }

    fn on_stacked(&mut self, note: Note, out: &mut Vec<Command>) -> Result<(), Rejected> {
        let key = match self.escrow.take() {
            Some(e) if e.note == note => e.key,
            other => {
                // The validator stacked a note the session did not see in escrow (a lost
                // poll) or another one than it saw: what it says it stacked is booked.
                if let Some(e) = other {
                    out.push(Command::VoidPending { key: e.key });
                }
                self.book_escrow(note, out)?
            }
        };
        self.add_credit(note.value())?;
        out.push(Command::PostPending { key });
        book(
            out,
            Account::Stacker(note),
            Account::Escrow,
            note.value().get(),
            TransferCode::NoteStacked,
        )?;
        self.after_money();
        Ok(())
    }

    fn on_returned(&mut self, note: Note, out: &mut Vec<Command>) -> Result<(), Rejected> {
        match self.escrow {
            Some(e) if e.note == note => {
                self.escrow = None;
                out.push(Command::VoidPending { key: e.key });
                Ok(())
            }
            _ => Err(Rejected::NoEscrow),
        }
    }

    fn on_hopper(
        &mut self,
        coin: Coin,
        paid: u32,
        unpaid: u32,
        out: &mut Vec<Command>,
    ) -> Result<(), Rejected> {
        let Some(mut payout) = self.payout else {
            return Err(Rejected::NoDispense(coin));
        };
        let requested = payout.open.count(coin);
        if requested == 0 {
            return Err(Rejected::NoDispense(coin));
        }
        if paid.checked_add(unpaid) != Some(requested) {
            return Err(Rejected::BadSettlement {
                requested,
                paid,
                unpaid,
            });
        }
        if paid > 0 {
            let amount = coin
                .value()
                .checked_mul(u64::from(paid))
                .ok_or(Rejected::Overflow)?;
            self.credit = self.credit.checked_sub(amount).ok_or(Rejected::Overflow)?;
            self.paid_back = self
                .paid_back
                .checked_add(amount)
                .ok_or(Rejected::Overflow)?;
            book(
                out,
                Account::SessionCredit,
                Account::Hopper(coin),
                amount.get(),
                payout.code,
            )?;
        }
        self.hoppers.take(coin, paid);
        if unpaid > 0 {
            self.hoppers.run_dry(coin);
        }
        payout.open = payout.open.with(coin, 0);
        self.payout = (!payout.open.is_empty()).then_some(payout);
        Ok(())
    }

    // ----- after every event ----------------------------------------------------------

    /// Moves the session on when money allows: start printing once paid, pay back or owe
    /// what is left once the session gives money back, finish once all is settled.
    fn settle(&mut self, out: &mut Vec<Command>) -> Result<(), Rejected> {
        if self.state == State::AwaitingPayment {
            let note_coming = self.escrow.is_some_and(|e| e.stack);
            if self.credit >= self.due && !note_coming {
                return self.start_printing(out);
            }
            let status = (self.due, self.credit, self.exact_amount_only());
            if self.last_status != Some(status) {
                self.last_status = Some(status);
                out.push(Command::PaymentStatus {
                    due: status.0,
                    credited: status.1,
                    exact_amount_only: status.2,
                });
            }
            return Ok(());
        }
        if !self.state.pays_back() {
            return Ok(());
        }
        if self.payout.is_none() && !self.credit.is_zero() {
            let plan = plan_payout(self.credit, &self.hoppers);
            if plan.is_empty() {
                // Nothing the hoppers hold fits: the rest is owed.
                let amount = self.credit;
                book(
                    out,
                    Account::SessionCredit,
                    Account::RefundsOwed,
                    amount.get(),
                    TransferCode::RefundOwed,
                )?;
                self.owed = self.owed.checked_add(amount).ok_or(Rejected::Overflow)?;
                self.credit = Won::ZERO;
                self.receipt_wanted = true;
                self.receipt_printed = false;
                out.push(Command::RaiseIou { amount });
            } else {
                let code = if self.state == State::PayingChange && !self.print_failed {
                    TransferCode::ChangePaid
                } else {
                    TransferCode::Refund
                };
                out.extend(
                    plan.iter()
                        .map(|(coin, count)| Command::Dispense { coin, count }),
                );
                self.payout = Some(Payout { open: plan, code });
            }
        }
        if self.is_settled() {
            match self.state {
                State::PayingChange => {
                    self.state = State::Done;
                    out.push(Command::Ended);
                }
                State::Refunding(reason) => {
                    self.state = State::Canceled(reason);
                    out.push(Command::Ended);
                }
                _ => {}
            }
            if self.receipt_wanted && !self.receipt_printed {
                self.receipt_printed = true;
                out.push(Command::PrintReceipt(self.receipt()));
            }
        }
        Ok(())
    }

    /// Whether the hoppers cannot give change for a 1,000-won note against what is still
    /// due, so the UI should ask for the exact amount.
    fn exact_amount_only(&self) -> bool {
        let remaining = self.due.saturating_sub(self.credit).get();
        if remaining == 0 {
            return false;
        }
        let change = (1_000 - remaining % 1_000) % 1_000;
        make_change(Won::new(change), &self.hoppers).is_none()
    }

    /// The receipt as things stand.
    pub fn receipt(&self) -> Receipt {
        Receipt {
            session: self.id,
            lines: self
                .basket
                .iter()
                .zip(&self.fetched)
                .filter(|(line, _)| line.printed > 0)
                .map(|(line, doc)| ReceiptLine {
                    code: line.request.code.clone(),
                    issue: doc.issue.clone(),
                    copies: line.printed,
                    fee_per_copy: doc.fee_per_copy,
                })
                .collect(),
            inserted: self.inserted,
            fees: self.fees,
            paid_back: self.paid_back,
            owed: self.owed,
        }
    }
}

/// Pushes a ledger booking.
fn book(
    out: &mut Vec<Command>,
    debit: Account,
    credit: Account,
    amount: u64,
    code: TransferCode,
) -> Result<(), Rejected> {
    out.push(Command::Book {
        transfer: Transfer::new(debit, credit, amount, code)?,
        pending: None,
        key: None,
    });
    Ok(())
}
