//! The circuit breaker: after a run of failures a back end is declared down for a while,
//! so the kiosk says so at once instead of making a citizen wait for timeouts. Pure: the
//! caller passes the time, every transition is tested without waiting.

use std::time::{Duration, Instant};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failures_to_open: u32,
    /// How long it stays open before one trial call is let through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures_to_open: 3,
            open_for: Duration::from_secs(30),
        }
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` in a row so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// Calls fail fast until `until`.
    Open {
        /// When a trial call is allowed.
        until: Instant,
    },
    /// One trial call is in flight; its result closes or reopens the breaker.
    HalfOpen,
}

/// One breaker.
#[derive(Debug, Clone, Copy)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
}

impl Breaker {
    /// Closed.
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker {
            config,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    /// The state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may go out now; an open breaker past its time lets one trial call
    /// through (and turns half-open).
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }

    /// Whether calls would go through now (without claiming the trial call).
    pub fn is_available(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } => now >= until,
            BreakerState::HalfOpen => false,
        }
    }

    /// A call succeeded.
    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// A call failed in a way that counts (the back end, not the request).
    pub fn on_failure(&mut self, now: Instant) {
        self.state = match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.config.failures_to_open => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            _ => BreakerState::Open {
                until: now + self.config.open_for,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_fails_fast_then_tries_once() {
        let t0 = Instant::now();
        let cfg = BreakerConfig {
            failures_to_open: 3,
            open_for: Duration::from_secs(10),
        };
        let mut b = Breaker::new(cfg);
        for _ in 0..2 {
            assert!(b.allow(t0));
            b.on_failure(t0);
        }
        assert!(b.allow(t0), "two failures do not open it");
        b.on_failure(t0);
        assert!(!b.allow(t0 + Duration::from_secs(9)), "open: fail fast");
        assert!(!b.is_available(t0 + Duration::from_secs(9)));
        assert!(b.allow(t0 + Duration::from_secs(10)), "one trial call");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(t0 + Duration::from_secs(10)), "only one");
        b.on_failure(t0 + Duration::from_secs(10));
        assert!(!b.allow(t0 + Duration::from_secs(19)), "reopened");
        assert!(b.allow(t0 + Duration::from_secs(20)));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig::default());
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        b.on_failure(t0);
        assert!(b.allow(t0));
    }
}
