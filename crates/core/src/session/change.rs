//! Change making over the hoppers' coin levels.
//!
//! The kiosk may only keep a note when it can still pay the exact change, so the question
//! "can these hoppers pay exactly this amount?" is asked on every escrowed note, and the
//! payout plan decides which hopper dispenses how many coins.
//!
//! The won coins (10, 50, 100, 500) form a divisibility chain: each coin divides every
//! larger one. For such a chain, taking as many of the largest coin as fit (within the
//! hopper's level) and continuing downwards is exact even with limited coins: whenever some
//! selection of smaller coins is worth at least one larger coin, a sub-selection of it is
//! worth exactly that coin (sorted largest first, the running sum stays a multiple of the
//! next coin and cannot step over the larger one), so trading it for the larger coin never
//! loses. Hence the greedy plan pays the largest amount not above the target, pays the
//! target exactly whenever any selection does, and uses the fewest coins. The exhaustive
//! tests below check this claim against brute force.

use crate::money::{Coin, Won};
use serde::{Deserialize, Serialize};

const fn slot(coin: Coin) -> usize {
    match coin {
        Coin::W10 => 0,
        Coin::W50 => 1,
        Coin::W100 => 2,
        Coin::W500 => 3,
    }
}

/// The change hoppers (호퍼) a kiosk has and how many coins each holds.
///
/// Exists because which coins have a hopper decides where an inserted coin is booked
/// (`Hopper(coin)` or `Cashbox`), and the levels decide what change can be paid. A coin
/// without a hopper has level `None`; its coins go to the cash box and are never paid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hoppers {
    levels: [Option<u32>; 4],
}

impl Hoppers {
    /// A kiosk without any hopper: it cannot pay change at all.
    pub const NONE: Hoppers = Hoppers { levels: [None; 4] };

    /// These hoppers with a hopper for `coin` holding `count` coins (builder style).
    #[must_use]
    pub const fn with(mut self, coin: Coin, count: u32) -> Hoppers {
        self.levels[slot(coin)] = Some(count);
        self
    }

    /// The level of `coin`'s hopper, or `None` when that coin has no hopper.
    pub const fn level(&self, coin: Coin) -> Option<u32> {
        self.levels[slot(coin)]
    }

    /// Whether `coin` has a hopper (and so is booked to it and can be paid out).
    pub const fn has_hopper(&self, coin: Coin) -> bool {
        self.levels[slot(coin)].is_some()
    }

    /// Coins of `coin` available to pay out: the level, or 0 without a hopper.
    pub const fn available(&self, coin: Coin) -> u32 {
        match self.levels[slot(coin)] {
            Some(n) => n,
            None => 0,
        }
    }

    /// Adds `n` coins to `coin`'s hopper; does nothing when there is no such hopper.
    pub fn add(&mut self, coin: Coin, n: u32) {
        if let Some(level) = &mut self.levels[slot(coin)] {
            *level = level.saturating_add(n);
        }
    }

    /// Removes up to `n` coins from `coin`'s hopper (floored at zero).
    pub fn take(&mut self, coin: Coin, n: u32) {
        if let Some(level) = &mut self.levels[slot(coin)] {
            *level = level.saturating_sub(n);
        }
    }

    /// Marks `coin`'s hopper as empty (it reported unpaid coins: it ran dry).
    pub fn run_dry(&mut self, coin: Coin) {
        if let Some(level) = &mut self.levels[slot(coin)] {
            *level = 0;
        }
    }
}

/// A number of coins of each denomination: a payout plan, or what a hopper paid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CoinCounts {
    counts: [u32; 4],
}

impl CoinCounts {
    /// No coins.
    pub const EMPTY: CoinCounts = CoinCounts { counts: [0; 4] };

    /// These counts with `count` coins of `coin` (builder style).
    #[must_use]
    pub const fn with(mut self, coin: Coin, count: u32) -> CoinCounts {
        self.counts[slot(coin)] = count;
        self
    }

    /// How many coins of `coin`.
    pub const fn count(&self, coin: Coin) -> u32 {
        self.counts[slot(coin)]
    }

