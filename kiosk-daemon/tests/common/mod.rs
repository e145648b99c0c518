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

/// What the simulators say physically happened, against the books: every coin the
/// acceptor took and every note the validator stacked is booked (to a session or to
/// suspense); every coin a hopper paid is booked as paid; every page the printer printed
/// is booked as a sheet. Books that agree with each other can still disagree with the
/// machine: this is the check that they do not.
pub async fn check_physical(dir: &std::path::Path, c: &kiosk_daemon::stack::Controls) -> Physical {
    let state = |v: serde_json::Value| v["state"].clone();
    let acceptor = state(
        c.sim("coin-acceptor", json!({"cmd": "state"}))
            .await
            .unwrap(),
    );
    let validator = state(
        c.sim("bill-validator", json!({"cmd": "state"}))
            .await
            .unwrap(),
    );
    let won = |v: &serde_json::Value| -> i64 {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x.as_i64().unwrap_or_else(|| {
                    // Coins are listed by name ("W500").
                    x.as_str().unwrap().trim_start_matches('W').parse().unwrap()
                })
            })
            .sum()
    };
    let coins_in = won(&acceptor["accepted"]);
    let notes_in = won(&validator["stacked"]);
    let mut paid_out = std::collections::BTreeMap::new();
    for (name, info) in c.sim_info.as_object().unwrap() {
        if let Some(v) = name.strip_prefix("hopper-") {
            let _ = info;
            let s = state(c.sim(name, json!({"cmd": "state"})).await.unwrap());
            let value: i64 = v.parse().unwrap();
            paid_out.insert(value, s["paid_total"].as_i64().unwrap() * value);
        }
    }
    let a4 = c.sim("a4-printer", json!({"cmd": "status"})).await.unwrap();
    let pages = a4["printed_pages"].as_i64().unwrap();

    let l = kiosk_ledger::Ledger::open(dir.join("ledger.db")).unwrap();
    let (mut coins_booked, mut notes_booked, mut sheets_booked) = (0, 0, 0);
    let mut paid_booked: std::collections::BTreeMap<i64, i64> = Default::default();
    for e in l.entries_since(0, usize::MAX).unwrap() {
        match (e.kind.as_str(), e.code.as_str()) {
            ("posted", "coin-inserted") => coins_booked += e.amount,
            ("posted", "unexplained") if e.debit.starts_with("hopper:") || e.debit == "cashbox" => {
                coins_booked += e.amount
            }
            ("posted", "note-stacked") => notes_booked += e.amount,
            ("posted", "sheet-printed") => sheets_booked += e.amount,
            ("posted", "change-paid" | "refund") => {
                let v: i64 = e.credit.trim_start_matches("hopper:").parse().unwrap();
                *paid_booked.entry(v).or_default() += e.amount;
            }
            _ => {}
        }
    }
    assert_eq!(
        coins_in, coins_booked,
        "coins the acceptor took vs coins booked"
    );
    assert_eq!(
        notes_in, notes_booked,
        "notes the validator stacked vs notes booked"
    );
    for (v, paid) in &paid_out {
        assert_eq!(
            *paid,
            paid_booked.get(v).copied().unwrap_or(0),
            "coins hopper {v} paid vs payouts booked"
        );
    }
    assert_eq!(
        pages, sheets_booked,
        "pages the printer printed vs sheets booked"
    );
    // Every copy the printer finished went to its own session: the job name carries the
    // session and the issue number, and the books put that issue in that session.
    let mut session_of: std::collections::BTreeMap<String, u64> = Default::default();
    for e in l.entries_since(0, usize::MAX).unwrap() {
        if let (Some(issue), Some(session), "sheet-printed") =
            (e.issue.clone(), e.session, e.code.as_str())
        {
            let prev = session_of.insert(issue.clone(), session);
            assert!(
                prev.is_none_or(|p| p == session),
                "issue {issue} printed for two sessions"
            );
        }
    }
    if let Ok(files) = std::fs::read_dir(dir.join("printed")) {
        for f in files {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            // <job-id>-S<session>-<issue>-<copy>.pdf
            let Some(rest) = name
                .split_once("-S")
                .map(|(_, r)| r.trim_end_matches(".pdf").to_owned())
            else {
                continue;
            };
            let (session, rest) = rest.split_once('-').unwrap();
            let (issue, _copy) = rest.rsplit_once('-').unwrap();
            assert_eq!(
                session_of.get(issue).copied(),
                Some(session.parse::<u64>().unwrap()),
                "{name}: printed for a session the books do not give it to"
            );
        }
    }
    Physical {
        coins_in,
        notes_in,
        paid_out: paid_out.values().sum(),
        pages,
    }
}

/// The physical counts [`check_physical`] compared.
#[derive(Debug, Clone, Copy)]
pub struct Physical {
    /// Won in coins the acceptor took.
    pub coins_in: i64,
    /// Won in notes the validator stacked.
    pub notes_in: i64,
    /// Won the hoppers paid out.
    pub paid_out: i64,
    /// Pages the A4 printer printed.
    pub pages: i64,
}
