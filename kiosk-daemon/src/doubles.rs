//! In-memory devices and network for the orchestrator's own tests and its throughput
//! benchmark: every command answered at once, in the order a real device would answer.
//!
//! They exercise the orchestrator, not the devices: the device drivers are tested over
//! their wire protocols in kiosk-devices, and the daemon end to end against the
//! simulators in `tests/`.

use kiosk_core::session::{Event, PrintFault};
use kiosk_core::{Coin, IssueNumber, Note, Sheets, Won};
use kiosk_render::{TemplateSet, synthetic_data};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::kiosk::Msg;
use crate::ports::{
    Evidence, FetchRequest, FetchedDocument, Hardware, HopperFacts, Input, JobFacts, MessageFate,
    NetFailure, NetOutcome, Network, ValidatorFacts,
};

/// What the fake world holds and what was asked of it.
#[derive(Debug, Default)]
pub struct World {
    /// Coins in each hopper.
    pub hoppers: BTreeMap<Coin, u32>,
    /// Notes stacked.
    pub stacked: Vec<Note>,
    /// Notes returned.
    pub returned: Vec<Note>,
    /// Coins paid out.
    pub paid_out: Won,
    /// Print jobs (job, name, pages).
    pub printed: Vec<(u32, String, u32)>,
    /// Receipts printed.
    pub receipts: Vec<Vec<String>>,
    /// The next print job jams after this many pages.
    pub jam_after: Option<u32>,
    /// Acceptors enabled.
    pub accepting: bool,
    /// When each print job was submitted (the benchmark's end mark).
    pub print_times: Vec<std::time::Instant>,
    /// The coin acceptor's ccTalk event counter.
    pub acceptor_counter: u8,
    /// Each hopper's dispense event counter and its last payout (paid, unpaid).
    pub hopper_status: BTreeMap<Coin, (u8, u32, u32)>,
    /// Pages printed per job name, and whether the job ended.
    pub jobs: BTreeMap<String, (u32, bool)>,
}

impl World {
    /// A coin dropped in: the acceptor's counter moves and the coin is reported with it,
    /// as the ccTalk driver reports it.
    pub fn coin(&mut self, coin: Coin) -> Input {
        self.acceptor_counter = if self.acceptor_counter == 255 {
            1
        } else {
            self.acceptor_counter + 1
        };
        Input::CoinCredited {
            coin,
            serial: FAKE_SERIAL,
            counter: self.acceptor_counter,
        }
    }
}

/// The serial number every fake device reports.
pub const FAKE_SERIAL: u32 = 0x00C0_FFEE;

/// Devices that answer at once.
pub struct FakeHardware {
    /// The world.
    pub world: Arc<Mutex<World>>,
    tx: mpsc::Sender<Msg>,
}

impl FakeHardware {
    /// Devices reporting into `tx`.
    pub fn new(tx: mpsc::Sender<Msg>, world: Arc<Mutex<World>>) -> FakeHardware {
        FakeHardware { world, tx }
    }

    fn send(&self, i: Input) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(Msg::Input(i)).await;
        });
    }

    fn send_all(&self, v: Vec<Input>) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            for i in v {
                let _ = tx.send(Msg::Input(i)).await;
            }
        });
    }
}

impl Hardware for FakeHardware {
    fn set_acceptors(&mut self, on: bool) {
        if let Ok(mut w) = self.world.lock() {
            w.accepting = on;
        }
    }
    fn stack_note(&mut self, note: Note) {
        let stacked = match self.world.lock() {
            Ok(mut w) => {
                w.stacked.push(note);
                u32::try_from(w.stacked.len()).unwrap_or(u32::MAX)
            }
            Err(_) => return,
        };
        self.send(Input::NoteCredited {
            note,
            serial: FAKE_SERIAL,
            stacked,
        });
    }
    fn return_note(&mut self, note: Note) {
        if let Ok(mut w) = self.world.lock() {
            w.returned.push(note);
        }
        self.send(Input::Event(Event::NoteReturned(note)));
    }
    fn dispense(&mut self, coin: Coin, count: u32, intent: String) {
        let (paid, counter) = match self.world.lock() {
            Ok(mut w) => {
                let level = w.hoppers.entry(coin).or_default();
                let paid = count.min(*level);
                *level -= paid;
                w.paid_out = Won::new(w.paid_out.get() + coin.value().get() * u64::from(paid));
                let st = w.hopper_status.entry(coin).or_insert((0, 0, 0));
                st.0 = if st.0 == 255 { 1 } else { st.0 + 1 };
                st.1 = paid;
                st.2 = count - paid;
                (paid, Some(st.0))
            }
            Err(_) => (0, None),
        };
        self.send(Input::HopperSettled {
            coin,
            paid,
            unpaid: count - paid,
            intent,
            counter,
        });
    }
    fn print(&mut self, job: u32, name: String, _pdf: Arc<Vec<u8>>, pages: u32) {
        let jam = match self.world.lock() {
            Ok(mut w) => {
                let jam = w.jam_after.map_or(pages, |j| j.min(pages));
                w.jobs.insert(name.clone(), (jam, true));
                w.printed.push((job, name, pages));
                w.print_times.push(std::time::Instant::now());
                w.jam_after.take()
            }
            Err(_) => None,
        };
        let mut v = Vec::new();
        let ok_pages = jam.map_or(pages, |j| j.min(pages));
        for _ in 0..ok_pages {
            v.push(Input::Event(Event::PagePrinted { job }));
        }
        if ok_pages == pages {
            v.push(Input::Event(Event::CopyCompleted { job }));
        } else {
            v.push(Input::Event(Event::PrintFailed {
                job,
                fault: PrintFault::Jam,
                spoiled: Sheets::new(1),
            }));
        }
        self.send_all(v);
    }
    fn print_receipt(&mut self, lines: Vec<String>, _iou: Option<String>) {
        if let Ok(mut w) = self.world.lock() {
            w.receipts.push(lines);
        }
    }
    fn scan_finger(&mut self, rrn: Zeroizing<String>) {
        // The fake template is the number's last digit: "0" never matches.
        let t = rrn.as_bytes().last().copied().unwrap_or(b'0');
        self.send(Input::FingerScanned(Ok(Zeroizing::new(vec![t]))));
    }
    fn printer_ok(&self) -> bool {
        true
    }
    async fn last_dispense(&self, coin: Coin) -> Result<HopperFacts, String> {
        let w = self.world.lock().map_err(|e| e.to_string())?;
        let (counter, paid, unpaid) = w.hopper_status.get(&coin).copied().unwrap_or((0, 0, 0));
        Ok(HopperFacts {
            counter,
            paid: u8::try_from(paid).unwrap_or(u8::MAX),
            unpaid: u8::try_from(unpaid).unwrap_or(u8::MAX),
        })
    }
    async fn settle_validator(&self) -> Result<ValidatorFacts, String> {
        let w = self.world.lock().map_err(|e| e.to_string())?;
        Ok(ValidatorFacts {
            serial: FAKE_SERIAL,
            stacked: u32::try_from(w.stacked.len()).unwrap_or(u32::MAX),
        })
    }
    async fn find_job(&self, name: &str) -> Result<Option<JobFacts>, String> {
        let w = self.world.lock().map_err(|e| e.to_string())?;
        Ok(w.jobs.get(name).map(|&(pages, ended)| JobFacts {
            job_id: 1,
            pages,
            ended,
            aborted: false,
        }))
    }
    async fn cancel_job(&self, _job_id: i32) -> Result<(), String> {
        Ok(())
    }
}

