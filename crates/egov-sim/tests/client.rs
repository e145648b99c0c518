//! The real client against the simulator over real mutual TLS: every document type, the
//! certificates, and every fault mode with the client's outcome and what the network did.

#![allow(clippy::unwrap_used)]

use kiosk_core::DocCode;
use kiosk_egov::{
    BreakerConfig, CancelReason, EgovClient, EgovConfig, Failure, FetchRequest,
    FingerprintTemplate, MessageId, MessageStatus, Outcome, ResidentNumber, Subject,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Rig {
    sim: egov_sim::SimHandle,
    dir: tempfile::TempDir,
}

async fn rig(fail_rate: f64) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    egov_sim::certs::generate(dir.path(), "KIOSK-TEST-01").unwrap();
    let sim = egov_sim::serve(egov_sim::SimConfig {
        certs: dir.path().to_path_buf(),
        seed: 3,
        fingerprint_fail_rate: fail_rate,
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        documents: repo().join("config/documents.toml"),
        templates: repo().join("config/templates"),
    })
    .await
    .unwrap();
    Rig { sim, dir }
}

fn config(certs: &Path, ca: &Path, url: &str) -> EgovConfig {
    EgovConfig {
        endpoint: url.to_owned(),
        ca_cert: ca.join("ca.pem"),
        client_cert: certs.join("kiosk.pem"),
        client_key: certs.join("kiosk.key"),
        authority_key: ca.join("authority.pub"),
        kiosk_id: "KIOSK-TEST-01".into(),
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(1500),
        max_attempts: 2,
        backoff_base: Duration::from_millis(10),
        breaker: BreakerConfig {
            failures_to_open: 2,
            open_for: Duration::from_secs(60),
        },
    }
}

