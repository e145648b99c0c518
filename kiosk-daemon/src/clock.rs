//! The one clock: wall time for the books and the schedule, a monotonic count for
//! timeouts. Injectable, so hours, the 02:00 restart and inactivity are testable without
//! sleeping.

use crate::schedule::ClockTime;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// Korea Standard Time is UTC+9 all year (no daylight saving).
pub const KST_OFFSET_S: i64 = 9 * 3600;

/// Where the daemon reads time.
pub trait Clock: Send + Sync + 'static {
    /// Unix milliseconds (wall clock; for entries and certificates).
    fn unix_ms(&self) -> i64;
    /// Milliseconds since an arbitrary start (never goes back; for timeouts).
    fn mono_ms(&self) -> u64;
    /// The local time of day (KST).
    fn local_time(&self) -> ClockTime {
        let s = (self.unix_ms().div_euclid(1000) + KST_OFFSET_S).rem_euclid(86_400);
        // s / 60 < 1440: always a valid time of day.
        ClockTime::new((s / 3600) as u16, ((s / 60) % 60) as u16).unwrap_or(ClockTime::MIDNIGHT)
    }
}

/// The system's clocks.
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    /// Starts the monotonic count now.
    pub fn new() -> SystemClock {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn unix_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
    fn mono_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// A clock tests set by hand.
#[derive(Default)]
pub struct ManualClock {
    unix_ms: AtomicI64,
    mono_ms: AtomicU64,
}

impl ManualClock {
    /// At `unix_ms`.
    pub fn at(unix_ms: i64) -> ManualClock {
        ManualClock {
            unix_ms: AtomicI64::new(unix_ms),
            mono_ms: AtomicU64::new(0),
        }
    }
    /// Moves both clocks forward.
    pub fn advance(&self, ms: u64) {
        self.unix_ms.fetch_add(ms as i64, Ordering::SeqCst);
        self.mono_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn unix_ms(&self) -> i64 {
        self.unix_ms.load(Ordering::SeqCst)
    }
    fn mono_ms(&self) -> u64 {
        self.mono_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_is_kst() {
        // 2026-11-22 17:00 UTC is 2026-11-23 02:00 KST.
        let c = ManualClock::at(1_795_366_800_000);
        assert_eq!(c.local_time().to_string(), "02:00");
        c.advance(29 * 60_000 + 59_999);
        assert_eq!(c.local_time().to_string(), "02:29");
    }
}
