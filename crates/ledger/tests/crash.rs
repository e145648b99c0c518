//! Crash safety: a writer is SIGKILLed at random moments, 200 times, on one database.
//! After every kill the ledger opens, verifies, and holds every entry the writer had
//! reported as committed, with the content the writer meant to book.
//!
//! The writer is this same test binary, re-executed with an environment variable that
//! makes `crash_writer_child` run the writer loop (without it, that test returns at once).
#![allow(clippy::unwrap_used)]

mod common;

use kiosk_core::{Coin, Note};
use kiosk_ledger::{Entry, IdempotencyKey, Ledger, Op, Outcome, Resolve, StoredEntry};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "KIOSK_LEDGER_CRASH_WRITER_DB";
const KILLS: u32 = 200;

/// What an entry must hold, as the writer meant it (not read back from the ledger):
/// kind, debit, credit, amount, code.
fn expect(kind: &str, e: &Entry) -> String {
    let t = &e.transfer;
    format!(
        "{kind} {} {} {} {}",
        t.debit(),
        t.credit(),
        t.amount(),
        t.code().as_str()
    )
}

/// The same line made from a stored entry, to compare with the writer's.
fn stored(e: &StoredEntry) -> String {
    format!(
        "{} {} {} {} {}",
        e.kind.as_str(),
        e.debit,
        e.credit,
        e.amount,
        e.code
    )
}

/// Applies `ops` and prints one line per newly booked entry, `<seq> <expectation>`,
/// right after the commit returned. One `write` per transaction, well under PIPE_BUF,
/// so a kill never leaves half a line.
fn book(l: &mut Ledger, ops: &[(Op, String)], out: &mut impl Write) {
    let just: Vec<Op> = ops.iter().map(|(op, _)| op.clone()).collect();
    let outcomes = l.apply(&just).unwrap();
    let mut text = String::new();
    for (o, (_, line)) in outcomes.iter().zip(ops) {
        if let Outcome::Booked(seq) = o {
            text.push_str(&format!("{seq} {line}\n"));
        }
    }
    out.write_all(text.as_bytes()).unwrap();
    out.flush().unwrap();
}

/// The writer: settles any escrow a previous kill left pending (as the daemon's start-up
/// recovery does), then appends forever: single entries, session-sized batches with
/// escrow posted or voided inside the batch, a pending entry and its resolution in two
/// separate transactions, and replayed device events.
#[test]
fn crash_writer_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut l = Ledger::open(&path).unwrap();
    let mut out = std::io::stdout().lock();
    let mut rng = rand::rngs::StdRng::seed_from_u64(std::process::id().into());
    for p in l.open_pending().unwrap() {
        let line = format!("void {} {} {} {}", p.debit, p.credit, p.amount, p.code);
        let op = Op::VoidPending {
            pending: Resolve::Seq(p.seq),
            at_ms: 0,
        };
        book(&mut l, &[(op, line)], &mut out);
    }
    // Keys are unique across runs: this run's first sequence number is part of them.
    let run = l.last_seq().unwrap();
    let key = |what: &str, i: u64| IdempotencyKey::new(&format!("{what}:{run}:{i}")).unwrap();
    for i in 0u64.. {
        let at = i as i64;
        match rng.random_range(0..5) {
            0 => {
                let e = common::coin(Coin::W100, at);
                book(
                    &mut l,
                    &[(Op::Post(e.clone()), expect("posted", &e))],
                    &mut out,
                );
            }
            1 => {
                let (c, esc, paper) = (
                    common::coin(Coin::W500, at),
                    common::escrow(Note::W1000, key("escrow", i).as_str()),
                    common::paper_load(2),
                );
                let post = Op::PostPending {
                    pending: Resolve::Key(key("escrow", i)),
                    at_ms: at,
                };
                book(
                    &mut l,
                    &[
                        (Op::Post(c.clone()), expect("posted", &c)),
                        (Op::Pending(esc.clone()), expect("pending", &esc)),
                        (post, expect("post", &esc)),
                        (Op::Post(paper.clone()), expect("posted", &paper)),
                    ],
                    &mut out,
                );
            }
            2 => {
                let esc = common::escrow(Note::W5000, key("escrow", i).as_str());
                let void = Op::VoidPending {
                    pending: Resolve::Key(key("escrow", i)),
                    at_ms: at,
                };
                book(
                    &mut l,
                    &[
                        (Op::Pending(esc.clone()), expect("pending", &esc)),
                        (void, expect("void", &esc)),
                    ],
                    &mut out,
                );
            }
            3 => {
                // Pending alone, then its resolution alone: a kill in between leaves it
                // open for the next writer's recovery.
                let esc = common::escrow(Note::W10000, key("escrow", i).as_str());
                book(
                    &mut l,
                    &[(Op::Pending(esc.clone()), expect("pending", &esc))],
                    &mut out,
                );
                let (kind, op) = if rng.random_bool(0.5) {
                    (
                        "post",
                        Op::PostPending {
                            pending: Resolve::Key(key("escrow", i)),
                            at_ms: at,
                        },
                    )
                } else {
                    (
                        "void",
                        Op::VoidPending {
                            pending: Resolve::Key(key("escrow", i)),
                            at_ms: at,
                        },
                    )
                };
                book(&mut l, &[(op, expect(kind, &esc))], &mut out);
            }
            _ => {
                // A device event, then its replay: booked once.
                let e = common::coin(Coin::W50, at).key(key("coin", i));
                book(
                    &mut l,
                    &[(Op::Post(e.clone()), expect("posted", &e))],
                    &mut out,
                );
                let again = l.post(e).unwrap();
                assert!(matches!(again, Outcome::Duplicate(_)), "{again:?}");
            }
        }
    }
}

