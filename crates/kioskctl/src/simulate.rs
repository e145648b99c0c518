//! `kioskctl ledger simulate`: a day (or a year) of a kiosk, booked into a real ledger.
//!
//! The sessions are decided by the same state machine the daemon runs
//! ([`kiosk_core::Session`]); this module only plays the world around it: citizens who
//! pick documents, fail fingerprints and pay with coins and notes, a network that
//! sometimes fails, a printer that sometimes jams, hoppers that run dry, and staff who
//! load paper, refill coins and collect cash. Everything random comes from one seeded
//! generator, so a seed always books the same journal.

use anyhow::{Context, Result, bail};
use kiosk_catalog::{Catalog, Date, KioskCatalog, Overrides, QuoteRequest};
use kiosk_core::session::{
    Command, DocRequest, Event, FetchFailure, FetchedDoc, Hoppers, PrintFault, Resources,
    SessionConfig, State,
};
use kiosk_core::{
    Account, Coin, DocCode, IssueNumber, Note, Session, SessionId, Sheets, Transfer, TransferCode,
    Won,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::ExitCode;

/// Where bookings go. The ledger implements it; the indirection keeps the world model
/// free of storage details.
pub trait Books {
    /// Books a posted transfer, or a pending one under `pending` (a note in escrow).
    fn book(&mut self, transfer: &Transfer, ctx: &Meta, pending: Option<PendingRef>) -> Result<()>;
    /// Posts the pending transfer booked under `pending`.
    fn post(&mut self, pending: PendingRef, ctx: &Meta) -> Result<()>;
    /// Voids the pending transfer booked under `pending`.
    fn void(&mut self, pending: PendingRef, ctx: &Meta) -> Result<()>;
    /// Records a staff count of `account`; the difference is booked as a discrepancy.
    fn count(&mut self, account: &Account, counted: i64, ctx: &Meta) -> Result<()>;
}

/// A pending escrow entry, named by session and the session's escrow number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PendingRef {
    /// The session that booked it.
    pub session: SessionId,
    /// The session's escrow number.
    pub seq: u32,
}

/// What a booking is about, beyond its accounts: when, which session, which document.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    /// Unix milliseconds of the simulated clock.
    pub at_ms: i64,
    /// The session, if the booking belongs to one.
    pub session: Option<SessionId>,
    /// The document type, for fees and sheets.
    pub document: Option<DocCode>,
    /// The issue number, for fees and sheets.
    pub issue: Option<IssueNumber>,
}

/// Tallies of what happened, printed at the end.
#[derive(Debug, Default)]
pub struct Tally {
    sessions: u32,
    completed: u32,
    canceled: BTreeMap<String, u32>,
    copies_printed: u32,
    jams: u32,
    notes_stacked: u32,
    notes_returned: u32,
    ious: u32,
    iou_won: u64,
    inserted: u64,
    fees: u64,
    paid_back: u64,
    paper_loads: u32,
    coin_refills: u32,
    collections: u32,
    counts: u32,
}

const KST_OFFSET_MS: i64 = 9 * 3_600_000;
/// 2026-11-23 06:00 KST, the simulated day's opening.
const START_MS: i64 = 1_795_381_200_000 - KST_OFFSET_MS + 6 * 3_600_000;
/// Hoppers this simulated kiosk has; 10- and 50-won coins go to the cash box.
const HOPPER_COINS: [Coin; 2] = [Coin::W100, Coin::W500];
/// The number of events one session may take before the simulation calls it a bug.
const MAX_EVENTS_PER_SESSION: usize = 2_000;

/// The physical kiosk: what is really in the hoppers, the tray and the stacker.
struct World {
    rng: StdRng,
    clock_ms: i64,
    hoppers: BTreeMap<Coin, u32>,
    tray: u32,
    stacker: BTreeMap<Note, u32>,
    cashbox_won: u64,
    issue_seq: u32,
    documents: Vec<(DocCode, bool, u32)>,
    kiosk: KioskCatalog,
    today: Date,
    tally: Tally,
}

