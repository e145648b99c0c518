//! The orchestrator against in-memory devices and network: the session flow, the books
//! and the view, deterministic and fast. (The same flows run across processes against
//! the device simulators and egov-sim in `e2e.rs`.)

#![allow(clippy::unwrap_used)]

use kiosk_catalog::{Catalog, KioskCatalog, Overrides};
use kiosk_core::session::{Event, SessionConfig};
use kiosk_core::{Account, Coin, Note, Transfer, TransferCode};
use kiosk_daemon::clock::{Clock, ManualClock};
use kiosk_daemon::doubles::{FakeHardware, FakeNetwork, World};
use kiosk_daemon::kiosk::{ApiRequest, Handle, Kiosk, Msg, Parts, Settings};
use kiosk_daemon::metrics::Metrics;
use kiosk_daemon::ports::Input;
use kiosk_daemon::schedule::{ClockTime, Hours, RestartWindow, Schedule};
use kiosk_ledger::{Entry, Ledger, Op};
use kiosk_render::{KioskFont, Renderer, TemplateSet, demo_signing_key};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Rig {
    h: Handle,
    world: Arc<Mutex<World>>,
    net: Arc<FakeNetwork>,
    clock: Arc<ManualClock>,
    task: tokio::task::JoinHandle<Ledger>,
    _dir: tempfile::TempDir,
}

fn stock(l: &mut Ledger, paper: u64, coins: &[(Coin, u32)]) {
    let t = Transfer::new(
        Account::PaperTray,
        Account::DistrictStock,
        paper,
        TransferCode::PaperLoaded,
    )
    .unwrap();
    l.apply(&[Op::Post(Entry::new(t, 0))]).unwrap();
    for &(c, n) in coins {
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

async fn rig(coins: &[(Coin, u32)]) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path().join("ledger.db")).unwrap();
    stock(&mut ledger, 100, coins);
    let catalog = Catalog::load(root().join("config/documents.toml")).unwrap();
    let catalog = Arc::new(KioskCatalog::new(catalog, Overrides::none()).unwrap());
    let templates = TemplateSet::load_dir(root().join("config/templates")).unwrap();
    let font = KioskFont::load(kiosk_render::DEFAULT_FONT_PATH).unwrap();
    let renderer = Arc::new(Renderer::new(font, templates.clone()).unwrap());
    let net = Arc::new(FakeNetwork::new(templates, &catalog));
    // 2026-11-23 10:00 KST.
    let clock = Arc::new(ManualClock::at(1_795_366_800_000 + 8 * 3_600_000));
    let world = Arc::new(Mutex::new(World {
        hoppers: coins.iter().copied().collect(),
        ..World::default()
    }));
    let settings = Settings {
        kiosk_id: "KIOSK-TEST-01".into(),
        site: "test".into(),
        session: SessionConfig::default(),
        schedule: Schedule {
            hours: Hours::Always,
            restart: RestartWindow {
                at: ClockTime::new(2, 0).unwrap(),
                window_min: 30,
                drain_min: 5,
            },
        },
        hopper_coins: coins.iter().map(|c| c.0).collect(),
        where_else: vec![],
        linger_ms: 60_000,
        accessibility: Default::default(),
    };
    let queue = Kiosk::<FakeHardware, FakeNetwork>::queue();
    let hw = FakeHardware::new(queue.0.clone(), world.clone());
    let (k, rx, h) = Kiosk::new(
        Parts {
            settings,
            ledger,
            catalog,
            renderer,
            signing: Arc::new(demo_signing_key(1)),
            hw,
            net: net.clone(),
            clock: clock.clone() as Arc<dyn Clock>,
            metrics: Arc::new(Metrics::new()),
        },
        queue,
    )
    .unwrap();
    let task = tokio::spawn(k.run(rx));
    Rig {
        h,
        world,
        net,
        clock,
        task,
        _dir: dir,
    }
}

