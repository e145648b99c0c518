//! Prometheus metrics on 127.0.0.1: what the contractor's dashboards read.
//!
//! Counters and gauges from the Prometheus project's own client; labels are codes
//! (document types, outcomes, devices), never personal data.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Issuance {
    document: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Doc {
    document: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Device {
    device: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Coin {
    coin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Svc {
    service: String,
}

/// Every metric of the daemon.
pub struct Metrics {
    registry: Mutex<Registry>,
    sessions_started: Counter,
    sessions: Family<Outcome, Counter>,
    issuances: Family<Issuance, Counter>,
    prints: Family<Doc, Counter>,
    online: Family<Device, Gauge>,
    hopper: Family<Coin, Gauge>,
    paper: Gauge,
    incidents: Family<Kind, Counter>,
    egov: Family<Svc, Histogram>,
    ledger_commit: Histogram,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
    .into_iter()
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("kiosk");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            sessions_started: Counter::default(),
            sessions: Family::default(),
            issuances: Family::default(),
            prints: Family::default(),
            online: Family::default(),
            hopper: Family::default(),
            paper: Gauge::default(),
            incidents: Family::default(),
            egov: Family::new_with_constructor(|| Histogram::new(latency_buckets())),
            ledger_commit: Histogram::new(latency_buckets()),
        };
        r.register(
            "sessions_started",
            "Sessions started",
            m.sessions_started.clone(),
        );
        r.register("sessions", "Sessions ended, by outcome", m.sessions.clone());
        r.register(
            "issuances",
            "Documents in ended sessions, by type and outcome",
            m.issuances.clone(),
        );
        r.register(
            "print_jobs",
            "A4 print jobs submitted, by document type",
            m.prints.clone(),
        );
        r.register(
            "device_online",
            "1 when the device answers",
            m.online.clone(),
        );
        r.register(
            "hopper_coins",
            "Coins in each hopper (from the ledger)",
            m.hopper.clone(),
        );
        r.register(
            "paper_sheets",
            "Sheets in the A4 tray (from the ledger)",
            m.paper.clone(),
        );
        r.register(
            "incidents",
            "Incidents raised, by kind",
            m.incidents.clone(),
        );
        r.register(
            "egov_request_seconds",
            "E-government request latency",
            m.egov.clone(),
        );
        r.register(
            "ledger_commit_seconds",
            "Ledger commit latency",
            m.ledger_commit.clone(),
        );
        if let Ok(mut g) = m.registry.lock() {
            *g = r;
        }
        m
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut s, &r);
        }
        s
    }

    /// A session started.
    pub fn session_started(&self) {
        self.sessions_started.inc();
    }
    /// A session ended.
    pub fn session_ended(&self, outcome: &str) {
        self.sessions
            .get_or_create(&Outcome {
                outcome: outcome.into(),
            })
            .inc();
    }
    /// A basket line ended.
    pub fn issuance(&self, document: &str, outcome: &str) {
        self.issuances
            .get_or_create(&Issuance {
                document: document.into(),
                outcome: outcome.into(),
            })
            .inc();
    }
    /// A print job went out.
    pub fn print_submitted(&self, document: &str) {
        self.prints
            .get_or_create(&Doc {
                document: document.into(),
            })
            .inc();
    }
    /// A device went on- or offline.
    pub fn device_online(&self, device: &str, online: bool) {
        self.online
            .get_or_create(&Device {
                device: device.into(),
            })
            .set(i64::from(online));
    }
    /// A hopper's level.
    pub fn hopper_level(&self, coin: u64, count: u32) {
        self.hopper
            .get_or_create(&Coin {
                coin: coin.to_string(),
            })
            .set(i64::from(count));
    }
    /// The tray.
    pub fn paper(&self, sheets: i64) {
        self.paper.set(sheets);
    }
    /// An incident.
    pub fn incident(&self, kind: &str) {
        self.incidents
            .get_or_create(&Kind { kind: kind.into() })
            .inc();
    }
    /// An e-government call.
    pub fn egov_latency(&self, service: &str, d: Duration) {
        self.egov
            .get_or_create(&Svc {
                service: service.into(),
            })
            .observe(d.as_secs_f64());
    }
    /// A ledger commit.
    pub fn ledger_commit(&self, d: Duration) {
        self.ledger_commit.observe(d.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_what_happened() {
        let m = Metrics::new();
        m.session_started();
        m.session_ended("done");
        m.issuance("RES-COPY", "done");
        m.hopper_level(500, 42);
        m.egov_latency("fetch-document", Duration::from_millis(3));
        let t = m.render();
        assert!(t.contains("kiosk_sessions_started_total 1"), "{t}");
        assert!(
            t.contains("kiosk_sessions_total{outcome=\"done\"} 1"),
            "{t}"
        );
        assert!(t.contains("kiosk_hopper_coins{coin=\"500\"} 42"), "{t}");
        assert!(
            t.contains("kiosk_egov_request_seconds_count{service=\"fetch-document\"} 1"),
            "{t}"
        );
    }
}
