//! The deterministic simulation: the real orchestrator, the real ledger on disk and the
//! real recovery, over a physical kiosk in memory (`kiosk_daemon::simulation`), driven
//! step by step by one seeded random source. Citizens buy documents, pay with coins and
//! notes, cancel; printers jam; and the process "dies" between any two steps, with the
//! devices' undelivered events lost exactly as a SIGKILL loses them. After every restart
//! the books are judged against what the devices physically did.
//!
//! `KIOSK_SIM_SEED` replays one seed; `KIOSK_SIM_DAYS` sets the kiosk-days (100 by
//! default; a kiosk-day is 56 sessions, what a real machine prints in a day, and one seed).
//! A failure prints its seed. Figures: docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used)]

use kiosk_catalog::{Catalog, KioskCatalog, Overrides};
use kiosk_core::session::SessionConfig;
use kiosk_core::{Account, Coin, Note, Transfer, TransferCode};
use kiosk_daemon::clock::{Clock, ManualClock};
use kiosk_daemon::doubles::FakeNetwork;
use kiosk_daemon::keys;
use kiosk_daemon::kiosk::{ApiRequest, Kiosk, Msg, Parts, Settings};
use kiosk_daemon::metrics::Metrics;
use kiosk_daemon::recovery;
use kiosk_daemon::schedule::{ClockTime, Hours, RestartWindow, Schedule};
use kiosk_daemon::simulation::{OncePerType, SimHardware, SimWorld};
use kiosk_ledger::{Entry, Ledger, Op};
use kiosk_render::{KioskFont, Renderer, TemplateSet, demo_signing_key};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

