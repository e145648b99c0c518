//! Crash safety: a writer is SIGKILLed at random moments, 200 times, on one database.
//! After every kill the ledger opens, verifies, and holds every entry the writer had
//! reported as committed.
#![allow(clippy::unwrap_used)]

mod common;

use kiosk_core::{Coin, Note};
use kiosk_ledger::{IdempotencyKey, Ledger, Op, Resolve};
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "KIOSK_LEDGER_CRASH_WRITER_DB";
const KILLS: u32 = 200;

/// The writer: appends in a loop (single entries, session-sized batches with escrow
/// posted and voided) and prints each committed sequence number after commit returns.
/// Without the environment variable this test does nothing.
#[test]
fn crash_writer_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut l = Ledger::open(&path).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(std::process::id().into());
    let mut stdout = std::io::stdout().lock();
    let base = l.last_seq().unwrap();
    for i in 0u64.. {
        let ops = match rng.random_range(0..3) {
            0 => vec![Op::Post(common::coin(Coin::W100, i as i64))],
            1 => {
                let key = format!("escrow:{base}:{i}");
                vec![
                    Op::Post(common::coin(Coin::W500, i as i64)),
                    Op::Pending(common::escrow(Note::W1000, &key)),
                    Op::PostPending {
                        pending: Resolve::Key(IdempotencyKey::new(&key).unwrap()),
                        at_ms: 0,
                    },
                    Op::Post(common::paper_load(2)),
                ]
            }
            _ => {
                let key = format!("escrow:{base}:{i}");
                vec![
                    Op::Pending(common::escrow(Note::W5000, &key)),
                    Op::VoidPending {
                        pending: Resolve::Key(IdempotencyKey::new(&key).unwrap()),
                        at_ms: 0,
                    },
                ]
            }
        };
        let out = l.apply(&ops).unwrap();
        use std::io::Write;
        for o in out {
            writeln!(stdout, "{}", o.seq()).unwrap();
        }
        stdout.flush().unwrap();
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    drop(Ledger::open(&path).unwrap());
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x004B_105C);
    let mut reported_max = 0u64;
    let mut total_reported = 0u64;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read what the child reports while it runs; kill it after a random delay.
        let reader = std::thread::spawn(move || {
            let mut seqs = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(s) = line.trim().parse::<u64>() {
                    seqs.push(s);
                }
            }
            seqs
        });
        std::thread::sleep(Duration::from_micros(rng.random_range(2_000..40_000)));
        // SIGKILL: no destructor, no flush, no chance to finish the transaction.
        child.kill().unwrap();
        child.wait().unwrap();
        let seqs = reader.join().unwrap();
        let l = Ledger::open(&path).unwrap_or_else(|e| panic!("round {round}: reopen: {e}"));
        let report = l
            .verify()
            .unwrap_or_else(|e| panic!("round {round}: verify: {e}"));
        if let Some(&max) = seqs.iter().max() {
            assert!(
                report.last_seq >= max,
                "round {round}: committed {max} but ledger ends at {}",
                report.last_seq
            );
            reported_max = reported_max.max(max);
        }
        total_reported += seqs.len() as u64;
        // Every reported entry is there, and the chain is gap-free up to it.
        let entries = l
            .entries_since(seqs.first().map_or(0, |s| s - 1), seqs.len())
            .unwrap();
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            seqs,
            "round {round}"
        );
        assert!(
            l.open_pending().unwrap().is_empty(),
            "round {round}: a pending escrow left open"
        );
    }
    assert!(
        total_reported > u64::from(KILLS),
        "the writer barely wrote: {total_reported}"
    );
    let l = Ledger::open(&path).unwrap();
    assert!(l.last_seq().unwrap() >= reported_max);
}