impl World {
    fn ctx(&self, session: Option<SessionId>) -> Meta {
        Meta {
            at_ms: self.clock_ms,
            session,
            document: None,
            issue: None,
        }
    }

    fn hoppers_view(&self) -> Hoppers {
        HOPPER_COINS.iter().fold(Hoppers::NONE, |h, &c| {
            h.with(c, self.hoppers.get(&c).copied().unwrap_or(0))
        })
    }

    fn staff_book(
        &mut self,
        books: &mut dyn Books,
        debit: Account,
        credit: Account,
        amount: u64,
        code: TransferCode,
    ) -> Result<()> {
        let t = Transfer::new(debit, credit, amount, code)?;
        books.book(&t, &self.ctx(None), None)
    }

    /// The district's routine between citizens: paper, coins, cash, IOUs, counts.
    fn staff_round(&mut self, books: &mut dyn Books, n: u32) -> Result<()> {
        if self.tray < 60 {
            let load = 500;
            self.staff_book(
                books,
                Account::PaperTray,
                Account::DistrictStock,
                load,
                TransferCode::PaperLoaded,
            )?;
            self.tray += load as u32;
            self.tally.paper_loads += 1;
        }
        for coin in HOPPER_COINS {
            let level = self.hoppers.get(&coin).copied().unwrap_or(0);
            if level < 20 {
                let add = 200u32;
                let won = coin.value().get() * u64::from(add);
                self.staff_book(
                    books,
                    Account::Hopper(coin),
                    Account::DistrictSafe,
                    won,
                    TransferCode::CoinRefill,
                )?;
                *self.hoppers.entry(coin).or_default() += add;
                self.tally.coin_refills += 1;
            }
        }
        if n > 0 && n % 25 == 0 {
            for (note, count) in std::mem::take(&mut self.stacker) {
                if count > 0 {
                    let won = note.value().get() * u64::from(count);
                    self.staff_book(
                        books,
                        Account::DistrictSafe,
                        Account::Stacker(note),
                        won,
                        TransferCode::CashCollected,
                    )?;
                }
            }
            if self.cashbox_won > 0 {
                let won = std::mem::take(&mut self.cashbox_won);
                self.staff_book(
                    books,
                    Account::DistrictSafe,
                    Account::Cashbox,
                    won,
                    TransferCode::CashCollected,
                )?;
            }
            self.tally.collections += 1;
        }
        if n > 0 && n % 40 == 0 {
            // A staff count of the tray; now and then a sheet has gone missing.
            let mut counted = i64::from(self.tray);
            if self.rng.random_bool(0.3) && self.tray > 0 {
                counted -= 1;
                self.tray -= 1;
            }
            books.count(&Account::PaperTray, counted, &self.ctx(None))?;
            self.tally.counts += 1;
        }
        Ok(())
    }

    fn next_issue(&mut self) -> Result<IssueNumber> {
        self.issue_seq += 1;
        let day = self.today.strftime("%Y%m%d");
        Ok(IssueNumber::new(&format!(
            "{day}-K0001-{:06}",
            self.issue_seq
        ))?)
    }

    /// The e-government network's answer to a fetch: issue numbers, fees, page counts.
    fn fetch(&mut self, documents: &[DocRequest]) -> Result<Event> {
        if self.rng.random_bool(0.03) {
            let failure = if self.rng.random_bool(0.5) {
                FetchFailure::NetworkDown
            } else {
                FetchFailure::BackendDown
            };
            return Ok(Event::FetchFailed(failure));
        }
        let mut fetched = Vec::with_capacity(documents.len());
        for d in documents {
            let max_pages = self
                .documents
                .iter()
                .find(|(c, _, _)| *c == d.code)
                .map(|&(_, _, p)| p)
                .unwrap_or(1);
            let pages = self.rng.random_range(1..=max_pages.min(3));
            let quote = self
                .kiosk
                .quote(&QuoteRequest::new(d.code.clone(), self.today).pages(pages))
                .with_context(|| format!("quote for {}", d.code))?;
            fetched.push(FetchedDoc {
                issue: self.next_issue()?,
                fee_per_copy: quote.fee,
                pages: Sheets::new(pages),
            });
        }
        Ok(Event::Fetched {
            documents: fetched,
            resources: Resources {
                paper: Sheets::new(self.tray),
                toner_ok: true,
                hoppers: self.hoppers_view(),
            },
        })
    }