    /// Total number of coins.
    pub fn coins(&self) -> u64 {
        self.counts.iter().map(|&n| u64::from(n)).sum()
    }

    /// Whether there are no coins at all.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&n| n == 0)
    }

    /// The value of all the coins. Cannot overflow: at most 4 × u32::MAX × 500 won.
    pub fn total(&self) -> Won {
        Won::new(
            Coin::ALL
                .iter()
                .map(|&c| u64::from(self.count(c)) * c.value().get())
                .sum(),
        )
    }

    /// `(coin, count)` for every coin with a non-zero count, smallest coin first.
    pub fn iter(&self) -> impl Iterator<Item = (Coin, u32)> + '_ {
        Coin::ALL
            .iter()
            .map(|&c| (c, self.count(c)))
            .filter(|&(_, n)| n > 0)
    }
}

/// The payout that pays as much of `amount` as the hoppers can without exceeding it, with
/// the fewest coins.
///
/// Used when change or a refund must be paid whatever happens: what this plan cannot cover
/// (`amount - plan.total()`) becomes an IOU. Never plans more coins than a hopper holds and
/// never plans a coin that has no hopper.
pub fn plan_payout(amount: Won, hoppers: &Hoppers) -> CoinCounts {
    let mut left = amount.get();
    let mut plan = CoinCounts::EMPTY;
    for &coin in Coin::ALL.iter().rev() {
        let value = coin.value().get();
        let fit = left / value;
        let take = fit.min(u64::from(hoppers.available(coin)));
        // `take <= available`, which is a u32.
        let take32 = u32::try_from(take).unwrap_or(u32::MAX);
        plan = plan.with(coin, take32);
        left -= u64::from(take32) * value;
    }
    plan
}