impl Rig {
    async fn call(&self, r: ApiRequest) {
        self.h.call(r).await.unwrap();
    }
    async fn input(&self, i: Input) {
        self.h.tx.send(Msg::Input(i)).await.unwrap();
    }
    /// Waits until the view satisfies `f` (bounded: 10 s of real time).
    async fn until(&self, what: &str, f: impl Fn(&kiosk_daemon::view::Snapshot) -> bool) {
        let mut rx = self.h.view.clone();
        let r = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if f(&rx.borrow_and_update()) {
                    return;
                }
                rx.changed().await.unwrap();
            }
        })
        .await;
        assert!(
            r.is_ok(),
            "timed out waiting for {what}: {:#?}",
            self.h.view.borrow()
        );
    }
    /// A session up to payment: begin, one line, confirm, identity (matched at once).
    async fn to_payment(&self, code: &str, copies: u8) {
        self.call(ApiRequest::Begin).await;
        self.call(add(code, copies)).await;
        self.call(ApiRequest::Confirm).await;
        self.call(ApiRequest::Identity(Zeroizing::new("9001011234567".into())))
            .await;
        self.until("awaiting payment", |s| state(s) == "awaiting-payment")
            .await;
    }
    /// The citizen cancels, the session ends (money back), the screen is left.
    async fn cancel_and_finish(&self) {
        self.call(ApiRequest::Cancel).await;
        self.until("over", |s| {
            s.session.as_ref().is_some_and(|s| s.ended.is_some())
        })
        .await;
        self.call(ApiRequest::Finish).await;
    }
    async fn stop(self) -> Ledger {
        self.h.tx.send(Msg::Drain).await.unwrap();
        let _ = self.h.call(ApiRequest::Finish).await;
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap()
    }
}

fn state(s: &kiosk_daemon::view::Snapshot) -> &str {
    s.session.as_ref().map_or("none", |s| s.state)
}