/// Parses the writer's report; ignores anything that is not a whole report line.
fn parse(line: &str) -> Option<(u64, String)> {
    let (seq, rest) = line.split_once(' ')?;
    (rest.split(' ').count() == 5).then_some((seq.parse().ok()?, rest.to_owned()))
}

#[test]
fn sigkill_at_random_moments_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x004B_105C);
    let mut committed: BTreeMap<u64, String> = BTreeMap::new();
    let mut rounds_with_writes = 0;
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
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| parse(&l))
                .collect::<Vec<_>>()
        });
        // Early kills land in start-up, open and recovery; later ones mid-append.
        std::thread::sleep(Duration::from_micros(rng.random_range(1_000..45_000)));
        // SIGKILL: no destructor, no flush, no chance to finish the transaction.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let reported = reader.join().unwrap();
        assert!(
            !status.success(),
            "round {round}: the writer ended by itself (it should loop until killed)"
        );
        let l = Ledger::open(&path).unwrap_or_else(|e| panic!("round {round}: reopen: {e}"));
        let report = l
            .verify()
            .unwrap_or_else(|e| panic!("round {round}: verify: {e}"));
        if reported.is_empty() {
            continue;
        }
        rounds_with_writes += 1;
        // This round's entries: all there, contiguous, with the content meant.
        let first = reported[0].0;
        let found = l.entries_since(first - 1, reported.len()).unwrap();
        assert_eq!(found.len(), reported.len(), "round {round}: entries lost");
        for ((seq, want), e) in reported.iter().zip(&found) {
            assert_eq!((e.seq, &stored(e)), (*seq, want), "round {round}");
        }
        assert!(report.last_seq >= reported[reported.len() - 1].0);
        // A kill can leave at most the one pending entry booked alone unresolved.
        assert!(l.open_pending().unwrap().len() <= 1, "round {round}");
        for (seq, line) in reported {
            assert!(
                committed.insert(seq, line).is_none(),
                "round {round}: sequence {seq} reported twice"
            );
        }
    }
    // Every entry ever reported is still there as meant after all the later rounds.
    let l = Ledger::open(&path).unwrap();
    let all = l.entries_since(0, usize::MAX).unwrap();
    let by_seq: BTreeMap<u64, String> = all.iter().map(|e| (e.seq, stored(e))).collect();
    for (seq, want) in &committed {
        assert_eq!(by_seq.get(seq), Some(want), "entry {seq}");
    }
    // The kills must have landed mid-append often enough to mean something.
    assert!(
        rounds_with_writes >= KILLS / 4,
        "the writer rarely got to write: {rounds_with_writes} of {KILLS} rounds"
    );
    assert!(
        committed.len() >= KILLS as usize,
        "too few entries: {}",
        committed.len()
    );
    l.verify().unwrap();
    eprintln!(
        "{} entries reported over {rounds_with_writes} of {KILLS} rounds; ledger ends at {}",
        committed.len(),
        l.last_seq().unwrap()
    );
}
