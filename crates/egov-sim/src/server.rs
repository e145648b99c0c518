//! The servers: mutual TLS for the kiosk, plain HTTP on loopback for the admin.

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ed25519_dalek::SigningKey;
use hyper_util::rt::TokioIo;
use kiosk_catalog::{Catalog, KioskCatalog, Overrides, Requirement};
use kiosk_core::DocCode;
use kiosk_egov::wire::{self, Request, Service, Status};
use kiosk_render::TemplateSet;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::population::Population;

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The directory `--gen-certs` wrote.
    pub certs: PathBuf,
    /// The population's seed.
    pub seed: u64,
    /// Share of fingerprint checks that fail even with the right finger (real kiosks
    /// matched about 68% of first tries: 0.32).
    pub fingerprint_fail_rate: f64,
    /// Where the kiosk connects.
    pub listen: SocketAddr,
    /// The admin port (loopback only).
    pub admin: SocketAddr,
    /// The catalog.
    pub documents: PathBuf,
    /// The certificate templates.
    pub templates: PathBuf,
}

/// A fault mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `none`, `down`, `slow`, `5xx`, `malformed`, `bad-signature`, `timeout-after-work`,
    /// `truncated`.
    pub mode: String,
    /// Only this agency's documents (answered 503 backend-down), if set.
    #[serde(default)]
    pub agency: Option<String>,
    /// Delay of `slow`.
    #[serde(default)]
    pub slow_ms: Option<u64>,
}

const MODES: [&str; 8] = [
    "none",
    "down",
    "slow",
    "5xx",
    "malformed",
    "bad-signature",
    "timeout-after-work",
    "truncated",
];

/// Message ids remembered (oldest forgotten first).
const REMEMBERED: usize = 100_000;

/// A remembered answer.
#[derive(Debug, Clone)]
struct Answered {
    status: Status,
    reply: Vec<u8>,
    request_sha256: [u8; 32],
    issue: Option<String>,
}

/// An issue number's life.
#[derive(Debug, Clone, Default, Serialize)]
struct Issue {
    document: String,
    confirmed: u32,
    canceled: u32,
    pages: u32,
}

struct Sim {
    key: SigningKey,
    population: Population,
    catalog: KioskCatalog,
    templates: TemplateSet,
    fail_rate: f64,
    fault: Fault,
    rng: StdRng,
    answered: HashMap<String, Answered>,
    order: VecDeque<String>,
    issues: BTreeMap<String, Issue>,
    tokens: HashMap<String, usize>,
    next_issue: u64,
    requests: u64,
}

type Shared = Arc<Mutex<Sim>>;

/// A running simulator.
pub struct SimHandle {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// `http://127.0.0.1:PORT`.
    pub admin: String,
    /// The authority's public key, hex.
    pub authority_key: String,
    stop: watch::Sender<bool>,
}

impl SimHandle {
    /// Stops both servers.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tls_config(dir: &std::path::Path) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("ca.pem"))? {
        roots.add(c?)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join("server.pem"))?.collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Starts the simulator; it serves until the handle is dropped or stopped.
