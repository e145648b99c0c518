//! `cargo bench -p kiosk-ledger`: durable commits against the raw fdatasync rate, batched
//! session commits, and `verify` on a million entries. Prints figures for
//! docs/BENCHMARKS.md. Set `LEDGER_BENCH_DIR` to measure another disk.
#![allow(clippy::unwrap_used, missing_docs)]

use kiosk_core::{Account, Coin, Note, Transfer, TransferCode};
use kiosk_ledger::{Entry, IdempotencyKey, Ledger, Op, Resolve};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

const SINGLE: u32 = 4_000;
const ROUNDS: u32 = 9;
const SESSIONS: u32 = 1_000;
const VERIFY_ENTRIES: u64 = 1_000_000;

fn coin(i: u64) -> Entry {
    Entry::new(
        Transfer::new(
            Account::Hopper(Coin::W100),
            Account::SessionCredit,
            100,
            TransferCode::CoinInserted,
        )
        .unwrap(),
        i as i64,
    )
}

/// The raw baseline: overwrite one 4 KiB block of a pre-allocated file, fdatasync.
struct Raw {
    file: std::fs::File,
    i: u64,
}

impl Raw {
    const SLOTS: u64 = 256;

    fn new(dir: &Path) -> Raw {
        let path = dir.join("raw.bin");
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        for i in 0..Self::SLOTS {
            file.write_at(&[0xA5u8; 4096], i * 4096).unwrap();
        }
        file.sync_all().unwrap();
        Raw { file, i: 0 }
    }

    fn rate(&mut self, n: u32) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            self.file
                .write_at(&[0x5Au8; 4096], (self.i % Self::SLOTS) * 4096)
                .unwrap();
            self.file.sync_data().unwrap();
            self.i += 1;
        }
        f64::from(n) / start.elapsed().as_secs_f64()
    }
}

fn ledger_rate(l: &mut Ledger, n: u32) -> f64 {
    let start = Instant::now();
    for i in 0..u64::from(n) {
        l.post(coin(i)).unwrap();
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Raw and ledger rates measured in alternating rounds, so that a noisy neighbour on a
/// shared disk hits both alike; returns the medians.
fn single_commit_vs_raw(dir: &Path) -> (f64, f64) {
    let mut raw = Raw::new(dir);
    let mut l = Ledger::open(dir.join("single.db")).unwrap();
    ledger_rate(&mut l, 100); // warm up: schema pages, statement cache
    raw.rate(100);
    let (mut r, mut s) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        r.push(raw.rate(SINGLE / ROUNDS));
        s.push(ledger_rate(&mut l, SINGLE / ROUNDS));
    }
    (median(r), median(s))
}

/// A typical paid session: coins, a note through escrow, fee, pages, change.
fn session_ops(s: u64) -> Vec<Op> {
    let key = IdempotencyKey::new(&format!("escrow:{s}:0")).unwrap();
    let t = |d, c, a, code| Entry::new(Transfer::new(d, c, a, code).unwrap(), s as i64);
    let rev = Account::Revenue(kiosk_core::DocCode::new("RES-COPY").unwrap());
    vec![
        Op::Post(coin(s)),
        Op::Pending(
            t(
                Account::Escrow,
                Account::SessionCredit,
                1000,
                TransferCode::NoteEscrowed,
            )
            .key(key.clone()),
        ),
        Op::PostPending {
            pending: Resolve::Key(key),
            at_ms: s as i64,
        },
        Op::Post(t(
            Account::Stacker(Note::W1000),
            Account::Escrow,
            1000,
            TransferCode::NoteStacked,
        )),
        Op::Post(t(Account::SessionCredit, rev, 200, TransferCode::Fee)),
        Op::Post(t(
            Account::Printed,
            Account::PaperTray,
            1,
            TransferCode::SheetPrinted,
        )),
        Op::Post(t(
            Account::SessionCredit,
            Account::Hopper(Coin::W500),
            500,
            TransferCode::ChangePaid,
        )),
        Op::Post(t(
            Account::SessionCredit,
            Account::Hopper(Coin::W100),
            400,
            TransferCode::ChangePaid,
        )),
    ]
}

fn batched_rate(dir: &Path) -> (f64, usize) {
    let mut l = Ledger::open(dir.join("batched.db")).unwrap();
    let per = session_ops(0).len();
    let start = Instant::now();
    for s in 0..u64::from(SESSIONS) {
        l.apply(&session_ops(s)).unwrap();
    }
    (f64::from(SESSIONS) / start.elapsed().as_secs_f64(), per)
}

fn verify_time(dir: &Path) -> (f64, f64) {
    let mut l = Ledger::open(dir.join("verify.db")).unwrap();
    let build = Instant::now();
    let batch = 10_000u64;
    let mut i = 0;
    while i < VERIFY_ENTRIES {
        let ops: Vec<Op> = (i..i + batch).map(|j| Op::Post(coin(j))).collect();
        l.apply(&ops).unwrap();
        i += batch;
    }
    let built = build.elapsed().as_secs_f64();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let r = l.verify().unwrap();
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(r.entries, VERIFY_ENTRIES);
    }
    (best, built)
}

fn main() {
    // cargo bench passes --bench; `cargo test --benches` passes nothing: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let base: PathBuf = std::env::var_os("LEDGER_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ledger-bench"));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    println!(
        "kiosk-ledger bench in {} ({} CPUs)",
        base.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (raw, single) = single_commit_vs_raw(&base);
    println!("raw overwrite+fdatasync:      {raw:>10.0} /s  (median of {ROUNDS} rounds)");
    println!(
        "ledger single-transfer commit:{single:>10.0} /s  (ratio {:.2})",
        single / raw
    );
    let (sessions, per) = batched_rate(&base);
    println!(
        "ledger session batches:       {sessions:>10.0} sessions/s ({per} entries each, {:.0} entries/s)",
        sessions * per as f64
    );
    let (verify, built) = verify_time(&base);
    println!("verify {VERIFY_ENTRIES} entries:     {verify:>10.3} s (built in {built:.1} s)");
    std::fs::remove_dir_all(&base).unwrap();
}
