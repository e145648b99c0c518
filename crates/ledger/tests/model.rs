//! Property: any sequence of valid transfers and pending operations keeps `verify`
//! passing and the balances equal to a plain in-memory model.
#![allow(clippy::unwrap_used)]

use kiosk_core::{Account, Coin, Note, Transfer, TransferCode};
use kiosk_ledger::{Entry, IdempotencyKey, Ledger, LedgerError, Op, Outcome, Resolve};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn accounts() -> Vec<Account> {
    vec![
        Account::Hopper(Coin::W100),
        Account::Hopper(Coin::W500),
        Account::Stacker(Note::W1000),
        Account::Escrow,
        Account::SessionCredit,
        Account::DistrictSafe,
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Post {
        d: usize,
        c: usize,
        amount: u64,
    },
    Pending {
        d: usize,
        c: usize,
        amount: u64,
    },
    Resolve {
        pick: usize,
        post: bool,
    },
    Batch(Vec<(usize, usize, u64)>),
    /// A device event with one of a few keys: booked the first time, a duplicate after.
    Keyed {
        key: u8,
        d: usize,
        c: usize,
        amount: u64,
    },
    /// Staff count an account; the difference goes to the unit's discrepancy account.
    Count {
        a: usize,
        counted: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..6usize, 0..6usize, 1..100_000u64).prop_map(|(d, c, amount)| Step::Post { d, c, amount }),
        2 => (0..6usize, 0..6usize, 1..100_000u64).prop_map(|(d, c, amount)| Step::Pending { d, c, amount }),
        2 => (0..8usize, any::<bool>()).prop_map(|(pick, post)| Step::Resolve { pick, post }),
        1 => proptest::collection::vec((0..6usize, 0..6usize, 1..1_000u64), 1..6).prop_map(Step::Batch),
        2 => (0..4u8, 0..6usize, 0..6usize, 1..100_000u64).prop_map(|(key, d, c, amount)| Step::Keyed { key, d, c, amount }),
        1 => (0..6usize, 0..200_000i64).prop_map(|(a, counted)| Step::Count { a, counted }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn ledger_matches_a_simple_model(steps in proptest::collection::vec(step(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path().join("m.db")).unwrap();
        let acc = accounts();
        let mut posted: BTreeMap<String, i64> = BTreeMap::new();
        let mut open: Vec<(u64, String, String, i64)> = Vec::new();
        let mut resolved: BTreeSet<u64> = BTreeSet::new();
        let mut keys: BTreeMap<u8, u64> = BTreeMap::new();
        let discrepancy = Account::Discrepancy(kiosk_core::Unit::Krw).to_string();
        let transfer = |d: usize, c: usize, amount: u64| {
            Transfer::new(acc[d].clone(), acc[c].clone(), amount, TransferCode::Fee).ok()
        };
        for s in steps {
            match s {
                Step::Post { d, c, amount } => {
                    let Some(t) = transfer(d, c, amount) else { continue };
                    l.post(Entry::new(t, 0)).unwrap();
                    *posted.entry(acc[d].to_string()).or_default() += amount as i64;
                    *posted.entry(acc[c].to_string()).or_default() -= amount as i64;
                }
                Step::Pending { d, c, amount } => {
                    let Some(t) = transfer(d, c, amount) else { continue };
                    let seq = l.pending(Entry::new(t, 0)).unwrap().seq();
                    open.push((seq, acc[d].to_string(), acc[c].to_string(), amount as i64));
                }
                Step::Resolve { pick, post } => {
                    if let Some(&done) = resolved.iter().nth(pick) {
                        // Resolving twice is always refused and changes nothing.
                        let r = if post { l.post_pending(Resolve::Seq(done), 0) } else { l.void_pending(Resolve::Seq(done), 0) };
                        let refused = matches!(r, Err(LedgerError::AlreadyResolved { .. }));
                        prop_assert!(refused);
                    }
                    if open.is_empty() { continue }
                    let (seq, d, c, a) = open.remove(pick % open.len());
                    if post {
                        l.post_pending(Resolve::Seq(seq), 0).unwrap();
                        *posted.entry(d).or_default() += a;
                        *posted.entry(c).or_default() -= a;
                    } else {
                        l.void_pending(Resolve::Seq(seq), 0).unwrap();
                    }
                    resolved.insert(seq);
                }
                Step::Keyed { key, d, c, amount } => {
                    let Some(t) = transfer(d, c, amount) else { continue };
                    let k = IdempotencyKey::device_event("coin", "P1", key.into()).unwrap();
                    let out = l.post(Entry::new(t, 0).key(k)).unwrap();
                    match keys.get(&key) {
                        Some(&seq) => prop_assert_eq!(out, Outcome::Duplicate(seq)),
                        None => {
                            let Outcome::Booked(seq) = out else {
                                return Err(TestCaseError::fail(format!("{out:?}")));
                            };
                            keys.insert(key, seq);
                            *posted.entry(acc[d].to_string()).or_default() += amount as i64;
                            *posted.entry(acc[c].to_string()).or_default() -= amount as i64;
                        }
                    }
                }
                Step::Count { a, counted } => {
                    let name = acc[a].to_string();
                    let booked = posted.get(&name).copied().unwrap_or(0);
                    let (diff, seq) = l.record_count(&acc[a], counted, 0).unwrap();
                    prop_assert_eq!(diff, counted - booked);
                    prop_assert_eq!(seq.is_some(), diff != 0);
                    if diff != 0 {
                        posted.insert(name, counted);
                        *posted.entry(discrepancy.clone()).or_default() -= diff;
                    }
                }
                Step::Batch(items) => {
                    let ops: Vec<Op> = items.iter().filter_map(|&(d, c, a)| transfer(d, c, a).map(|t| Op::Post(Entry::new(t, 0)))).collect();
                    l.apply(&ops).unwrap();
                    for &(d, c, a) in &items {
                        if transfer(d, c, a).is_some() {
                            *posted.entry(acc[d].to_string()).or_default() += a as i64;
                            *posted.entry(acc[c].to_string()).or_default() -= a as i64;
                        }
                    }
                }
            }
        }
        l.verify().unwrap();
        let balances = l.balances().unwrap();
        for unit in ["krw", "sheets"] {
            let sum: i64 = balances.iter().filter(|b| b.unit == unit).map(|b| b.posted).sum();
            prop_assert_eq!(sum, 0, "{}", unit);
        }
        for b in balances {
            prop_assert_eq!(b.posted, posted.get(&b.account).copied().unwrap_or(0), "{}", b.account);
            let dp: i64 = open.iter().filter(|o| o.1 == b.account).map(|o| o.3).sum();
            let cp: i64 = open.iter().filter(|o| o.2 == b.account).map(|o| o.3).sum();
            prop_assert_eq!((b.debits_pending, b.credits_pending), (dp, cp), "{}", b.account);
        }
        prop_assert_eq!(l.open_pending().unwrap().len(), open.len());
    }
}