/// A network that answers at once with synthetic documents.
pub struct FakeNetwork {
    templates: TemplateSet,
    fees: BTreeMap<String, Won>,
    issued: AtomicU64,
    /// When set, every call fails as if the network were down.
    pub down: AtomicBool,
    /// Calls answered (for assertions).
    pub calls: Mutex<Vec<String>>,
}

impl FakeNetwork {
    /// With the templates in `dir` and fees from the catalog.
    pub fn new(templates: TemplateSet, catalog: &kiosk_catalog::KioskCatalog) -> FakeNetwork {
        let fees = catalog
            .enabled_documents()
            .map(|d| (d.code.to_string(), d.fee.base))
            .collect();
        FakeNetwork {
            templates,
            fees,
            issued: AtomicU64::new(0),
            down: AtomicBool::new(false),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, what: String) {
        if let Ok(mut c) = self.calls.lock() {
            c.push(what);
        }
    }
}

impl Network for FakeNetwork {
    async fn verify_identity(
        &self,
        _id: &str,
        _rrn: &str,
        template: &[u8],
    ) -> NetOutcome<Zeroizing<String>> {
        if self.down.load(Ordering::SeqCst) {
            return NetOutcome::Failed(NetFailure::NetworkDown);
        }
        if template == b"0" {
            NetOutcome::Failed(NetFailure::FingerprintMismatch)
        } else {
            NetOutcome::Ok(Zeroizing::new("token".into()))
        }
    }

    async fn fetch_document(&self, _id: &str, req: &FetchRequest) -> NetOutcome<FetchedDocument> {
        if self.down.load(Ordering::SeqCst) {
            return NetOutcome::Failed(NetFailure::NetworkDown);
        }
        let Some(t) = self.templates.get(&req.code) else {
            return NetOutcome::Failed(NetFailure::Refused("unknown type".into()));
        };
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let Ok(issue) = IssueNumber::new(&format!("FAKE-{n:08}")) else {
            return NetOutcome::Failed(NetFailure::BadReply("issue".into()));
        };
        self.note(format!("fetch {}", req.code));
        NetOutcome::Ok(FetchedDocument {
            issue,
            fee: self
                .fees
                .get(req.code.as_str())
                .copied()
                .unwrap_or(Won::ZERO),
            data: synthetic_data(t, n, None),
            evidence: Evidence::default(),
        })
    }

    async fn confirm_issued(
        &self,
        _id: &str,
        issue: &IssueNumber,
        pages: u32,
    ) -> NetOutcome<Evidence> {
        self.note(format!("confirm {issue} {pages}"));
        NetOutcome::Ok(Evidence::default())
    }

    async fn cancel_issue(&self, _id: &str, issue: &IssueNumber) -> NetOutcome<Evidence> {
        self.note(format!("cancel {issue}"));
        NetOutcome::Ok(Evidence::default())
    }

    async fn message_status(&self, _id: &str) -> NetOutcome<MessageFate> {
        NetOutcome::Ok(MessageFate::NotReceived)
    }

    fn agency_available(&self, _agency: &str) -> bool {
        !self.down.load(Ordering::SeqCst)
    }

    fn network_available(&self) -> bool {
        !self.down.load(Ordering::SeqCst)
    }
}