const COINS: [(Coin, u32); 2] = [(Coin::W100, 2_000), (Coin::W500, 2_000)];
/// Documents the citizens buy: personal ones (identity) and property ones (address).
const DOCS: [&str; 5] = [
    "RES-COPY",
    "RES-ABSTRACT",
    "FAM-RELATION",
    "LAND-REGISTER",
    "LAND-PRICE",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Shared {
    catalog: Arc<KioskCatalog>,
    renderer: Arc<OncePerType<Renderer>>,
    templates: TemplateSet,
}

fn shared() -> Shared {
    let catalog = Catalog::load(root().join("config/documents.toml")).unwrap();
    let catalog = Arc::new(KioskCatalog::new(catalog, Overrides::none()).unwrap());
    let templates = TemplateSet::load_dir(root().join("config/templates")).unwrap();
    let font = KioskFont::load(kiosk_render::DEFAULT_FONT_PATH).unwrap();
    let renderer = Arc::new(OncePerType::new(
        Renderer::new(font, templates.clone()).unwrap(),
    ));
    Shared {
        catalog,
        renderer,
        templates,
    }
}

type K = Kiosk<SimHardware, FakeNetwork>;

struct Sim {
    seed: u64,
    rng: StdRng,
    dir: PathBuf,
    world: Arc<Mutex<SimWorld>>,
    net: Arc<FakeNetwork>,
    clock: Arc<ManualClock>,
    shared: Arc<Shared>,
    kiosk: Option<K>,
    rx: Option<mpsc::Receiver<Msg>>,
    /// Chance of a crash at each step, per mille.
    crash_per_mille: u32,
    crashes: u32,
    steps: u64,
}

impl Sim {
    fn ledger_path(&self) -> PathBuf {
        self.dir.join("ledger.db")
    }

    fn stock(path: &Path) {
        let mut l = Ledger::open(path).unwrap();
        let t = Transfer::new(
            Account::PaperTray,
            Account::DistrictStock,
            100_000,
            TransferCode::PaperLoaded,
        )
        .unwrap();
        l.apply(&[Op::Post(Entry::new(t, 0))]).unwrap();
        for (c, n) in COINS {
            let t = Transfer::new(
                Account::Hopper(c),
                Account::DistrictSafe,
                c.value().get() * u64::from(n),
                TransferCode::CoinRefill,
            )
            .unwrap();
            l.apply(&[Op::Post(Entry::new(t, 0))]).unwrap();
        }
    }

    /// Starts the daemon as `daemon::run` does: devices first, then recovery from what
    /// they say, then the orchestrator.
    async fn boot(&mut self) {
        let mut ledger = Ledger::open(self.ledger_path()).unwrap();
        let resume = ledger
            .cursor(keys::device::COIN_ACCEPTOR)
            .unwrap()
            .and_then(|c| u8::try_from(c.counter).ok());
        self.world.lock().unwrap().restart(resume);
        let hw = SimHardware {
            world: self.world.clone(),
        };
        let now = self.clock.unix_ms();
        recovery::settle_devices(&mut ledger, &hw, now)
            .await
            .unwrap();
        if self.rng.random_range(0..1000) < self.crash_per_mille * 10 {
            // Killed again while it settles what the last kill left: between settling
            // with the devices and settling the money.
            self.crashes += 1;
            drop(ledger);
            return Box::pin(self.boot()).await;
        }
        recovery::settle_ledger(&mut ledger, now).unwrap();
        self.clock.advance(1_000);
        let before = self.clock.unix_ms();
        let clock = self.clock.clone();
        recovery::reconcile_network(&mut ledger, self.net.as_ref(), before, || clock.unix_ms())
            .await
            .unwrap();
        let settings = Settings {
            kiosk_id: "KIOSK-SIM-01".into(),
            site: "simulation".into(),
            session: SessionConfig::default(),
            schedule: Schedule {
                hours: Hours::Always,
                restart: RestartWindow {
                    at: ClockTime::new(2, 0).unwrap(),
                    window_min: 30,
                    drain_min: 5,
                },
            },
            hopper_coins: COINS.iter().map(|c| c.0).collect(),
            where_else: vec![],
            linger_ms: 60_000,
            accessibility: Default::default(),
        };
        let queue = K::queue();
        let (k, rx, _h) = Kiosk::new(
            Parts {
                settings,
                ledger,
                catalog: self.shared.catalog.clone(),
                renderer: self.shared.renderer.clone(),
                signing: Arc::new(demo_signing_key(1)),
                hw,
                net: self.net.clone(),
                clock: self.clock.clone() as Arc<dyn Clock>,
                metrics: Arc::new(Metrics::new()),
            },
            queue,
        )
        .unwrap();
        self.kiosk = Some(k);
        self.rx = Some(rx);
    }

    /// SIGKILL: everything in memory goes, the devices keep what they did.
    async fn crash(&mut self) {
        self.kiosk = None;
        self.rx = None;
        self.crashes += 1;
        self.boot().await;
        // Boxed: settling runs steps, and a step may crash (not while settling).
        Box::pin(self.settle()).await;
        self.check();
    }

    fn k(&mut self) -> &mut K {
        self.kiosk.as_mut().unwrap()
    }

    /// One step of the world: the next device event, else the next network answer.
    /// `false` when nothing is left to happen. May crash first.
    async fn step(&mut self) -> bool {
        self.steps += 1;
        if self.rng.random_range(0..1000) < self.crash_per_mille {
            self.crash().await;
            return true;
        }
        self.clock.advance(50);
        let next = self.world.lock().unwrap().outbox.pop_front();
        if let Some(i) = next {
            self.k().step(Msg::Input(i));
            return true;
        }
        if self.k().in_flight() > 0 {
            let m = self.rx.as_mut().unwrap().recv().await.unwrap();
            self.k().step(m);
            return true;
        }
        if let Ok(m) = self.rx.as_mut().unwrap().try_recv() {
            self.k().step(m);
            return true;
        }
        false
    }

    /// Runs until nothing is left to happen.
    async fn run_out(&mut self) {
        for _ in 0..10_000 {
            if !self.step().await {
                return;
            }
        }
        panic!("seed {}: the kiosk never went quiet", self.seed);
    }

    /// Like `run_out`, without crashes (used after a restart, before checking).
    async fn settle(&mut self) {
        let p = std::mem::replace(&mut self.crash_per_mille, 0);
        self.run_out().await;
        self.api(ApiRequest::Finish);
        self.crash_per_mille = p;
    }

    fn api(&mut self, req: ApiRequest) -> Option<Result<(), String>> {
        let (tx, mut rx) = oneshot::channel();
        self.k().step(Msg::Api(req, tx));
        rx.try_recv()
            .ok()
            .map(|r| r.map_err(|e| e.code.to_string()))
    }

    fn state(&mut self) -> (String, u64, u64, bool) {
        let snap = self.k().view_now();
        match snap.session {
            Some(s) => (s.state.to_string(), s.due, s.inserted, s.ended.is_some()),
            None => (String::new(), 0, 0, true),
        }
    }

    /// One citizen, as random as the seed makes them.
    async fn citizen(&mut self) {
        if self.api(ApiRequest::Begin) != Some(Ok(())) {
            self.api(ApiRequest::Finish);
            return;
        }
        let lines = self.rng.random_range(1..=2);
        for _ in 0..lines {
            let code = DOCS[self.rng.random_range(0..DOCS.len())];
            let copies = self.rng.random_range(1..=2);
            let address = code
                .starts_with("LAND-")
                .then(|| "서울특별시 서초구 서초동 1234-5".to_owned());
            self.api(ApiRequest::Add {
                code: code.into(),
                copies,
                options: BTreeMap::new(),
                address,
            });
        }
        self.api(ApiRequest::Confirm);
        self.api(ApiRequest::Identity(zeroize::Zeroizing::new(
            "8912231427974".into(),
        )));
        for _ in 0..200 {
            let (state, ..) = self.state();
            if state != "identifying" && state != "fetching" && state != "selecting" {
                break;
            }
            if !self.step().await {
                break;
            }
        }
        if self.rng.random_bool(0.05) {
            let pages = self.rng.random_range(0..2);
            self.world.lock().unwrap().jam_next(pages);
        }
        let cancel = self.rng.random_bool(0.1);
        for _ in 0..100 {
            let (state, due, inserted, _) = self.state();
            if state != "awaiting-payment" || inserted >= due {
                break;
            }
            if cancel && inserted > 0 {
                self.api(ApiRequest::Cancel);
                break;
            }
            {
                let mut w = self.world.lock().unwrap();
                match self.rng.random_range(0..10) {
                    0..=2 => w.insert_note([Note::W1000, Note::W5000][self.rng.random_range(0..2)]),
                    3..=5 => w.insert_coin(Coin::W500),
                    _ => w.insert_coin(Coin::W100),
                }
            }
            for _ in 0..self.rng.random_range(1..4) {
                self.step().await;
            }
        }
        self.run_out().await;
        self.api(ApiRequest::Finish);
    }

    /// The books against the machine, with no session open.
    fn check(&mut self) {
        let seed = self.seed;
        let physical = self.world.lock().unwrap().physical.clone();
        let l = self.k().ledger();
        l.verify().unwrap();
        assert_eq!(
            l.balance(&Account::SessionCredit).unwrap(),
            0,
            "seed {seed}: credit open"
        );
        assert_eq!(
            l.balance(&Account::Escrow).unwrap(),
            0,
            "seed {seed}: escrow open"
        );
        let (mut coins, mut notes, mut sheets, mut jammed) = (0u64, 0u64, 0u64, 0u64);
        let (mut inserted, mut fees, mut back, mut owed, mut suspense) = (0, 0, 0, 0, 0);
        let mut paid: BTreeMap<String, u64> = BTreeMap::new();
        let mut fee_per_issue: BTreeMap<String, u32> = BTreeMap::new();
        for e in l.entries_since(0, usize::MAX).unwrap() {
            let a = e.amount as u64;
            match (e.kind.as_str(), e.code.as_str()) {
                ("posted", "coin-inserted") => {
                    coins += a;
                    inserted += a;
                }
                ("posted", "unexplained") => {
                    coins += a;
                    suspense += a;
                }
                ("posted", "note-stacked") => notes += a,
                ("post", "note-escrowed") => inserted += a,
                ("posted", "fee") => {
                    fees += a;
                    *fee_per_issue
                        .entry(e.issue.clone().unwrap_or_default())
                        .or_default() += 1;
                }
                ("posted", "change-paid" | "refund") => {
                    back += a;
                    *paid.entry(e.credit.clone()).or_default() += a;
                }
                ("posted", "refund-owed") => owed += a,
                ("posted", "sheet-printed") => sheets += a,
                ("posted", "sheet-spoiled") if e.credit == "paper:tray" => jammed += a,
                _ => {}
            }
        }
        assert_eq!(
            coins, physical.coins_in,
            "seed {seed}: coins taken vs booked"
        );
        assert_eq!(
            notes, physical.notes_in,
            "seed {seed}: notes stacked vs booked"
        );
        for (coin, won) in &physical.paid {
            assert_eq!(
                paid.get(&format!("hopper:{}", coin.value().get()))
                    .copied()
                    .unwrap_or(0),
                *won,
                "seed {seed}: hopper {coin:?} paid vs booked"
            );
        }
        assert_eq!(
            sheets, physical.pages,
            "seed {seed}: pages printed vs booked"
        );
        assert_eq!(
            jammed, physical.jammed,
            "seed {seed}: jammed blanks vs booked"
        );
        assert_eq!(
            physical.coins_in + physical.notes_in,
            fees + back + owed + suspense,
            "seed {seed}: money in = fees + paid back + owed + suspense"
        );
        assert_eq!(inserted + suspense, physical.coins_in + physical.notes_in);
        for (issue, n) in &fee_per_issue {
            assert!(
                *n <= physical.copies.get(issue).copied().unwrap_or(0),
                "seed {seed}: issue {issue} charged {n} times, printed fewer"
            );
        }
        let calls = self.net.calls.lock().unwrap().clone();
        for (issue, n) in &physical.copies {
            if *n > 0 {
                assert!(
                    !calls.contains(&format!("cancel {issue}")),
                    "seed {seed}: issue {issue} printed and canceled"
                );
            }
        }
    }
}

async fn simulate(seed: u64, sessions: u32) -> (u32, u64) {
    // On tmpfs where there is one: the simulation judges what is committed, not how fast
    // a disk syncs it (the crash tests and the ledger's own kill test cover the disk).
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let path = dir.path().join("ledger.db");
    Sim::stock(&path);
    let shared = Arc::new(shared());
    let net = Arc::new(FakeNetwork::new(shared.templates.clone(), &shared.catalog));
    let mut sim = Sim {
        seed,
        rng: StdRng::seed_from_u64(seed),
        dir: dir.path().to_owned(),
        world: Arc::new(Mutex::new(SimWorld::new(&COINS))),
        net,
        // 2026-11-23 10:00 KST.
        clock: Arc::new(ManualClock::at(1_795_366_800_000 + 8 * 3_600_000)),
        shared,
        kiosk: None,
        rx: None,
        crash_per_mille: 15,
        crashes: 0,
        steps: 0,
    };
    sim.boot().await;
    sim.settle().await;
    for _ in 0..sessions {
        sim.citizen().await;
        sim.settle().await;
    }
    sim.check();
    let p = sim.world.lock().unwrap().physical.clone();
    let fees = -sim
        .k()
        .ledger()
        .balances()
        .unwrap()
        .iter()
        .filter(|b| b.account.starts_with("revenue:"))
        .map(|b| b.posted)
        .sum::<i64>();
    eprintln!(
        "seed {seed}: {} crashes, {} steps; coins in {}, notes in {}, paid out {}, pages {}, copies {}, fees {fees}",
        sim.crashes,
        sim.steps,
        p.coins_in,
        p.notes_in,
        p.paid.values().sum::<u64>(),
        p.pages,
        p.copies.values().sum::<u32>()
    );
    (sim.crashes, sim.steps)
}

/// Runs `seeds` one after another on a runtime of its own (one thread: the simulation, not
/// a scheduler, decides what happens next). Returns (crashes, steps).
fn run_seeds(seeds: Vec<u64>) -> (u32, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut crashes, mut steps) = (0, 0);
        for seed in seeds {
            let (c, s) = simulate(seed, 56).await;
            crashes += c;
            steps += s;
        }
        (crashes, steps)
    })
}

#[test]
fn the_books_agree_with_the_machine_across_crashes_at_every_step() {
    let days: u64 = std::env::var("KIOSK_SIM_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seeds: Vec<u64> = match std::env::var("KIOSK_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(s) => vec![s],
        None => (0..days).map(|d| 20_261_204 + d).collect(),
    };
    let started = std::time::Instant::now();
    // Each seed is a kiosk of its own: two threads take every other seed.
    let (even, odd): (Vec<u64>, Vec<u64>) = seeds.iter().partition(|&&s| s % 2 == 0);
    let other = std::thread::spawn(move || run_seeds(odd));
    let (c1, s1) = run_seeds(even);
    let (c2, s2) = other.join().unwrap();
    let (crashes, steps) = (c1 + c2, s1 + s2);
    assert!(crashes > 0, "no crash was simulated");
    eprintln!(
        "{} kiosk-days, {crashes} crashes, {steps} steps in {:.1} s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
}