/// The exact change for `amount` from these hoppers, with the fewest coins, or `None` when
/// no selection of the available coins adds up to exactly `amount`.
///
/// This is the test the kiosk applies before it keeps (stacks) a note: a note is kept only
/// when the change it creates can be paid exactly. `make_change(Won::ZERO, _)` is always
/// `Some(empty)`.
pub fn make_change(amount: Won, hoppers: &Hoppers) -> Option<CoinCounts> {
    let plan = plan_payout(amount, hoppers);
    (plan.total() == amount).then_some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every sum reachable from the given levels, with the fewest coins reaching it.
    fn brute_force(levels: [u32; 4]) -> std::collections::BTreeMap<u64, u64> {
        let mut best = std::collections::BTreeMap::new();
        for a in 0..=levels[0] {
            for b in 0..=levels[1] {
                for c in 0..=levels[2] {
                    for d in 0..=levels[3] {
                        let sum = u64::from(a) * 10
                            + u64::from(b) * 50
                            + u64::from(c) * 100
                            + u64::from(d) * 500;
                        let n = u64::from(a + b + c + d);
                        best.entry(sum)
                            .and_modify(|m: &mut u64| *m = (*m).min(n))
                            .or_insert(n);
                    }
                }
            }
        }
        best
    }

    fn hoppers_of(levels: [u32; 4]) -> Hoppers {
        let mut h = Hoppers::NONE;
        for (i, &c) in Coin::ALL.iter().enumerate() {
            h = h.with(c, levels[i]);
        }
        h
    }

    /// Exhaustive over every level 0..=4 per coin and every amount in 10-won steps up to
    /// the largest reachable sum plus a margin, and some amounts that are not multiples of
    /// 10: greedy agrees with brute force on feasibility, maximal payout and coin count.
    #[test]
    fn greedy_matches_brute_force_exhaustively() {
        const MAX: u32 = 4;
        let mut checked = 0u64;
        for a in 0..=MAX {
            for b in 0..=MAX {
                for c in 0..=MAX {
                    for d in 0..=MAX {
                        let levels = [a, b, c, d];
                        let h = hoppers_of(levels);
                        let best = brute_force(levels);
                        let top = *best.keys().last().unwrap_or(&0) + 600;
                        let amounts = (0..=top / 10).map(|k| k * 10).chain([5, 15, 155, 2_505]);
                        for amount in amounts {
                            let plan = plan_payout(Won::new(amount), &h);
                            // Never plans more than the hoppers hold.
                            for (i, &coin) in Coin::ALL.iter().enumerate() {
                                assert!(plan.count(coin) <= levels[i]);
                            }
                            // Pays the largest reachable sum not above the amount.
                            let max_reach = *best
                                .range(..=amount)
                                .next_back()
                                .map(|(k, _)| k)
                                .unwrap_or(&0);
                            assert_eq!(
                                plan.total().get(),
                                max_reach,
                                "levels {levels:?} amount {amount}"
                            );
                            match (make_change(Won::new(amount), &h), best.get(&amount)) {
                                (Some(p), Some(&n)) => {
                                    assert_eq!(p.total().get(), amount);
                                    assert_eq!(
                                        p.coins(),
                                        n,
                                        "fewest coins for {amount} from {levels:?}"
                                    );
                                }
                                (None, None) => {}
                                (got, want) => {
                                    panic!("levels {levels:?} amount {amount}: {got:?} vs {want:?}")
                                }
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 100_000);
    }

    #[test]
    fn coins_without_a_hopper_are_never_planned() {
        let h = Hoppers::NONE.with(Coin::W100, 10).with(Coin::W10, 9);
        assert_eq!(
            make_change(Won::new(500), &h),
            Some(CoinCounts::EMPTY.with(Coin::W100, 5))
        );
        assert_eq!(
            make_change(Won::new(50), &h),
            Some(CoinCounts::EMPTY.with(Coin::W10, 5))
        );
        assert_eq!(make_change(Won::new(100_000), &h), None);
        assert_eq!(make_change(Won::new(5), &h), None);
        assert_eq!(
            make_change(Won::ZERO, &Hoppers::NONE),
            Some(CoinCounts::EMPTY)
        );
        assert_eq!(make_change(Won::new(10), &Hoppers::NONE), None);
        assert_eq!(
            plan_payout(Won::new(1_000), &Hoppers::NONE),
            CoinCounts::EMPTY
        );
    }

    #[test]
    fn hopper_levels_move_only_where_a_hopper_exists() {
        let mut h = Hoppers::NONE.with(Coin::W500, 2);
        h.add(Coin::W500, 3);
        h.add(Coin::W100, 3);
        assert_eq!(h.level(Coin::W500), Some(5));
        assert_eq!(h.level(Coin::W100), None);
        h.take(Coin::W500, 7);
        assert_eq!(h.level(Coin::W500), Some(0));
        h.add(Coin::W500, 4);
        h.run_dry(Coin::W500);
        assert_eq!(h.available(Coin::W500), 0);
        assert!(h.has_hopper(Coin::W500));
        assert!(!h.has_hopper(Coin::W10));
    }

    proptest! {
        /// Large levels and amounts: the plan never exceeds the amount or the levels, and
        /// a remainder is left only when no available coin fits into it.
        #[test]
        fn plan_is_maximal_and_bounded(
            levels in proptest::array::uniform4(proptest::option::of(0u32..2_000)),
            amount in 0u64..2_000_000,
        ) {
            let mut h = Hoppers::NONE;
            for (i, &c) in Coin::ALL.iter().enumerate() {
                if let Some(n) = levels[i] { h = h.with(c, n); }
            }
            let plan = plan_payout(Won::new(amount), &h);
            prop_assert!(plan.total().get() <= amount);
            for c in Coin::ALL {
                prop_assert!(plan.count(c) <= h.available(c));
            }
            let left = amount - plan.total().get();
            for c in Coin::ALL {
                // A coin still in its hopper that fits into the remainder would mean the
                // plan does not pay as much as it could.
                if h.available(c) > plan.count(c) {
                    prop_assert!(c.value().get() > left, "{c:?} left unused for a remainder of {left}");
                }
            }
            match make_change(Won::new(amount), &h) {
                Some(p) => prop_assert_eq!(p.total().get(), amount),
                None => prop_assert!(left > 0),
            }
        }
    }
}