impl Rig {
    fn client(&self) -> EgovClient {
        EgovClient::new(config(self.dir.path(), self.dir.path(), &self.sim.url)).unwrap()
    }
    async fn admin(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.sim.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
    async fn fault(&self, f: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/faults", self.sim.admin))
            .json(&f)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    async fn person(&self, i: usize) -> (ResidentNumber, FingerprintTemplate) {
        let p = self.admin("/people?limit=50").await;
        let p = &p[i];
        (
            p["resident_number"].as_str().unwrap().parse().unwrap(),
            FingerprintTemplate::new(hex::decode(p["fingerprint"].as_str().unwrap()).unwrap())
                .unwrap(),
        )
    }
    async fn issued(&self) -> Value {
        self.admin("/issued").await["issues"].clone()
    }
}

fn land(code: &str) -> FetchRequest {
    FetchRequest {
        code: DocCode::new(code).unwrap(),
        agency: "local-gov".into(),
        options: BTreeMap::new(),
        subject: Subject::Address {
            parcel: "서울특별시 서초구 서초동 1376-1".into(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_is_fetched_and_rendered() {
    let r = rig(0.0).await;
    let c = r.client();
    let (rrn, fp) = r.person(0).await;
    let Outcome::Ok(token) = c.verify_identity(MessageId::new_v4(), &rrn, &fp).await else {
        panic!("identity")
    };
    let catalog = kiosk_catalog::Catalog::load(repo().join("config/documents.toml")).unwrap();
    let renderer = kiosk_render::Renderer::from_paths(
        kiosk_render::DEFAULT_FONT_PATH,
        repo().join("config/templates"),
    )
    .unwrap();
    let key = kiosk_render::demo_signing_key(1);
    let mut n = 0;
    for d in catalog.documents() {
        let subject = if d.requires.needs_identity() {
            Subject::Identity(token.clone())
        } else {
            Subject::Address {
                parcel: "서울특별시 서초구 서초동 1376-1".into(),
            }
        };
        let req = FetchRequest {
            code: d.code.clone(),
            agency: d.agency.clone(),
            options: BTreeMap::new(),
            subject,
        };
        let Outcome::Ok(doc) = c.fetch_document(MessageId::new_v4(), &req).await else {
            panic!("{} not fetched", d.code)
        };
        assert_eq!(doc.fee, d.fee.base, "{}", d.code);
        let rendered = renderer
            .render(
                &kiosk_render::RenderRequest {
                    code: d.code.clone(),
                    issue_number: doc.issue_number.clone(),
                    issued_at: kiosk_render::IssuedAt::from_unix(1_795_400_000).unwrap(),
                    kiosk_id: "KIOSK-TEST-01".into(),
                    options: BTreeMap::new(),
                    data: doc.data,
                },
                &key,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", d.code));
        assert!(rendered.pages >= 1);
        n += 1;
    }
    assert_eq!(n, 66);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprints_fail_at_about_the_configured_rate() {
    let r = rig(0.32).await;
    let c = r.client();
    let mut ok = 0;
    for i in 0..100 {
        let (rrn, fp) = r.person(i % 50).await;
        match c.verify_identity(MessageId::new_v4(), &rrn, &fp).await {
            Outcome::Ok(_) => ok += 1,
            Outcome::Failed(Failure::FingerprintMismatch) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(
        (50..=85).contains(&ok),
        "{ok} of 100 matched; about 68 expected"
    );
    // A wrong finger never matches.
    let (rrn, _) = r.person(1).await;
    let wrong = FingerprintTemplate::new(vec![9; 32]).unwrap();
    assert_eq!(
        c.verify_identity(MessageId::new_v4(), &rrn, &wrong).await,
        Outcome::Failed(Failure::FingerprintMismatch)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_from_elsewhere_are_refused_both_ways() {
    let r = rig(0.0).await;
    let foreign = tempfile::tempdir().unwrap();
    egov_sim::certs::generate_foreign(foreign.path()).unwrap();
    // A kiosk certificate from another CA: the server refuses the handshake.
    let c = EgovClient::new(config(foreign.path(), r.dir.path(), &r.sim.url)).unwrap();
    let o = c
        .fetch_document(MessageId::new_v4(), &land("LAND-REGISTER"))
        .await;
    assert!(
        matches!(o, Outcome::Failed(Failure::NetworkDown) | Outcome::Unknown),
        "{o:?}"
    );
    // A server the pinned CA did not sign: the client refuses it.
    let mut cfg = config(r.dir.path(), r.dir.path(), &r.sim.url);
    cfg.ca_cert = foreign.path().join("ca.pem");
    let c = EgovClient::new(cfg).unwrap();
    let o = c
        .fetch_document(MessageId::new_v4(), &land("LAND-REGISTER"))
        .await;
    assert_eq!(o, Outcome::Failed(Failure::NetworkDown));
    assert_eq!(
        r.issued().await.as_object().unwrap().len(),
        0,
        "nothing issued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_mode_has_a_clear_outcome_and_nothing_is_issued_twice() {
    let r = rig(0.0).await;
    let c = r.client();

    // slow, within the timeout: fine.
    r.fault(json!({"mode": "slow", "slow_ms": 200})).await;
    assert!(matches!(
        c.fetch_document(MessageId::new_v4(), &land("LAND-REGISTER"))
            .await,
        Outcome::Ok(_)
    ));

    // 5xx: retried, then failed; nothing issued.
    r.fault(json!({"mode": "5xx"})).await;
    let before = r.issued().await.as_object().unwrap().len();
    let o = c
        .fetch_document(MessageId::new_v4(), &land("LAND-REGISTER"))
        .await;
    assert!(
        matches!(o, Outcome::Failed(Failure::Refused { .. })),
        "{o:?}"
    );
    assert_eq!(r.issued().await.as_object().unwrap().len(), before);

    // malformed and bad signature: refused as bad replies.
    for mode in ["malformed", "bad-signature"] {
        r.fault(json!({"mode": mode})).await;
        let o = c
            .fetch_document(MessageId::new_v4(), &land("LAND-REGISTER"))
            .await;
        assert!(
            matches!(o, Outcome::Failed(Failure::BadReply(_))),
            "{mode}: {o:?}"
        );
    }

    // timeout after the work, and a truncated reply: unknown, then settled by message id
    // with the issue number the network made, and a retry of the same id issues nothing new.
    for mode in ["timeout-after-work", "truncated"] {
        r.fault(json!({"mode": "none"})).await;
        let c = r.client();
        r.fault(json!({"mode": mode})).await;
        let id = MessageId::new_v4();
        let o = c.fetch_document(id, &land("LAND-PRICE")).await;
        assert_eq!(o, Outcome::Unknown, "{mode}");
        r.fault(json!({"mode": "none"})).await;
        let c = r.client();
        let Outcome::Ok(MessageStatus::Completed { evidence }) = c.message_status(id).await else {
            panic!("{mode}: not settled")
        };
        let issue = evidence
            .issue_number
            .expect("the network made an issue number");
        let count = r.issued().await.as_object().unwrap().len();
        let Outcome::Ok(again) = c.fetch_document(id, &land("LAND-PRICE")).await else {
            panic!("{mode}: retry")
        };
        assert_eq!(
            again.issue_number, issue,
            "the same id gets the same answer"
        );
        assert_eq!(
            r.issued().await.as_object().unwrap().len(),
            count,
            "{mode}: issued twice"
        );
        // Reconcile: cancel it (not printed); a second cancel is harmless.
        let Outcome::Ok(_) = c
            .cancel_issue(MessageId::new_v4(), &issue, CancelReason::Abandoned)
            .await
        else {
            panic!("cancel")
        };
        assert_eq!(r.issued().await[issue.as_str()]["canceled"], 1);
    }

    // An unknown message id: not received.
    assert_eq!(
        c.message_status(MessageId::new_v4()).await,
        Outcome::Ok(MessageStatus::NotReceived)
    );

    // One agency down: only its documents fail, fast after the breaker opens.
    r.fault(json!({"mode": "down", "agency": "local-gov"}))
        .await;
    let c = r.client();
    for _ in 0..2 {
        let o = c
            .fetch_document(MessageId::new_v4(), &land("LAND-REGISTER"))
            .await;
        assert!(
            matches!(o, Outcome::Failed(Failure::BackendDown { .. })),
            "{o:?}"
        );
    }
    assert!(!c.backend_available("local-gov"));
    let o = c
        .fetch_document(MessageId::new_v4(), &land("LAND-REGISTER"))
        .await;
    assert_eq!(
        o,
        Outcome::Failed(Failure::CircuitOpen {
            agency: Some("local-gov".into())
        })
    );
    assert!(
        c.health().network_available(),
        "the rest of the network is fine"
    );

    // The whole network down: refused, the breaker opens, then fails fast.
    r.fault(json!({"mode": "down"})).await;
    let c = r.client();
    for _ in 0..2 {
        let o = c
            .fetch_document(MessageId::new_v4(), &land("LAND-PRICE"))
            .await;
        assert_eq!(o, Outcome::Failed(Failure::NetworkDown));
    }
    assert!(!c.health().network_available());
    let o = c
        .fetch_document(MessageId::new_v4(), &land("LAND-PRICE"))
        .await;
    assert_eq!(o, Outcome::Failed(Failure::CircuitOpen { agency: None }));

    // Nothing was confirmed or canceled twice.
    r.fault(json!({"mode": "none"})).await;
    for (issue, i) in r.issued().await.as_object().unwrap() {
        assert!(
            i["confirmed"].as_u64().unwrap() <= 1 && i["canceled"].as_u64().unwrap() <= 1,
            "{issue}: {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_and_cancel_are_idempotent_and_exclusive() {
    let r = rig(0.0).await;
    let c = r.client();
    let Outcome::Ok(doc) = c
        .fetch_document(MessageId::new_v4(), &land("LAND-REGISTER"))
        .await
    else {
        panic!()
    };
    let id = MessageId::new_v4();
    assert!(matches!(
        c.confirm_issued(id, &doc.issue_number, 1).await,
        Outcome::Ok(_)
    ));
    // The same message again: the same answer, still one confirmation.
    assert!(matches!(
        c.confirm_issued(id, &doc.issue_number, 1).await,
        Outcome::Ok(_)
    ));
    assert_eq!(r.issued().await[doc.issue_number.as_str()]["confirmed"], 1);
    let o = c
        .cancel_issue(
            MessageId::new_v4(),
            &doc.issue_number,
            CancelReason::PrintFailed,
        )
        .await;
    assert!(
        matches!(o, Outcome::Failed(Failure::Refused { ref code, .. }) if code == "already-confirmed"),
        "{o:?}"
    );
}