    /// A citizen's next move at the touchscreen in `state`, or `None` to wait.
    fn citizen(&mut self, s: &Session, wanted: usize) -> Option<Event> {
        match s.state() {
            State::Idle => Some(Event::Begin),
            State::Selecting => {
                if self.rng.random_bool(0.02) {
                    Some(Event::Cancel)
                } else if s.basket().len() < wanted {
                    let (code, needs_identity, _) =
                        self.documents[self.rng.random_range(0..self.documents.len())].clone();
                    let copies = if self.rng.random_bool(0.85) { 1 } else { 2 };
                    Some(Event::AddDocument(DocRequest {
                        code,
                        copies,
                        needs_identity,
                    }))
                } else {
                    Some(Event::Confirm)
                }
            }
            State::AwaitingPayment => {
                if self.rng.random_bool(0.02) {
                    return Some(Event::Cancel);
                }
                if self.rng.random_bool(0.005) {
                    // Walked away: the inactivity timer runs out.
                    return Some(Event::Tick {
                        now_ms: u64::MAX / 2,
                    });
                }
                let due = s.due().saturating_sub(s.credit()).get();
                let r: f64 = self.rng.random();
                if due >= 1_000 && r < 0.6 {
                    let note = match self.rng.random_range(0..10) {
                        0..=5 => Note::W1000,
                        6..=7 => Note::W5000,
                        8 => Note::W10000,
                        _ => Note::W50000,
                    };
                    Some(Event::NoteEscrowed(note))
                } else {
                    let coin = match self.rng.random_range(0..100) {
                        0 => Coin::W10,
                        1 => Coin::W50,
                        2..=59 => Coin::W100,
                        _ => Coin::W500,
                    };
                    Some(Event::CoinCredited(coin))
                }
            }
            _ => None,
        }
    }

