//! Shared by the tests that run a whole simulated kiosk across processes.

#![allow(clippy::unwrap_used, dead_code)]

use kiosk_daemon::stack::{Bins, Stack, StackOptions};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The binaries the stack runs. `cargo test` builds kiosk-daemon's own binaries; the
/// simulators come from their packages (built by `cargo test --workspace` / nextest).
pub fn bins() -> Bins {
    Bins::beside_me().expect("build the workspace first: cargo build --workspace")
}

pub async fn stack(dir: &tempfile::TempDir, tweak: impl FnOnce(&mut StackOptions)) -> Stack {
    let mut o = StackOptions::new(dir.path().to_path_buf(), repo());
    o.page_ms = 0;
    o.pay_every_ms = 0;
    tweak(&mut o);
    let mut s = Stack::start(o, bins()).await.unwrap();
    s.start_daemon().await.unwrap();
    s
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn of(s: &Stack) -> Api {
        Api {
            base: format!("http://{}", s.api.unwrap()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.post(path, body).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }

    pub async fn state(&self) -> Value {
        self.http
            .get(format!("{}/api/v1/state", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the state until `f` holds (bounded: 30 s).
    pub async fn until(&self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.state().await;
            if f(&s) {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn until_state(&self, state: &str) -> Value {
        self.until(state, |s| s["session"]["state"] == state).await
    }

    pub async fn until_ended(&self) -> Value {
        self.until("the end", |s| !s["session"]["ended"].is_null())
            .await["session"]["ended"]
            .clone()
    }

    /// Begin, add `lines`, confirm, and give the identity if any line needs it.
    pub async fn choose(&self, lines: &[(&str, u8)], rrn: &str) {
        self.ok("/api/v1/session", json!({})).await;
        for (code, copies) in lines {
            let mut b = json!({"code": code, "copies": copies});
            if code.starts_with("LAND-") || code.starts_with("BLD-") {
                b["address"] = json!("서울특별시 서초구 서초동 1234-5");
            }
            self.ok("/api/v1/session/basket", b).await;
        }
        self.ok("/api/v1/session/confirm", json!({})).await;
        let s = self.state().await;
        if s["session"]["state"] == "identifying" {
            self.ok("/api/v1/session/identity", json!({"resident_number": rrn}))
                .await;
        }
    }
}

/// Money and paper in the ledger after a run, checked: the chain verifies, no credit or
/// escrow is left open, inserted = fees + change + refunds + IOUs, loaded = tray + printed
/// + spoiled. Returns (inserted, fees, paid back, owed) in won.
pub fn check_books(dir: &std::path::Path) -> (i64, i64, i64, i64) {
    use kiosk_core::Account;
    if std::env::var_os("KIOSK_CRASH_KEEP").is_some() {
        // Keep the evidence of a failure: copy the directory aside before asserting.
        let _ = std::process::Command::new("cp")
            .args(["-r", "--no-preserve=mode"])
            .arg(dir)
            .arg("/tmp/kiosk-crash-evidence")
            .status();
    }
    let l = kiosk_ledger::Ledger::open(dir.join("ledger.db")).unwrap();
    l.verify().unwrap();
    assert_eq!(
        l.balance(&Account::SessionCredit).unwrap(),
        0,
        "credit left open"
    );
    assert_eq!(l.balance(&Account::Escrow).unwrap(), 0, "escrow left open");
    assert!(l.open_pending().unwrap().is_empty(), "pending escrow left");
    let (mut inserted, mut fees, mut back, mut owed) = (0, 0, 0, 0);
    for e in l.entries_since(0, usize::MAX).unwrap() {
        let kind = e.kind.as_str();
        match (kind, e.code.as_str()) {
            ("posted", "coin-inserted") | ("post", "note-escrowed") => inserted += e.amount,
            ("posted", "fee") => fees += e.amount,
            ("posted", "change-paid" | "refund") => back += e.amount,
            ("posted", "refund-owed") => owed += e.amount,
            _ => {}
        }
    }
    assert_eq!(inserted, fees + back + owed, "money not conserved");
    let sheets = |a: Account| l.balance(&a).unwrap();
    assert_eq!(
        -sheets(Account::DistrictStock),
        sheets(Account::PaperTray) + sheets(Account::Printed) + sheets(Account::Spoiled),
        "paper not conserved"
    );
    (inserted, fees, back, owed)
}

/// Every file under `dir` (ledger, logs, printed PDFs aside) searched for personal data.
pub fn assert_no_personal_data(dir: &std::path::Path, rrns: &[String]) {
    fn walk(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                walk(&p, out);
            } else if t.is_file() {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    for f in files {
        // Printed certificates carry the citizen's data by design (masked number); the
        // simulators' logs and certificates are not the daemon's.
        let name = f.to_string_lossy();
        if name.contains("/printed/") || name.contains("/certs/") || name.ends_with("egov-sim.log")
        {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        for rrn in rrns {
            let digits: String = rrn.chars().filter(char::is_ascii_digit).collect();
            let back = &digits[6..];
            for needle in [digits.as_str(), rrn.as_str(), back] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} contains a resident number (or its back half)",
                    f.display()
                );
            }
        }
    }
}
