//! Board configuration.

/// Tunables of the board. [`Config::default`] gives the documented defaults; [`Board::new`]
/// clamps out-of-range values (see each field).
///
/// [`Board::new`]: crate::Board::new
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// An input must hold a new level this long before it counts (default 30 ms).
    pub debounce_ms: u32,
    /// Thermal limit: the longest a lock solenoid may stay energised (default 10 s;
    /// clamped to 1..=60 s). Unlock requests for longer are refused.
    pub max_unlock_s: u8,
    /// After a release, a solenoid stays off at least this long (default 2 s; at least
    /// 1 ms, so a release and a new unlock can never join into one longer pulse).
    pub unlock_cooldown_ms: u32,
    /// The host link counts as lost when no valid frame arrived for this long (default 5 s).
    /// Losing the link relocks every lock (fail secure).
    pub link_timeout_ms: u32,
    /// Host watchdog timeout at start (default 60 s; 0 = off). The host can change it with
    /// an authenticated `ConfigureWatchdog` (0 or 10..=3600 s).
    pub host_watchdog_s: u16,
    /// Length of a host reset relay pulse (default 500 ms).
    pub reset_pulse_ms: u32,
    /// After the board starts and after each reset pulse, the host gets this long to boot
    /// before missed heartbeats count (default 180 s).
    pub host_boot_grace_ms: u32,
    /// How long a nonce stays valid (default 10 s). A nonce is good for one attempt at one
    /// authenticated command (unlock, watchdog or maintenance).
    pub nonce_valid_ms: u32,
    /// This many bad MACs (on any authenticated command, or protocol 1's unauthenticated
    /// watchdog and maintenance commands) ... (default 5; clamped to 1..=8)
    pub bad_mac_limit: u8,
    /// ... within this window (default 60 s) ...
    pub bad_mac_window_ms: u32,
    /// ... lock every authenticated command out for this long (default 5 min) and raise a
    /// tamper alarm.
    pub auth_lockout_ms: u32,
    /// The longest maintenance window the host may declare (default 4 h).
    pub max_maintenance_s: u16,
    /// The main loop counts as unhealthy (the hardware watchdog is not fed) when two steps
    /// are further apart than this (default 100 ms) or the clock goes backwards.
    pub max_loop_gap_ms: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            debounce_ms: 30,
            max_unlock_s: 10,
            unlock_cooldown_ms: 2_000,
            link_timeout_ms: 5_000,
            host_watchdog_s: 60,
            reset_pulse_ms: 500,
            host_boot_grace_ms: 180_000,
            nonce_valid_ms: 10_000,
            bad_mac_limit: 5,
            bad_mac_window_ms: 60_000,
            auth_lockout_ms: 300_000,
            max_maintenance_s: 4 * 3600,
            max_loop_gap_ms: 100,
        }
    }
}

/// Most bad MACs the board remembers.
pub(crate) const MAX_BAD_MAC_LIMIT: usize = 8;

impl Config {
    pub(crate) fn sanitised(mut self) -> Config {
        self.max_unlock_s = self.max_unlock_s.clamp(1, 60);
        self.unlock_cooldown_ms = self.unlock_cooldown_ms.max(1);
        self.bad_mac_limit = self.bad_mac_limit.clamp(1, MAX_BAD_MAC_LIMIT as u8);
        if !valid_watchdog_s(self.host_watchdog_s) {
            self.host_watchdog_s = self.host_watchdog_s.clamp(10, 3600);
        }
        self
    }
}

/// Whether a host watchdog timeout is acceptable (0 = off, else 10..=3600 s).
pub const fn valid_watchdog_s(s: u16) -> bool {
    s == 0 || (s >= 10 && s <= 3600)
}