    /// Carries out one command: bookings into the books, device commands into the
    /// world, whose answers come back as events.
    fn execute(
        &mut self,
        books: &mut dyn Books,
        id: SessionId,
        cmd: Command,
        printing: &mut Option<(DocCode, IssueNumber)>,
        out: &mut VecDeque<Event>,
    ) -> Result<()> {
        self.clock_ms += 200;
        let mut ctx = self.ctx(Some(id));
        match cmd {
            Command::Book {
                transfer, pending, ..
            } => {
                if matches!(
                    transfer.code(),
                    TransferCode::Fee | TransferCode::SheetPrinted | TransferCode::SheetSpoiled
                ) {
                    if let Some((code, issue)) = printing {
                        ctx.document = Some(code.clone());
                        ctx.issue = Some(issue.clone());
                    }
                }
                let pending = pending.map(|k| PendingRef {
                    session: k.session,
                    seq: k.seq,
                });
                books.book(&transfer, &ctx, pending)?;
                if transfer.code() == TransferCode::CoinInserted {
                    match transfer.debit() {
                        Account::Hopper(c) => *self.hoppers.entry(*c).or_default() += 1,
                        _ => self.cashbox_won += transfer.amount(),
                    }
                }
            }
            Command::PostPending { key } => books.post(
                PendingRef {
                    session: key.session,
                    seq: key.seq,
                },
                &ctx,
            )?,
            Command::VoidPending { key } => books.void(
                PendingRef {
                    session: key.session,
                    seq: key.seq,
                },
                &ctx,
            )?,
            Command::VerifyIdentity { .. } => {
                // About 68% of fingerprints match at the first try (KIOSK-FACTS).
                out.push_back(if self.rng.random_bool(0.68) {
                    Event::IdentityVerified
                } else {
                    Event::FingerprintMismatch
                });
            }
            Command::Fetch { documents } => out.push_back(self.fetch(&documents)?),
            Command::StackNote { note, .. } => {
                *self.stacker.entry(note).or_default() += 1;
                self.tally.notes_stacked += 1;
                out.push_back(Event::NoteStacked(note));
            }
            Command::ReturnNote { note, .. } => {
                self.tally.notes_returned += 1;
                out.push_back(Event::NoteReturned(note));
            }
            Command::Print {
                job,
                code,
                issue,
                pages,
                ..
            } => {
                *printing = Some((code, issue));
                let pages = pages.get();
                let jam = self.rng.random_bool(0.02);
                let printable = if jam {
                    self.rng.random_range(0..pages)
                } else {
                    pages
                };
                let printable = printable.min(self.tray);
                for _ in 0..printable {
                    self.tray -= 1;
                    out.push_back(Event::PagePrinted { job });
                }
                if printable == pages {
                    self.tally.copies_printed += 1;
                    out.push_back(Event::CopyCompleted { job });
                } else {
                    let spoiled = u32::from(jam && self.tray > 0);
                    self.tray -= spoiled;
                    self.tally.jams += 1;
                    let fault = if jam {
                        PrintFault::Jam
                    } else {
                        PrintFault::TrayEmpty
                    };
                    out.push_back(Event::PrintFailed {
                        job,
                        fault,
                        spoiled: Sheets::new(spoiled),
                    });
                }
            }
            Command::Dispense { coin, count } => {
                let level = self.hoppers.entry(coin).or_default();
                let mut paid = count.min(*level);
                if paid > 0 && self.rng.random_bool(0.01) {
                    paid = self.rng.random_range(0..paid); // a coin jam mid-payout
                }
                *level -= paid;
                out.push_back(Event::HopperSettled {
                    coin,
                    paid,
                    unpaid: count - paid,
                });
            }
            Command::RaiseIou { amount } => {
                self.tally.ious += 1;
                self.tally.iou_won += amount.get();
            }
            Command::EnableAcceptors
            | Command::DisableAcceptors
            | Command::PaymentStatus { .. }
            | Command::CancelIssue { .. }
            | Command::ConfirmIssued { .. }
            | Command::PrintReceipt(_)
            | Command::Guide(_)
            | Command::Ended => {}
        }
        Ok(())
    }