pub async fn serve(cfg: SimConfig) -> Result<SimHandle> {
    let secret = std::fs::read_to_string(cfg.certs.join("authority.key"))
        .context("authority.key (run egov-sim --gen-certs first)")?;
    let secret: [u8; 32] = hex::decode(secret.trim())?
        .try_into()
        .map_err(|_| anyhow::anyhow!("authority.key: 32 bytes expected"))?;
    let key = SigningKey::from_bytes(&secret);
    let catalog = Catalog::load(&cfg.documents).map_err(|p| anyhow::anyhow!("{p}"))?;
    let catalog =
        KioskCatalog::new(catalog, Overrides::none()).map_err(|p| anyhow::anyhow!("{p}"))?;
    let templates = TemplateSet::load_dir(&cfg.templates).map_err(|e| anyhow::anyhow!("{e}"))?;
    let authority_key = hex::encode(key.verifying_key().to_bytes());
    let sim: Shared = Arc::new(Mutex::new(Sim {
        key,
        population: Population::new(cfg.seed),
        catalog,
        templates,
        fail_rate: cfg.fingerprint_fail_rate.clamp(0.0, 1.0),
        fault: Fault {
            mode: "none".into(),
            ..Fault::default()
        },
        rng: StdRng::seed_from_u64(cfg.seed ^ 0x5eed),
        answered: HashMap::new(),
        order: VecDeque::new(),
        issues: BTreeMap::new(),
        tokens: HashMap::new(),
        next_issue: 0,
        requests: 0,
    }));
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(&cfg.certs)?));
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let admin_listener = tokio::net::TcpListener::bind(cfg.admin).await?;
    if !cfg.admin.ip().is_loopback() {
        anyhow::bail!("the admin port must be on a loopback address");
    }
    let url = format!("https://{}", listener.local_addr()?);
    let admin = format!("http://{}", admin_listener.local_addr()?);
    let (stop, stop_rx) = watch::channel(false);
    // Bumped when the network goes down: open connections are cut too.
    let (cut, cut_rx) = watch::channel(0u64);
    let api = Router::new()
        .route("/v1/{service}", post(handle))
        .with_state(sim.clone());
    let accept_sim = sim.clone();
    let mut stopping = stop_rx.clone();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stopping.changed() => return,
            };
            let Ok((tcp, _)) = accepted else { continue };
            if is_down(&accept_sim) {
                drop(tcp); // refused: the network is down
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let (tls, api, mut cut_rx) = (tls.clone(), api.clone(), cut_rx.clone());
            // Only a cut after this connection was accepted ends it.
            cut_rx.borrow_and_update();
            tokio::spawn(async move {
                let Ok(stream) = tls.accept(tcp).await else {
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(api);
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {}
                    _ = cut_rx.changed() => {}
                }
            });
        }
    });
    let admin_app = Router::new()
        .route("/faults", post(set_fault).get(get_fault))
        .route("/people", get(people))
        .route("/issued", get(issued))
        .with_state((sim.clone(), Arc::new(cut)));
    let mut stopping = stop_rx;
    tokio::spawn(async move {
        let _ = axum::serve(admin_listener, admin_app)
            .with_graceful_shutdown(async move {
                let _ = stopping.changed().await;
            })
            .await;
    });
    info!(%url, %admin, "egov-sim ready");
    Ok(SimHandle {
        url,
        admin,
        authority_key,
        stop,
    })
}

fn is_down(sim: &Shared) -> bool {
    sim.lock()
        .map(|s| s.fault.mode == "down" && s.fault.agency.is_none())
        .unwrap_or(false)
}

// ----- the kiosk's side ------------------------------------------------------------------

fn failed(code: &str, reason: &str) -> (Status, Value) {
    (Status::Failed, json!({"code": code, "reason": reason}))
}

async fn handle(
    State(sim): State<Shared>,
    UrlPath(service): UrlPath<String>,
    body: Bytes,
) -> Response {
    let Some(service) = Service::parse(&service) else {
        return (StatusCode::NOT_FOUND, "no such service").into_response();
    };
    let req: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad envelope: {e}")).into_response(),
    };
    if req.service != service || req.message_id.parse::<kiosk_egov::MessageId>().is_err() {
        return (StatusCode::BAD_REQUEST, "bad envelope").into_response();
    }
    let fault = sim.lock().map(|s| s.fault.clone()).unwrap_or_default();
    let agency = req.body["agency"].as_str().map(str::to_owned);
    let scoped = match &fault.agency {
        None => true,
        Some(a) => agency.as_deref() == Some(a.as_str()),
    };
    if fault.agency.is_some() && scoped && service == Service::FetchDocument && fault.mode != "none"
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "backend-down", "agency": fault.agency})),
        )
            .into_response();
    }
    let mode = if fault.agency.is_none() {
        fault.mode.as_str()
    } else {
        "none"
    };
    match mode {
        "down" => return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
        "5xx" => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "simulated server error").into_response();
        }
        "slow" => tokio::time::sleep(Duration::from_millis(fault.slow_ms.unwrap_or(500))).await,
        "malformed" => return (StatusCode::OK, "{\"message_id\": \"not json").into_response(),
        _ => {}
    }
    let reply = {
        let Ok(mut s) = sim.lock() else {
            return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned").into_response();
        };
        s.requests += 1;
        s.answer(&req, &body)
    };
    match mode {
        "bad-signature" => {
            let mut r: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
            r["signature"] = json!("00".repeat(64));
            return json_response(serde_json::to_vec(&r).unwrap_or_default());
        }
        "timeout-after-work" => {
            // The work is recorded; the answer never comes (the client gives up).
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "truncated" => {
            // Promise the whole reply, send half, and hang up.
            let half = reply[..reply.len() / 2].to_vec();
            let stream = futures_body(half);
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, reply.len())
                .body(stream)
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
        _ => {}
    }
    json_response(reply)
}

