//! The daily self-check (and the one at start): is this kiosk fit to serve?
//!
//! Each item is a pure verdict over readings the shell gathers (device states from the
//! orchestrator's view and metrics, free disk, the clock, the certificate's expiry), so
//! the thresholds are tested without devices. The result is logged, written to
//! `selfcheck.json` in the data directory and exported as metrics.

use serde::Serialize;

/// Readings the self-check judges.
#[derive(Debug, Clone, PartialEq)]
pub struct Readings {
    /// The A4 printer answers and can print.
    pub printer_ok: bool,
    /// Sheets in the tray (from the ledger).
    pub paper: i64,
    /// Coins per hopper (coin value, count).
    pub hoppers: Vec<(u64, u32)>,
    /// The validator reported its stacker full.
    pub stacker_full: bool,
    /// The e-government network's breaker is closed.
    pub network_ok: bool,
    /// Free bytes on the data directory's file system.
    pub disk_free: u64,
    /// The reserve below which no session starts.
    pub disk_reserve: u64,
    /// Unix seconds now.
    pub now_s: i64,
    /// Unix seconds of the newest journal entry (the clock must not be behind it).
    pub last_entry_s: i64,
    /// Unix seconds when the kiosk's certificate expires.
    pub cert_not_after_s: Option<i64>,
}

/// One item's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// What was checked.
    pub name: &'static str,
    /// `ok`, `warning` or `fail`.
    pub status: &'static str,
    /// Why, for the contractor.
    pub detail: String,
}

/// Paper below this many sheets is a warning (about a day's use).
pub const PAPER_LOW: i64 = 100;
/// Coins per hopper below which change gets scarce.
pub const COINS_LOW: u32 = 20;
/// Certificates expiring within this many days are a warning.
pub const CERT_WARN_DAYS: i64 = 30;
/// The earliest plausible clock (the software did not exist before).
pub const EARLIEST_PLAUSIBLE_S: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn item(name: &'static str, status: &'static str, detail: impl Into<String>) -> Item {
    Item {
        name,
        status,
        detail: detail.into(),
    }
}

/// Judges the readings.
pub fn judge(r: &Readings) -> Vec<Item> {
    let mut v = Vec::new();
    v.push(if r.printer_ok {
        item("printer", "ok", "A4 printer ready")
    } else {
        item(
            "printer",
            "fail",
            "A4 printer offline, jammed or out of toner",
        )
    });
    v.push(match r.paper {
        p if p <= 0 => item("paper", "fail", "the tray is empty"),
        p if p < PAPER_LOW => item("paper", "warning", format!("{p} sheets left")),
        p => item("paper", "ok", format!("{p} sheets")),
    });
    let low: Vec<String> = r
        .hoppers
        .iter()
        .filter(|(_, n)| *n < COINS_LOW)
        .map(|(c, n)| format!("{c}원: {n}"))
        .collect();
    v.push(if low.is_empty() {
        item("coins", "ok", "hoppers stocked")
    } else {
        item(
            "coins",
            "warning",
            format!("low hoppers: {}", low.join(", ")),
        )
    });
    v.push(if r.stacker_full {
        item("stacker", "fail", "the note stacker is full: collect cash")
    } else {
        item("stacker", "ok", "room for notes")
    });
    v.push(if r.network_ok {
        item("network", "ok", "e-government network reachable")
    } else {
        item("network", "fail", "e-government network unreachable")
    });
    v.push(if r.disk_free < r.disk_reserve {
        item(
            "disk",
            "fail",
            format!("{} MiB free, below the reserve", r.disk_free >> 20),
        )
    } else {
        item("disk", "ok", format!("{} MiB free", r.disk_free >> 20))
    });
    v.push(if r.now_s < EARLIEST_PLAUSIBLE_S {
        item("clock", "fail", "the clock is not set")
    } else if r.now_s + 60 < r.last_entry_s {
        item(
            "clock",
            "fail",
            "the clock is behind the newest ledger entry",
        )
    } else {
        item("clock", "ok", "plausible")
    });
    v.push(match r.cert_not_after_s {
        None => item(
            "certificate",
            "fail",
            "the kiosk certificate cannot be read",
        ),
        Some(t) if t <= r.now_s => item("certificate", "fail", "the kiosk certificate has expired"),
        Some(t) if t - r.now_s < CERT_WARN_DAYS * 86_400 => item(
            "certificate",
            "warning",
            format!("expires in {} days", (t - r.now_s) / 86_400),
        ),
        Some(t) => item(
            "certificate",
            "ok",
            format!("valid for {} days", (t - r.now_s) / 86_400),
        ),
    });
    v
}

/// Whether any item failed.
pub fn failed(items: &[Item]) -> bool {
    items.iter().any(|i| i.status == "fail")
}

/// Free bytes on the file system holding `path` (from `df`, keeping this crate free of
/// unsafe code; `None` when it cannot be read).
pub fn disk_free(path: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["-P", "-k"])
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

/// The `notAfter` of the first certificate in a PEM file, in unix seconds.
pub fn cert_not_after(pem: &std::path::Path) -> Option<i64> {
    let text = std::fs::read_to_string(pem).ok()?;
    let (_, p) = x509_parser::pem::parse_x509_pem(text.as_bytes()).ok()?;
    let cert = p.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Readings {
        Readings {
            printer_ok: true,
            paper: 400,
            hoppers: vec![(100, 300), (500, 200)],
            stacker_full: false,
            network_ok: true,
            disk_free: 10 << 30,
            disk_reserve: 64 << 20,
            now_s: 1_795_400_000,
            last_entry_s: 1_795_399_000,
            cert_not_after_s: Some(1_795_400_000 + 365 * 86_400),
        }
    }

    #[test]
    fn a_healthy_kiosk_passes_every_item() {
        let items = judge(&good());
        assert_eq!(items.len(), 8);
        assert!(items.iter().all(|i| i.status == "ok"), "{items:?}");
    }

    #[test]
    fn each_fault_is_named() {
        type Case = (fn(&mut Readings), &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (|r| r.printer_ok = false, "printer", "fail"),
            (|r| r.paper = 0, "paper", "fail"),
            (|r| r.paper = 50, "paper", "warning"),
            (|r| r.hoppers[1].1 = 3, "coins", "warning"),
            (|r| r.stacker_full = true, "stacker", "fail"),
            (|r| r.network_ok = false, "network", "fail"),
            (|r| r.disk_free = 1 << 20, "disk", "fail"),
            (|r| r.now_s = 0, "clock", "fail"),
            (|r| r.last_entry_s = r.now_s + 3600, "clock", "fail"),
            (
                |r| r.cert_not_after_s = Some(r.now_s - 1),
                "certificate",
                "fail",
            ),
            (
                |r| r.cert_not_after_s = Some(r.now_s + 86_400),
                "certificate",
                "warning",
            ),
            (|r| r.cert_not_after_s = None, "certificate", "fail"),
        ];
        for (f, name, status) in cases {
            let mut r = good();
            f(&mut r);
            let items = judge(&r);
            let bad: Vec<_> = items.iter().filter(|i| i.status != "ok").collect();
            assert_eq!(bad.len(), 1, "{name}: {items:?}");
            assert_eq!((bad[0].name, bad[0].status), (name, status));
            assert_eq!(failed(&items), status == "fail");
        }
    }

    #[test]
    fn disk_free_reads_a_real_file_system() {
        assert!(disk_free(std::path::Path::new("/")).is_some_and(|b| b > 0));
    }
}