    /// One citizen's session from first touch to its end.
    fn session(&mut self, books: &mut dyn Books, n: u32) -> Result<()> {
        let id = SessionId(u64::from(n));
        let mut s = Session::new(id, SessionConfig::default(), self.hoppers_view());
        let wanted = match self.rng.random_range(0..10) {
            0..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        let mut queue = VecDeque::new();
        let mut printing = None;
        let mut steps = 0;
        while !s.is_over() {
            steps += 1;
            if steps > MAX_EVENTS_PER_SESSION {
                bail!(
                    "session {id} did not end after {MAX_EVENTS_PER_SESSION} events (state {})",
                    s.state().name()
                );
            }
            let event = match queue.pop_front() {
                Some(e) => e,
                None => match self.citizen(&s, wanted) {
                    Some(e) => e,
                    None => bail!("session {id} stalled in state {}", s.state().name()),
                },
            };
            // The world's events are always valid; a citizen's may be refused (e.g. a
            // cancel once printing began), which changes nothing.
            let Ok(commands) = s.handle(event) else {
                continue;
            };
            for c in commands {
                self.execute(books, id, c, &mut printing, &mut queue)?;
            }
        }
        // The session is over; money may still be in flight (a late note return).
        while let Some(e) = queue.pop_front() {
            if let Ok(commands) = s.handle(e) {
                for c in commands {
                    self.execute(books, id, c, &mut printing, &mut queue)?;
                }
            }
        }
        if !s.is_settled() {
            bail!("session {id} ended unsettled in state {}", s.state().name());
        }
        self.tally.sessions += 1;
        match s.state() {
            State::Done => self.tally.completed += 1,
            other => {
                *self
                    .tally
                    .canceled
                    .entry(other.name().to_owned())
                    .or_default() += 1
            }
        }
        self.tally.inserted += s.inserted().get();
        self.tally.fees += s.fees().get();
        self.tally.paid_back += s.paid_back().get();
        Ok(())
    }
}

/// Runs `sessions` simulated sessions against `books`, returning what happened.
pub fn simulate(
    books: &mut dyn Books,
    sessions: u32,
    seed: u64,
    kiosk: KioskCatalog,
) -> Result<Tally> {
    let today = Date::new(2026, 11, 23)?;
    let documents: Vec<(DocCode, bool, u32)> = kiosk
        .enabled_documents()
        .map(|d| (d.code.clone(), d.requires.needs_identity(), d.max_pages))
        .collect();
    if documents.is_empty() {
        bail!("the catalog enables no document at this kiosk");
    }
    let mut world = World {
        rng: StdRng::seed_from_u64(seed),
        clock_ms: START_MS,
        hoppers: BTreeMap::new(),
        tray: 0,
        stacker: BTreeMap::new(),
        cashbox_won: 0,
        issue_seq: 0,
        documents,
        kiosk,
        today,
        tally: Tally::default(),
    };
    for n in 0..sessions {
        world.staff_round(books, n)?;
        world.clock_ms += world.rng.random_range(30_000..1_200_000);
        world.session(books, n + 1)?;
    }
    Ok(world.tally)
}

/// `kioskctl ledger simulate`. Only into a new ledger: fake sessions appended to a real
/// kiosk's journal would be indistinguishable from real ones (the chain would verify).
pub fn run(db: &Path, sessions: u32, seed: u64, catalog: &Path) -> Result<ExitCode> {
    if std::fs::metadata(db).is_ok_and(|m| m.len() > 0) {
        bail!(
            "{} exists: simulate writes only a new ledger, never into one that may be a kiosk's",
            db.display()
        );
    }
    let catalog = Catalog::load(catalog).map_err(|p| anyhow::anyhow!("{p}"))?;
    let kiosk =
        KioskCatalog::new(catalog, Overrides::none()).map_err(|p| anyhow::anyhow!("{p}"))?;
    let mut books = crate::ledger_cmd::LedgerBooks::open(db)?;
    let t = simulate(&mut books, sessions, seed, kiosk)?;
    println!(
        "{} sessions: {} completed, canceled {:?}; {} copies printed, {} print failures",
        t.sessions, t.completed, t.canceled, t.copies_printed, t.jams
    );
    println!(
        "money: inserted {}, fees {}, paid back {}, IOUs {} ({}); notes stacked {}, returned {}",
        Won::new(t.inserted),
        Won::new(t.fees),
        Won::new(t.paid_back),
        t.ious,
        Won::new(t.iou_won),
        t.notes_stacked,
        t.notes_returned
    );
    println!(
        "staff: {} paper loads, {} coin refills, {} cash collections, {} counts",
        t.paper_loads, t.coin_refills, t.collections, t.counts
    );
    // Every session ended settled: nothing may be left on the citizen's credit or in
    // escrow, and each unit's books balance (verify re-derives them from the chain).
    let l = &books.ledger;
    let left = l.balance(&Account::SessionCredit)?;
    let escrow = l.balance(&Account::Escrow)?;
    let open = l.open_pending()?.len();
    if left != 0 || escrow != 0 || open != 0 {
        bail!(
            "money left behind: session credit {left}, escrow {escrow}, {open} open escrow entries"
        );
    }
    if t.inserted != t.fees + t.paid_back + t.iou_won {
        bail!(
            "inserted {} != fees {} + paid back {} + IOUs {}",
            t.inserted,
            t.fees,
            t.paid_back,
            t.iou_won
        );
    }
    let report = l.verify()?;
    println!(
        "conserved: inserted = fees + paid back + IOUs; ledger ok with {} entries",
        report.entries
    );
    Ok(ExitCode::SUCCESS)
}
