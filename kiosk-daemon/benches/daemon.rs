//! The daemon's own figures (docs/BENCHMARKS.md):
//! 1. 1,000 sessions back to back with device and network delays at zero (in-memory
//!    doubles): sessions per second, and the daemon's latency from "paid" (the last coin
//!    handed to the orchestrator) to "print job submitted".
//! 2. Cold start to ready with the simulated devices (a real kiosk-daemon process against
//!    kiosk-sim and egov-sim), and the idle daemon's resident memory.
//!
//! Run: `cargo build --release --workspace && cargo bench -p kiosk-daemon`.

#![allow(clippy::unwrap_used)]

use kiosk_catalog::{Catalog, KioskCatalog, Overrides};
use kiosk_core::session::SessionConfig;
use kiosk_core::{Account, Coin, Transfer, TransferCode};
use kiosk_daemon::clock::{Clock, SystemClock};
use kiosk_daemon::doubles::{FakeHardware, FakeNetwork, World};
use kiosk_daemon::kiosk::{ApiRequest, Kiosk, Msg, Parts, Settings};
use kiosk_daemon::metrics::Metrics;
use kiosk_daemon::schedule::{ClockTime, Hours, RestartWindow, Schedule};
use kiosk_daemon::stack::{Bins, Stack, StackOptions};
use kiosk_ledger::{Entry, Ledger, Op};
use kiosk_render::{KioskFont, Renderer, TemplateSet, demo_signing_key};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn sessions(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path().join("ledger.db")).unwrap();
    let t = Transfer::new(
        Account::PaperTray,
        Account::DistrictStock,
        100_000,
        TransferCode::PaperLoaded,
    )
    .unwrap();
    let h = Transfer::new(
        Account::Hopper(Coin::W100),
        Account::DistrictSafe,
        100 * 100_000,
        TransferCode::CoinRefill,
    )
    .unwrap();
    ledger
        .apply(&[Op::Post(Entry::new(t, 0)), Op::Post(Entry::new(h, 0))])
        .unwrap();
    let catalog = Catalog::load(repo().join("config/documents.toml")).unwrap();
    let catalog = Arc::new(KioskCatalog::new(catalog, Overrides::none()).unwrap());
    let templates = TemplateSet::load_dir(repo().join("config/templates")).unwrap();
    let font = KioskFont::load(kiosk_render::DEFAULT_FONT_PATH).unwrap();
    let renderer = Arc::new(Renderer::new(font, templates.clone()).unwrap());
    let net = Arc::new(FakeNetwork::new(templates, &catalog));
    let world = Arc::new(Mutex::new(World {
        hoppers: [(Coin::W100, 100_000)].into_iter().collect(),
        ..World::default()
    }));
    let queue = Kiosk::<FakeHardware, FakeNetwork>::queue();
    let hw = FakeHardware::new(queue.0.clone(), world.clone());
    let settings = Settings {
        kiosk_id: "KIOSK-BENCH-01".into(),
        site: "bench".into(),
        session: SessionConfig::default(),
        schedule: Schedule {
            hours: Hours::Always,
            restart: RestartWindow {
                at: ClockTime::new(2, 0).unwrap(),
                window_min: 0,
                drain_min: 0,
            },
        },
        hopper_coins: vec![Coin::W100],
        where_else: vec![],
        linger_ms: 60_000,
        accessibility: Default::default(),
    };
    let (k, rx, handle) = Kiosk::new(
        Parts {
            settings,
            ledger,
            catalog,
            renderer,
            signing: Arc::new(demo_signing_key(1)),
            hw,
            net,
            clock: Arc::new(SystemClock::new()) as Arc<dyn Clock>,
            metrics: Arc::new(Metrics::new()),
        },
        queue,
    )
    .unwrap();
    tokio::spawn(k.run(rx));
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        handle.call(ApiRequest::Begin).await.unwrap();
        handle
            .call(ApiRequest::Add {
                code: "LAND-PRICE".into(),
                copies: 1,
                options: BTreeMap::new(),
                address: Some("서초동 1".into()),
            })
            .await
            .unwrap();
        handle.call(ApiRequest::Confirm).await.unwrap();
        let mut view = handle.view.clone();
        loop {
            if view
                .borrow_and_update()
                .session
                .as_ref()
                .is_some_and(|s| s.state == "awaiting-payment")
            {
                break;
            }
            view.changed().await.unwrap();
        }
        let before = world.lock().unwrap().print_times.len();
        let due = view.borrow().session.as_ref().unwrap().due;
        let coins = due.div_ceil(100);
        for _ in 1..coins {
            let coin = world.lock().unwrap().coin(Coin::W100);
            handle.tx.send(Msg::Input(coin)).await.unwrap();
        }
        let paid = Instant::now();
        let coin = world.lock().unwrap().coin(Coin::W100);
        handle.tx.send(Msg::Input(coin)).await.unwrap();
        loop {
            if view
                .borrow_and_update()
                .session
                .as_ref()
                .is_some_and(|s| s.ended.is_some())
            {
                break;
            }
            view.changed().await.unwrap();
        }
        let printed = world.lock().unwrap().print_times[before];
        latencies.push(printed - paid);
        handle.call(ApiRequest::Finish).await.unwrap();
    }
    let total = started.elapsed();
    println!(
        "{n} sessions in {:.2} s: {:.0} sessions/s; paid -> print job submitted: p50 {:?}, p99 {:?}, max {:?}",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        pct(&mut latencies, 0.5),
        pct(&mut latencies, 0.99),
        pct(&mut latencies, 1.0)
    );
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn cold_start(runs: usize) {
    let Ok(bins) = Bins::beside_me() else {
        println!("cold start: skipped (build the workspace in release first)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = Stack::start(
        StackOptions::new(dir.path().to_path_buf(), repo().canonicalize().unwrap()),
        bins,
    )
    .await
    .unwrap();
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        s.start_daemon().await.unwrap();
        times.push(t.elapsed());
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss.push(rss_kib(s.daemon_pid().unwrap()).unwrap_or(0));
        s.stop_daemon().await.unwrap();
    }
    rss.sort();
    println!(
        "cold start to ready (process start to the ready line), {runs} runs: median {:?}, max {:?}; idle RSS median {} KiB",
        pct(&mut times, 0.5),
        pct(&mut times, 1.0),
        rss[rss.len() / 2]
    );
    s.stop().await.unwrap();
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` must not run the long version.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sessions(if quick { 20 } else { 1000 }).await;
        if !quick {
            cold_start(10).await;
        }
    });
}
