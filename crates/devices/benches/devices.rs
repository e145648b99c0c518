//! `cargo bench -p kiosk-devices`: the latency from a coin dropped into the simulated
//! acceptor to the driver's credit event, and the CPU the idle poll loops of a whole
//! kiosk's devices use. Prints figures for docs/BENCHMARKS.md.
#![allow(clippy::unwrap_used, missing_docs)]

use kiosk_core::Coin;
use kiosk_devices::api::QueueSizes;
use kiosk_devices::cctalk::acceptor::{
    self, AcceptorCommand, AcceptorConfig, AcceptorEvent, MemoryCounterStore,
};
use kiosk_devices::cctalk::frame::ChecksumKind;
use kiosk_devices::cctalk::hopper::{self, HopperConfig, HopperEvent};
use kiosk_devices::escpos::printer::{self, ReceiptEvent, ReceiptPrinterConfig};
use kiosk_devices::link::SerialLink;
use kiosk_devices::sim::cctalk::SimLine;
use kiosk_devices::sim::{CoinAcceptorSim, HopperSim, ReceiptPrinterSim, ValidatorSim};
use kiosk_devices::ssp::validator::{self, NoteEvent, ValidatorConfig};
use std::time::{Duration, Instant};

const COINS: usize = 40;
const IDLE: Duration = Duration::from_secs(20);

fn line(address: u8) -> SimLine {
    SimLine {
        address,
        checksum: ChecksumKind::Simple,
        echo: false,
    }
}

/// CPU ticks per thread name, summed: simulator threads are named `device-sim`.
fn cpu_by_thread() -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        *out.entry(name.trim().to_owned()).or_default() += ticks;
    }
    out
}

/// CPU time (user + system) of this process, from /proc, in clock ticks of 10 ms.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime
    // the 13th of those.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

async fn latency() -> Vec<Duration> {
    let (sim, host) = CoinAcceptorSim::spawn(line(2)).unwrap();
    let (h, mut rx) = acceptor::spawn(
        SerialLink::new(host),
        AcceptorConfig::default(), // 150 ms poll, as shipped
        Box::new(MemoryCounterStore::new()),
        QueueSizes::default(),
    );
    while !matches!(rx.recv().await.unwrap().body, AcceptorEvent::Ready { .. }) {}
    h.call(AcceptorCommand::Enable).await.unwrap();
    let mut out = Vec::with_capacity(COINS);
    let mut x: u64 = 12345; // a fixed pseudo-random spread of insertion moments
    for _ in 0..COINS {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis((x >> 33) % 300)).await;
        let t0 = Instant::now();
        sim.insert_coin(Coin::W100);
        loop {
            if let AcceptorEvent::CoinCredited { .. } = rx.recv().await.unwrap().body {
                break;
            }
        }
        out.push(t0.elapsed());
    }
    out
}

async fn idle_cpu() -> (f64, u64, f64) {
    let (_a, host) = CoinAcceptorSim::spawn(line(2)).unwrap();
    let (_ah, mut arx) = acceptor::spawn(
        SerialLink::new(host),
        AcceptorConfig::default(),
        Box::new(MemoryCounterStore::new()),
        QueueSizes::default(),
    );
    let mut hoppers = Vec::new();
    for (addr, coin) in [(3u8, Coin::W100), (4, Coin::W500)] {
        let (sim, host) = HopperSim::spawn(
            line(addr),
            coin,
            500,
            Default::default(),
            Duration::from_millis(5),
        )
        .unwrap();
        let mut cfg = HopperConfig::new(addr, coin);
        cfg.bus.echo = false;
        cfg.initial = 500;
        let (h, rx) = hopper::spawn(SerialLink::new(host), cfg, QueueSizes::default());
        hoppers.push((sim, h, rx));
    }
    let (_v, host) = ValidatorSim::spawn(0).unwrap();
    let (_vh, mut vrx) = validator::spawn(
        SerialLink::new(host),
        ValidatorConfig::default(),
        QueueSizes::default(),
    );
    let pcfg = ReceiptPrinterConfig::default();
    let (_p, host) = ReceiptPrinterSim::spawn(pcfg.model).unwrap();
    let (_ph, mut prx) = printer::spawn(SerialLink::new(host), pcfg, QueueSizes::default());
    while !matches!(arx.recv().await.unwrap().body, AcceptorEvent::Ready { .. }) {}
    for (_, _, rx) in &mut hoppers {
        while !matches!(rx.recv().await.unwrap().body, HopperEvent::Ready { .. }) {}
    }
    while !matches!(vrx.recv().await.unwrap().body, NoteEvent::Ready(_)) {}
    while !matches!(prx.recv().await.unwrap().body, ReceiptEvent::Ready(_)) {}
    // Drain events while idle so no queue fills up.
    let drain = tokio::spawn(async move {
        loop {
            tokio::select! {
                e = arx.recv() => if e.is_none() { break },
                e = vrx.recv() => if e.is_none() { break },
                e = prx.recv() => if e.is_none() { break },
            }
        }
    });
    let t0 = Instant::now();
    let c0 = cpu_ticks();
    let s0 = cpu_by_thread().get("device-sim").copied().unwrap_or(0);
    tokio::time::sleep(IDLE).await;
    let ticks = cpu_ticks() - c0;
    let sim_ticks = cpu_by_thread()
        .get("device-sim")
        .copied()
        .unwrap_or(0)
        .saturating_sub(s0);
    let wall = t0.elapsed().as_secs_f64();
    drain.abort();
    let pct = |t: u64| t as f64 * 0.01 / wall * 100.0;
    (pct(ticks), ticks, pct(ticks.saturating_sub(sim_ticks)))
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut l = rt.block_on(latency());
    l.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "coin inserted -> credit event, 150 ms poll, {COINS} coins: median {:.1} ms, p95 {:.1} ms, max {:.1} ms (goal <= 170 ms)",
        ms(l[COINS / 2]),
        ms(l[COINS * 95 / 100]),
        ms(l[COINS - 1])
    );
    let (pct, ticks, drivers) = rt.block_on(idle_cpu());
    println!(
        "idle kiosk (acceptor, 2 hoppers, validator, receipt printer) for {}s: whole process {pct:.2}% of one core ({ticks} ticks of 10 ms); without the simulator threads {drivers:.2}% (goal < 1%)",
        IDLE.as_secs()
    );
}