fn add(code: &str, copies: u8) -> ApiRequest {
    ApiRequest::Add {
        code: code.into(),
        copies,
        options: BTreeMap::new(),
        address: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_with_a_note_pays_change_and_books_everything() {
    let r = rig(&[(Coin::W100, 50), (Coin::W500, 50)]).await;
    r.call(ApiRequest::Begin).await;
    r.call(add("RES-COPY", 2)).await;
    r.call(ApiRequest::Confirm).await;
    r.until("identifying", |s| state(s) == "identifying").await;
    r.call(ApiRequest::Identity(Zeroizing::new(
        "900101-1234567".into(),
    )))
    .await;
    r.until("awaiting payment", |s| state(s) == "awaiting-payment")
        .await;
    let due = r.h.view.borrow().session.as_ref().unwrap().due;
    assert_eq!(due, 400, "two copies at 200 won");
    r.input(Input::Event(Event::NoteEscrowed(Note::W1000)))
        .await;
    r.until("done", |s| state(s) == "done").await;
    let s = r.h.view.borrow().clone();
    let ended = s.session.unwrap().ended.unwrap();
    assert_eq!(
        (ended.inserted, ended.fees, ended.paid_back, ended.owed),
        (1000, 400, 600, 0)
    );
    assert_eq!(r.world.lock().unwrap().paid_out.get(), 600);
    assert_eq!(r.world.lock().unwrap().stacked, vec![Note::W1000]);
    assert_eq!(r.world.lock().unwrap().printed.len(), 2);
    let calls = r.net.calls.lock().unwrap().clone();
    assert!(
        calls.iter().any(|c| c.starts_with("confirm FAKE-")),
        "{calls:?}"
    );
    let l = r.stop().await;
    assert_eq!(l.balance(&Account::SessionCredit).unwrap(), 0);
    assert_eq!(l.balance(&Account::Stacker(Note::W1000)).unwrap(), 1000);
    assert_eq!(
        l.balance(&Account::Revenue("RES-COPY".parse().unwrap()))
            .unwrap(),
        -400
    );
    l.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_printing_gives_every_coin_back() {
    let r = rig(&[(Coin::W100, 50), (Coin::W500, 50)]).await;
    r.to_payment("FAM-RELATION", 1).await;
    {
        let i = r.world.lock().unwrap().coin(Coin::W100);
        r.input(i).await;
    }
    {
        let i = r.world.lock().unwrap().coin(Coin::W100);
        r.input(i).await;
    }
    r.until("credited", |s| {
        s.session.as_ref().is_some_and(|s| s.inserted == 200)
    })
    .await;
    r.call(ApiRequest::Cancel).await;
    r.until("canceled", |s| state(s) == "canceled").await;
    let ended = r.h.view.borrow().session.clone().unwrap().ended.unwrap();
    assert_eq!(
        (ended.reason, ended.paid_back, ended.fees),
        ("citizen-canceled", 200, 0)
    );
    assert!(r.world.lock().unwrap().printed.is_empty());
    let calls = r.net.calls.lock().unwrap().clone();
    assert!(
        calls.iter().any(|c| c.starts_with("cancel FAKE-")),
        "{calls:?}"
    );
    let l = r.stop().await;
    assert_eq!(l.balance(&Account::SessionCredit).unwrap(), 0);
    l.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_fingerprint_failures_send_the_citizen_to_the_counter() {
    let r = rig(&[(Coin::W100, 50)]).await;
    r.call(ApiRequest::Begin).await;
    r.call(add("RES-COPY", 1)).await;
    r.call(ApiRequest::Confirm).await;
    // The fake scanner's template "0" never matches.
    r.call(ApiRequest::Identity(Zeroizing::new("9001011234560".into())))
        .await;
    r.until("canceled", |s| state(s) == "canceled").await;
    let s = r.h.view.borrow().session.clone().unwrap();
    assert_eq!(s.ended.unwrap().reason, "identity-failed");
    assert!(r.net.calls.lock().unwrap().is_empty(), "nothing fetched");
    r.stop().await.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_down_refuses_before_any_money() {
    let r = rig(&[(Coin::W100, 50)]).await;
    r.net.down.store(true, std::sync::atomic::Ordering::SeqCst);
    r.call(ApiRequest::Begin).await;
    let e = r.h.call(add("RES-COPY", 1)).await.unwrap_err();
    assert_eq!(e.code, "document-unavailable");
    r.until("out of service shown", |s| s.kiosk.mode == "out-of-service")
        .await;
    assert!(!r.world.lock().unwrap().accepting);
    r.call(ApiRequest::Cancel).await;
    r.stop().await.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jam_refunds_what_was_not_printed_and_books_the_spoiled_sheet() {
    let r = rig(&[(Coin::W100, 50), (Coin::W500, 50)]).await;
    r.world.lock().unwrap().jam_after = Some(0);
    r.to_payment("RES-COPY", 1).await;
    {
        let i = r.world.lock().unwrap().coin(Coin::W500);
        r.input(i).await;
    }
    r.until("over", |s| {
        s.session.as_ref().is_some_and(|s| s.ended.is_some())
    })
    .await;
    let ended = r.h.view.borrow().session.clone().unwrap().ended.unwrap();
    assert_eq!((ended.fees, ended.paid_back), (0, 500), "{ended:?}");
    let l = r.stop().await;
    assert_eq!(l.balance(&Account::Spoiled).unwrap(), 1);
    assert_eq!(l.balance(&Account::PaperTray).unwrap(), 99);
    l.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coin_on_an_idle_kiosk_is_given_back() {
    let r = rig(&[(Coin::W100, 50)]).await;
    {
        let i = r.world.lock().unwrap().coin(Coin::W100);
        r.input(i).await;
    }
    r.until("returned", |s| {
        s.session.as_ref().is_some_and(|s| s.ended.is_some())
    })
    .await;
    assert_eq!(r.world.lock().unwrap().paid_out.get(), 100);
    let _ = r.clock.unix_ms();
    let l = r.stop().await;
    assert_eq!(l.balance(&Account::SessionCredit).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_door_stops_the_money_and_a_tripped_tamper_switch_holds_it() {
    use kiosk_daemon::ports::DeviceNote;
    let r = rig(&[(Coin::W100, 50)]).await;
    r.to_payment("RES-COPY", 1).await;
    assert!(r.world.lock().unwrap().accepting);
    r.input(Input::Device(DeviceNote::Door {
        door: "cash",
        open: true,
    }))
    .await;
    r.until("out of service", |s| s.kiosk.mode == "out-of-service")
        .await;
    assert!(
        !r.world.lock().unwrap().accepting,
        "no money while the cash door is open"
    );
    r.cancel_and_finish().await;
    let e = r.h.call(ApiRequest::Begin).await.unwrap_err();
    assert_eq!((e.status, e.code), (503, "closed"), "{e:?}");
    r.input(Input::Device(DeviceNote::Door {
        door: "cash",
        open: false,
    }))
    .await;
    r.until("open again", |s| s.kiosk.mode == "open").await;
    r.call(ApiRequest::Begin).await;
    r.cancel_and_finish().await;
    // A tripped tamper switch holds the money until staff restart the kiosk.
    r.input(Input::Device(DeviceNote::Tamper { tripped: true }))
        .await;
    r.input(Input::Device(DeviceNote::Tamper { tripped: false }))
        .await;
    r.until("held", |s| s.kiosk.mode == "out-of-service").await;
    assert_eq!(r.h.call(ApiRequest::Begin).await.unwrap_err().status, 503);
    r.stop().await.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_board_event_holds_the_money_and_a_config_alarm_does_not() {
    use kiosk_daemon::ports::DeviceNote;
    let r = rig(&[(Coin::W100, 50)]).await;
    r.input(Input::Device(DeviceNote::BoardAlarm { alarm: "config" }))
        .await;
    r.call(ApiRequest::Begin).await;
    r.cancel_and_finish().await;
    assert!(
        r.h.call(ApiRequest::Begin).await.is_ok(),
        "config alone keeps it open"
    );
    r.cancel_and_finish().await;
    r.input(Input::Device(DeviceNote::BoardAlarm {
        alarm: "event-forged",
    }))
    .await;
    r.until("held", |s| s.kiosk.mode == "out-of-service").await;
    assert_eq!(r.h.call(ApiRequest::Begin).await.unwrap_err().status, 503);
    assert!(!r.world.lock().unwrap().accepting);
    r.stop().await.verify().unwrap();
}

fn guidance_kind(s: &kiosk_daemon::view::Snapshot) -> Option<String> {
    s.session
        .as_ref()
        .and_then(|s| s.guidance.as_ref())
        .and_then(|g| g["kind"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_time_lifts_the_warning_twice_and_a_matched_finger_is_no_failure() {
    let r = rig(&[(Coin::W100, 50), (Coin::W500, 50)]).await;
    r.to_payment("RES-COPY", 1).await;
    // The finger matched at the first try: nothing about a failed scan is shown.
    assert_eq!(
        guidance_kind(&r.h.view.borrow()),
        None,
        "{:?}",
        r.h.view.borrow().session
    );
    for round in 0..2 {
        // The first tick after activity starts the inactivity period; the inspection
        // round trip makes sure it was handled before the clock moves.
        r.input(Input::Tick).await;
        let (tx, rx) = tokio::sync::oneshot::channel();
        r.h.tx.send(Msg::Inspect(tx)).await.unwrap();
        rx.await.unwrap();
        r.clock.advance(61_000);
        r.input(Input::Tick).await;
        r.until("warned", |s| {
            guidance_kind(s).as_deref() == Some("timeout-warning")
        })
        .await;
        r.call(ApiRequest::MoreTime).await;
        r.until("warning lifted", |s| guidance_kind(s).is_none())
            .await;
        assert_eq!(
            state(&r.h.view.borrow()),
            "awaiting-payment",
            "round {round}"
        );
    }
    r.input(Input::Event(Event::NoteEscrowed(Note::W1000)))
        .await;
    r.until("done", |s| state(s) == "done").await;
    assert_eq!(r.world.lock().unwrap().printed.len(), 1);
    r.stop().await.verify().unwrap();
}
