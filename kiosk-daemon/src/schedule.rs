//! When the kiosk serves citizens: opening hours and the daily restart.
//!
//! Pure functions of a local wall-clock time, so every boundary (06:00, 24:00, the drain
//! before 02:00, the window until 02:30) is tested without waiting for it. The shell reads
//! the clock once per tick and asks [`Schedule::at`].

use std::fmt;

/// A time of day, minutes since local midnight; 24:00 is 1440 (the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(u16);

impl ClockTime {
    /// Midnight.
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    /// The end of the day (24:00).
    pub const END_OF_DAY: ClockTime = ClockTime(1440);

    /// From hours and minutes (24:00 allowed, nothing later).
    pub fn new(h: u16, m: u16) -> Option<ClockTime> {
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(ClockTime(h * 60 + m))
    }

    /// Parses "HH:MM".
    pub fn parse(s: &str) -> Result<ClockTime, String> {
        let bad = || format!("{s:?} is not a time of day \"HH:MM\" (00:00 to 24:00)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        ClockTime::new(h, m).ok_or_else(bad)
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// Opening hours of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    /// Around the clock.
    Always,
    /// From `open` (inclusive) to `close` (exclusive), the same every day.
    Between {
        /// Opening.
        open: ClockTime,
        /// Closing.
        close: ClockTime,
    },
}

impl Hours {
    /// Whether the site is open at `t`.
    pub fn is_open(self, t: ClockTime) -> bool {
        match self {
            Hours::Always => true,
            Hours::Between { open, close } => open <= t && t < close,
        }
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hours::Always => f.write_str("24h"),
            Hours::Between { open, close } => write!(f, "{open}-{close}"),
        }
    }
}

/// The daily restart: the daemon drains before `at`, then exits inside the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartWindow {
    /// Start of the window.
    pub at: ClockTime,
    /// Length of the window in minutes.
    pub window_min: u32,
    /// Minutes before `at` in which no new session starts.
    pub drain_min: u32,
}

/// What the kiosk may do at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Open: sessions start.
    Open,
    /// Outside opening hours: the out-of-hours screen.
    Closed,
    /// The restart is near: no new session; the current one finishes.
    Draining,
    /// Inside the restart window: exit cleanly once idle (the service manager restarts us).
    RestartDue,
}

/// Hours and restart together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Opening hours.
    pub hours: Hours,
    /// The daily restart.
    pub restart: RestartWindow,
}

/// Minutes in a day.
const DAY: i32 = 1440;

impl Schedule {
    /// The phase at local time `t`. The restart outranks the hours: a kiosk that is closed
    /// at 02:00 still restarts.
    pub fn at(&self, t: ClockTime) -> Phase {
        let now = i32::from(t.minutes());
        let start = i32::from(self.restart.at.minutes());
        // Minutes since the window opened, on a 24-hour circle.
        let since = (now - start).rem_euclid(DAY);
        let until = (start - now).rem_euclid(DAY);
        if since < self.restart.window_min as i32 {
            Phase::RestartDue
        } else if until > 0 && until <= self.restart.drain_min as i32 {
            Phase::Draining
        } else if self.hours.is_open(t) {
            Phase::Open
        } else {
            Phase::Closed
        }
    }

    /// Whether a restart already done today (at `done`, local minutes) still counts at `t`:
    /// a daemon restarted at 02:01 must not exit again at 02:02.
    pub fn restart_done_recently(&self, done: ClockTime, t: ClockTime) -> bool {
        let start = i32::from(self.restart.at.minutes());
        let d = (i32::from(done.minutes()) - start).rem_euclid(DAY);
        let n = (i32::from(t.minutes()) - start).rem_euclid(DAY);
        d < self.restart.window_min as i32 && n >= d && n < self.restart.window_min as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> ClockTime {
        ClockTime::parse(s).unwrap()
    }

    fn sched(hours: Hours) -> Schedule {
        Schedule {
            hours,
            restart: RestartWindow {
                at: t("02:00"),
                window_min: 30,
                drain_min: 5,
            },
        }
    }

    #[test]
    fn parse_accepts_times_of_day_and_nothing_else() {
        assert_eq!(t("00:00").minutes(), 0);
        assert_eq!(t("24:00"), ClockTime::END_OF_DAY);
        assert_eq!(t("06:30").to_string(), "06:30");
        for bad in [
            "24:01", "6:00", "06:60", "ab:cd", "0600", "", "-1:00", "06:00 ",
        ] {
            assert!(ClockTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_minute_of_a_day_has_the_right_phase() {
        let s = sched(Hours::Between {
            open: t("06:00"),
            close: t("24:00"),
        });
        for m in 0..1440u16 {
            let now = ClockTime(m);
            let want = match m {
                115..=119 => Phase::Draining,   // 01:55-01:59
                120..=149 => Phase::RestartDue, // 02:00-02:29
                360..=1439 => Phase::Open,
                _ => Phase::Closed,
            };
            assert_eq!(s.at(now), want, "at {now}");
        }
    }

    #[test]
    fn a_24_hour_site_only_stops_for_the_restart() {
        let s = sched(Hours::Always);
        let open = (0..1440u16)
            .filter(|&m| s.at(ClockTime(m)) == Phase::Open)
            .count();
        assert_eq!(open, 1440 - 35);
        assert_eq!(s.at(t("01:54")), Phase::Open);
        assert_eq!(s.at(t("02:30")), Phase::Open);
    }

    #[test]
    fn a_window_across_midnight_wraps() {
        let mut s = sched(Hours::Always);
        s.restart.at = t("23:50");
        assert_eq!(s.at(t("23:45")), Phase::Draining);
        assert_eq!(s.at(t("23:59")), Phase::RestartDue);
        assert_eq!(s.at(t("00:10")), Phase::RestartDue);
        assert_eq!(s.at(t("00:20")), Phase::Open);
    }

    #[test]
    fn a_restart_inside_the_window_is_not_repeated() {
        let s = sched(Hours::Always);
        assert!(s.restart_done_recently(t("02:01"), t("02:02")));
        assert!(s.restart_done_recently(t("02:01"), t("02:29")));
        assert!(!s.restart_done_recently(t("02:01"), t("02:30")));
        assert!(!s.restart_done_recently(t("01:59"), t("02:05")));
    }
}