/// A body that yields `bytes` and then fails, so the connection is cut mid-reply.
fn futures_body(bytes: Vec<u8>) -> Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        vec![Ok(Bytes::from(bytes)), Err(std::io::Error::other("cut"))];
    Body::from_stream(futures_util::stream::iter(chunks))
}

fn json_response(bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

impl Sim {
    /// The signed reply to a request; a repeated message id gets its first reply.
    fn answer(&mut self, req: &Request, raw: &[u8]) -> Vec<u8> {
        if let Some(a) = self.answered.get(&req.message_id) {
            return a.reply.clone();
        }
        let (status, body) = match req.service {
            Service::VerifyIdentity => self.verify(&req.body),
            Service::FetchDocument => self.fetch(&req.body),
            Service::ConfirmIssued => self.report(&req.body, true),
            Service::CancelIssue => self.report(&req.body, false),
            Service::MessageStatus => self.status_of(&req.body),
        };
        let issue = body["issue_number"].as_str().map(str::to_owned);
        let reply = wire::sign_reply(&self.key, &req.message_id, raw, status, body);
        let bytes = serde_json::to_vec(&reply).unwrap_or_default();
        if req.service != Service::MessageStatus {
            self.answered.insert(
                req.message_id.clone(),
                Answered {
                    status,
                    reply: bytes.clone(),
                    request_sha256: Sha256::digest(raw).into(),
                    issue,
                },
            );
            self.order.push_back(req.message_id.clone());
            while self.order.len() > REMEMBERED {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                self.answered.remove(&old);
            }
        }
        bytes
    }

    fn verify(&mut self, b: &Value) -> (Status, Value) {
        let rrn = b["resident_number"].as_str().unwrap_or_default();
        let fp = b["fingerprint"].as_str().and_then(|h| hex::decode(h).ok());
        let Some((who, p)) = self.population.by_rrn(rrn) else {
            return failed("fingerprint-mismatch", "no such person or finger");
        };
        let matches = fp.as_deref() == Some(p.fingerprint.as_slice());
        if !matches || self.rng.random_bool(self.fail_rate) {
            return failed("fingerprint-mismatch", "the fingerprint did not match");
        }
        let token = format!("{:032x}", self.rng.random::<u128>());
        if self.tokens.len() > 10_000 {
            self.tokens.clear();
        }
        self.tokens.insert(token.clone(), who);
        (Status::Ok, json!({"token": token, "expires_in_s": 300}))
    }

    fn fetch(&mut self, b: &Value) -> (Status, Value) {
        let Some(code) = b["document"].as_str().and_then(|c| DocCode::new(c).ok()) else {
            return failed("bad-request", "no document type");
        };
        let Some(doc) = self.catalog.catalog().document(code.as_str()).cloned() else {
            return failed("unknown-document", "no such document type");
        };
        let Some(template) = self.templates.get(&code).cloned() else {
            return failed("unknown-document", "no template");
        };
        let data = match doc.requires {
            Requirement::Identity => {
                let Some(&who) = b["token"].as_str().and_then(|t| self.tokens.get(t)) else {
                    return failed("identity-required", "no valid identity token");
                };
                self.population.personal_data(&template, who)
            }
            Requirement::Address => {
                let Some(a) = b["address"].as_str().filter(|a| !a.trim().is_empty()) else {
                    return failed("address-required", "no parcel or building address");
                };
                self.population.property_data(&template, a)
            }
        };
        self.next_issue += 1;
        let issue = format!(
            "{:04}-{:04}-{:04}-{:04}",
            self.next_issue % 10_000,
            self.rng.random_range(0..10_000),
            self.rng.random_range(0..10_000),
            self.rng.random_range(0..10_000)
        );
        self.issues.insert(
            issue.clone(),
            Issue {
                document: code.to_string(),
                ..Issue::default()
            },
        );
        (
            Status::Ok,
            json!({"issue_number": issue, "fee": doc.fee.base.get(), "pages": 1, "data": data}),
        )
    }

    fn report(&mut self, b: &Value, confirm: bool) -> (Status, Value) {
        let Some(issue) = b["issue_number"].as_str() else {
            return failed("bad-request", "no issue number");
        };
        let Some(i) = self.issues.get_mut(issue) else {
            return failed("unknown-issue", "no such issue number");
        };
        match (confirm, i.confirmed > 0, i.canceled > 0) {
            (true, _, true) => return failed("already-canceled", "the issue was canceled"),
            (false, true, _) => return failed("already-confirmed", "the issue was printed"),
            (true, _, _) => {
                i.confirmed += 1;
                i.pages = b["pages"].as_u64().unwrap_or(0) as u32;
            }
            (false, _, _) => i.canceled += 1,
        }
        (Status::Ok, json!({"issue_number": issue}))
    }

    fn status_of(&self, b: &Value) -> (Status, Value) {
        let asked = b["asked"].as_str().unwrap_or_default();
        match self.answered.get(asked) {
            Some(a) if a.status == Status::Ok => (
                Status::Ok,
                json!({
                    "state": "completed",
                    "issue_number": a.issue,
                    "request_sha256": hex::encode(a.request_sha256),
                    "reply_sha256": hex::encode(Sha256::digest(&a.reply)),
                }),
            ),
            Some(_) => (Status::Ok, json!({"state": "failed"})),
            None => (Status::Ok, json!({"state": "not-received"})),
        }
    }
}

// ----- the admin side --------------------------------------------------------------------

type AdminState = (Shared, Arc<watch::Sender<u64>>);

async fn set_fault(State((sim, cut)): State<AdminState>, body: Bytes) -> Response {
    let f: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad fault: {e}")).into_response(),
    };
    if !MODES.contains(&f.mode.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            format!("modes: {}", MODES.join(", ")),
        )
            .into_response();
    }
    if f.slow_ms.is_some_and(|ms| ms > 600_000) {
        return (StatusCode::BAD_REQUEST, "slow_ms: at most 600000").into_response();
    }
    let down = f.mode == "down" && f.agency.is_none();
    warn!(mode = %f.mode, agency = ?f.agency, "fault mode");
    if let Ok(mut s) = sim.lock() {
        s.fault = f.clone();
    }
    if down {
        cut.send_modify(|g| *g += 1);
    }
    axum::Json(json!({"ok": true, "fault": f})).into_response()
}

async fn get_fault(State((sim, _)): State<AdminState>) -> Response {
    let f = sim.lock().map(|s| s.fault.clone()).unwrap_or_default();
    axum::Json(f).into_response()
}

#[derive(Deserialize)]
struct Limit {
    #[serde(default)]
    limit: Option<usize>,
}

async fn people(State((sim, _)): State<AdminState>, Query(q): Query<Limit>) -> Response {
    let n = q.limit.unwrap_or(20).min(100_000);
    let list: Vec<Value> = sim
        .lock()
        .map(|s| {
            s.population
                .people()
                .iter()
                .take(n)
                .map(|p| {
                    json!({
                        "resident_number": format!("{}-{}", &p.rrn[..6], &p.rrn[6..]),
                        "name": p.name,
                        "fingerprint": hex::encode(&p.fingerprint),
                        "household": p.household,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    axum::Json(list).into_response()
}

async fn issued(State((sim, _)): State<AdminState>) -> Response {
    let v = sim
        .lock()
        .map(|s| json!({"requests": s.requests, "issues": s.issues}))
        .unwrap_or(Value::Null);
    axum::Json(v).into_response()
}
