//! The client: one HTTPS connection pool with mutual TLS, bounded retries, breakers.

use ed25519_dalek::VerifyingKey;
use kiosk_core::{IssueNumber, Won};
use rand::Rng;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, warn};
use zeroize::Zeroizing;

use crate::breaker::{Breaker, BreakerConfig};
use crate::types::{
    CancelReason, Evidence, Failure, FetchRequest, FetchedDocument, FingerprintTemplate,
    IdentityToken, MessageId, MessageStatus, Outcome, ResidentNumber, Subject,
};
use crate::wire::{self, Request, Service, Status};

/// How to reach the network.
#[derive(Debug, Clone)]
pub struct EgovConfig {
    /// `https://host:port`.
    pub endpoint: String,
    /// The network's CA certificate (PEM), pinned: the only trust anchor.
    pub ca_cert: PathBuf,
    /// The kiosk's certificate (PEM).
    pub client_cert: PathBuf,
    /// The kiosk's private key (PEM).
    pub client_key: PathBuf,
    /// The issuing authority's ed25519 public key: 64 hex digits in a file.
    pub authority_key: PathBuf,
    /// Sent with every request.
    pub kiosk_id: String,
    /// Bound on the TCP + TLS connect.
    pub connect_timeout: Duration,
    /// Bound on one whole request.
    pub request_timeout: Duration,
    /// Attempts per call when nothing was sent or the server failed (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, with jitter.
    pub backoff_base: Duration,
    /// When breakers open.
    pub breaker: BreakerConfig,
}

/// The configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or parsed.
    #[error("{what} ({path}): {reason}")]
    File {
        /// Which file.
        what: &'static str,
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
}

fn file_err(what: &'static str, path: &Path, reason: impl ToString) -> ConfigError {
    ConfigError::File {
        what,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Breaker states, for the screen and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The network as a whole is reachable (its breaker is not open).
    pub network: bool,
    /// Agencies whose breaker is open.
    pub agencies_down: Vec<String>,
}

impl Health {
    /// Whether the network is reachable.
    pub fn network_available(&self) -> bool {
        self.network
    }
}

struct Inner {
    http: reqwest::Client,
    base: String,
    kiosk_id: String,
    authority: VerifyingKey,
    max_attempts: u32,
    backoff: Duration,
    breaker_config: BreakerConfig,
    network: Mutex<Breaker>,
    agencies: Mutex<HashMap<String, Breaker>>,
}

/// The client. Cheap to clone; clones share one connection pool and the breakers.
#[derive(Clone)]
pub struct EgovClient {
    inner: Arc<Inner>,
}

/// What one exchange produced before the service-specific decoding.
enum Exchange {
    /// A verified reply: status, body, evidence hashes.
    Reply(Status, Value, [u8; 32], [u8; 32]),
    /// Ended without a verified reply.
    Ended(Outcome<()>),
}

impl EgovClient {
    /// Reads the certificates and keys, builds the TLS configuration (the CA pinned, no
    /// system roots) and the connection pool.
    pub fn new(cfg: EgovConfig) -> Result<EgovClient, ConfigError> {
        if !cfg.endpoint.starts_with("https://") {
            return Err(ConfigError::Invalid("the endpoint must be https://".into()));
        }
        if !(1..=5).contains(&cfg.max_attempts) {
            return Err(ConfigError::Invalid("max_attempts: 1 to 5".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        let cas = CertificateDer::pem_file_iter(&cfg.ca_cert)
            .map_err(|e| file_err("CA certificate", &cfg.ca_cert, e))?;
        for c in cas {
            let c = c.map_err(|e| file_err("CA certificate", &cfg.ca_cert, e))?;
            roots
                .add(c)
                .map_err(|e| file_err("CA certificate", &cfg.ca_cert, e))?;
        }
        if roots.is_empty() {
            return Err(file_err("CA certificate", &cfg.ca_cert, "no certificate"));
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.client_cert)
            .map_err(|e| file_err("kiosk certificate", &cfg.client_cert, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_err("kiosk certificate", &cfg.client_cert, e))?;
        let key = PrivateKeyDer::from_pem_file(&cfg.client_key)
            .map_err(|e| file_err("kiosk key", &cfg.client_key, e))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| ConfigError::Tls(e.to_string()))?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let hexkey = std::fs::read_to_string(&cfg.authority_key)
            .map_err(|e| file_err("authority key", &cfg.authority_key, e))?;
        let authority = hex::decode(hexkey.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| {
                file_err(
                    "authority key",
                    &cfg.authority_key,
                    "not 64 hex digits of an ed25519 key",
                )
            })?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Tls(e.to_string()))?;
        Ok(EgovClient {
            inner: Arc::new(Inner {
                http,
                base: cfg.endpoint.trim_end_matches('/').to_owned(),
                kiosk_id: cfg.kiosk_id,
                authority,
                max_attempts: cfg.max_attempts,
                backoff: cfg.backoff_base,
                breaker_config: cfg.breaker,
                network: Mutex::new(Breaker::new(cfg.breaker)),
                agencies: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The breakers' view.
    pub fn health(&self) -> Health {
        let now = Instant::now();
        let network = self
            .inner
            .network
            .lock()
            .map(|b| b.is_available(now))
            .unwrap_or(false);
        let mut agencies_down: Vec<String> = self
            .inner
            .agencies
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(_, b)| !b.is_available(now))
                    .map(|(a, _)| a.clone())
                    .collect()
            })
            .unwrap_or_default();
        agencies_down.sort();
        Health {
            network,
            agencies_down,
        }
    }

    /// Whether an agency's documents can be fetched now.
    pub fn backend_available(&self, agency: &str) -> bool {
        let now = Instant::now();
        self.inner
            .agencies
            .lock()
            .map(|m| m.get(agency).is_none_or(|b| b.is_available(now)))
            .unwrap_or(false)
    }

    /// Checks a resident number and a fingerprint.
    pub async fn verify_identity(
        &self,
        id: MessageId,
        rrn: &ResidentNumber,
        fingerprint: &FingerprintTemplate,
    ) -> Outcome<IdentityToken> {
        let body = json!({
            "resident_number": rrn.digits(),
            "fingerprint": hex::encode(fingerprint.bytes()),
        });
        match self.exchange(id, Service::VerifyIdentity, body, None).await {
            Exchange::Reply(Status::Ok, b, ..) => match b["token"].as_str() {
                Some(t) if !t.is_empty() && t.len() <= 256 => {
                    Outcome::Ok(IdentityToken::from_opaque(t))
                }
                _ => Outcome::Failed(Failure::BadReply("no identity token".into())),
            },
            Exchange::Reply(Status::Failed, b, ..) => match b["code"].as_str() {
                Some("fingerprint-mismatch") => Outcome::Failed(Failure::FingerprintMismatch),
                _ => Outcome::Failed(refused(&b)),
            },
            Exchange::Ended(o) => cast(o),
        }
    }

    /// Fetches a document's data, issue number and fee.
    pub async fn fetch_document(
        &self,
        id: MessageId,
        req: &FetchRequest,
    ) -> Outcome<FetchedDocument> {
        let mut body = json!({
            "document": req.code.as_str(),
            "agency": req.agency,
            "options": req.options,
        });
        match &req.subject {
            Subject::Identity(t) => body["token"] = json!(t.as_str()),
            Subject::Address { parcel } => body["address"] = json!(parcel),
        }
        match self
            .exchange(id, Service::FetchDocument, body, Some(&req.agency))
            .await
        {
            Exchange::Reply(Status::Ok, b, rq, rp) => match fetched(&b) {
                Ok((issue, fee, pages)) => Outcome::Ok(FetchedDocument {
                    evidence: Evidence {
                        message_id: id,
                        request_sha256: rq,
                        reply_sha256: rp,
                        issue_number: Some(issue.clone()),
                    },
                    issue_number: issue,
                    fee,
                    pages,
                    data: b["data"].clone(),
                }),
                Err(e) => Outcome::Failed(Failure::BadReply(e)),
            },
            Exchange::Reply(Status::Failed, b, ..) => Outcome::Failed(refused(&b)),
            Exchange::Ended(o) => cast(o),
        }
    }

    /// Reports a document printed.
    pub async fn confirm_issued(
        &self,
        id: MessageId,
        issue: &IssueNumber,
        pages: u32,
    ) -> Outcome<Evidence> {
        let body = json!({"issue_number": issue.as_str(), "pages": pages});
        self.report(id, Service::ConfirmIssued, body, issue).await
    }

    /// Reports a document not printed.
    pub async fn cancel_issue(
        &self,
        id: MessageId,
        issue: &IssueNumber,
        reason: CancelReason,
    ) -> Outcome<Evidence> {
        let body = json!({"issue_number": issue.as_str(), "reason": reason.as_str()});
        self.report(id, Service::CancelIssue, body, issue).await
    }

    async fn report(
        &self,
        id: MessageId,
        service: Service,
        body: Value,
        issue: &IssueNumber,
    ) -> Outcome<Evidence> {
        match self.exchange(id, service, body, None).await {
            Exchange::Reply(Status::Ok, _, rq, rp) => Outcome::Ok(Evidence {
                message_id: id,
                request_sha256: rq,
                reply_sha256: rp,
                issue_number: Some(issue.clone()),
            }),
            Exchange::Reply(Status::Failed, b, ..) => Outcome::Failed(refused(&b)),
            Exchange::Ended(o) => cast(o),
        }
    }

    /// Settles an unknown outcome: what became of message `asked`. (This question has its
    /// own message id; asking twice is harmless.)
    pub async fn message_status(&self, asked: MessageId) -> Outcome<MessageStatus> {
        let body = json!({"asked": asked.to_string()});
        match self
            .exchange(MessageId::new_v4(), Service::MessageStatus, body, None)
            .await
        {
            Exchange::Reply(Status::Ok, b, ..) => match b["state"].as_str() {
                Some("completed") => {
                    let hash = |k: &str| {
                        b[k].as_str()
                            .and_then(|h| hex::decode(h).ok())
                            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
                            .unwrap_or([0; 32])
                    };
                    let issue = b["issue_number"]
                        .as_str()
                        .and_then(|s| IssueNumber::new(s).ok());
                    Outcome::Ok(MessageStatus::Completed {
                        evidence: Evidence {
                            message_id: asked,
                            request_sha256: hash("request_sha256"),
                            reply_sha256: hash("reply_sha256"),
                            issue_number: issue,
                        },
                    })
                }
                Some("failed") => Outcome::Ok(MessageStatus::Failed),
                Some("not-received") => Outcome::Ok(MessageStatus::NotReceived),
                _ => Outcome::Failed(Failure::BadReply("unknown message state".into())),
            },
            Exchange::Reply(Status::Failed, b, ..) => Outcome::Failed(refused(&b)),
            Exchange::Ended(o) => cast(o),
        }
    }

    /// Sends one request with bounded retries; verifies the reply.
    async fn exchange(
        &self,
        id: MessageId,
        service: Service,
        body: Value,
        agency: Option<&str>,
    ) -> Exchange {
        let i = &self.inner;
        let now = Instant::now();
        if !i.network.lock().map(|mut b| b.allow(now)).unwrap_or(false) {
            return Exchange::Ended(Outcome::Failed(Failure::CircuitOpen { agency: None }));
        }
        if let Some(a) = agency {
            let allowed = i
                .agencies
                .lock()
                .map(|mut m| {
                    m.entry(a.to_owned())
                        .or_insert_with(|| Breaker::new(i.breaker_config))
                        .allow(now)
                })
                .unwrap_or(false);
            if !allowed {
                return Exchange::Ended(Outcome::Failed(Failure::CircuitOpen {
                    agency: Some(a.to_owned()),
                }));
            }
        }
        let request = Request {
            message_id: id.to_string(),
            kiosk_id: i.kiosk_id.clone(),
            service,
            body,
        };
        // The exact bytes sent are what the reply's signature binds; retries resend them.
        // They may hold a resident number and a fingerprint: the one buffer is shared by
        // every attempt (no copies) and wiped when the last attempt's body is dropped, and
        // the JSON tree they were serialized from is wiped now.
        let mut request = request;
        let bytes = Zeroizing::new(serde_json::to_vec(&request).unwrap_or_default());
        wipe_json(&mut request.body);
        let bytes = bytes::Bytes::from_owner(bytes);
        let url = format!("{}/v1/{}", i.base, service.as_str());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let sent = i
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(bytes.clone())
                .send()
                .await;
            let retry = match sent {
                Err(e) if e.is_connect() => {
                    debug!(%id, service = service.as_str(), attempt, "connect failed");
                    Some(Failure::NetworkDown)
                }
                Err(e) => {
                    // Sent, then the answer did not come: the work may have been done. The
                    // same message id is safe to send again (the network answers a repeated
                    // id with its first reply); if every attempt ends so, it is unknown.
                    warn!(%id, service = service.as_str(), attempt, timeout = e.is_timeout(), error = %error_chain(&e), "no answer");
                    None
                }
                Ok(r) => {
                    let status = r.status();
                    let reply = match read_bounded(r, wire::MAX_REPLY).await {
                        Ok(b) => b,
                        Err(_) => {
                            warn!(%id, service = service.as_str(), attempt, "reply cut off");
                            if attempt >= i.max_attempts {
                                self.network_failed();
                                return Exchange::Ended(Outcome::Unknown);
                            }
                            tokio::time::sleep(i.backoff).await;
                            continue;
                        }
                    };
                    debug!(%id, service = service.as_str(), ms = started.elapsed().as_millis() as u64, status = status.as_u16(), "reply");
                    if status.as_u16() == 503 {
                        let b: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
                        if b["error"] == "backend-down" {
                            let a = agency.unwrap_or_default().to_owned();
                            self.agency_failed(&a);
                            self.network_ok();
                            return Exchange::Ended(Outcome::Failed(Failure::BackendDown {
                                agency: a,
                            }));
                        }
                        Some(Failure::Refused {
                            code: "server-error".into(),
                            reason: format!("HTTP {status}"),
                        })
                    } else if status.is_server_error() {
                        Some(Failure::Refused {
                            code: "server-error".into(),
                            reason: format!("HTTP {status}"),
                        })
                    } else if !status.is_success() {
                        self.network_ok();
                        return Exchange::Ended(Outcome::Failed(Failure::Refused {
                            code: format!("http-{}", status.as_u16()),
                            reason: String::from_utf8_lossy(&reply[..reply.len().min(200)])
                                .into_owned(),
                        }));
                    } else {
                        return match wire::decode_reply(
                            &bytes,
                            &reply,
                            &i.authority,
                            &request.message_id,
                        ) {
                            Ok((st, b)) => {
                                self.network_ok();
                                if let Some(a) = agency {
                                    self.agency_ok(a);
                                }
                                Exchange::Reply(
                                    st,
                                    b,
                                    Sha256::digest(&bytes).into(),
                                    Sha256::digest(&reply).into(),
                                )
                            }
                            Err(e) => {
                                warn!(%id, service = service.as_str(), error = %e, "reply refused");
                                Exchange::Ended(Outcome::Failed(Failure::BadReply(e.to_string())))
                            }
                        };
                    }
                }
            };
            if attempt >= i.max_attempts {
                self.network_failed();
                return Exchange::Ended(match retry {
                    Some(failure) => Outcome::Failed(failure),
                    None => Outcome::Unknown,
                });
            }
            // Exponential backoff with jitter, bounded by the attempts.
            let base = i.backoff.saturating_mul(1 << (attempt - 1).min(6));
            let jitter = rand::rng().random_range(0..=base.as_millis().min(1000) as u64 / 2);
            tokio::time::sleep(base + Duration::from_millis(jitter)).await;
        }
    }

    fn network_ok(&self) {
        if let Ok(mut b) = self.inner.network.lock() {
            b.on_success();
        }
    }

    fn network_failed(&self) {
        if let Ok(mut b) = self.inner.network.lock() {
            b.on_failure(Instant::now());
        }
    }

    fn agency_ok(&self, a: &str) {
        if let Some(b) = self
            .inner
            .agencies
            .lock()
            .ok()
            .as_mut()
            .and_then(|m| m.get_mut(a))
        {
            b.on_success();
        }
    }

    fn agency_failed(&self, a: &str) {
        let cfg = self.inner.breaker_config;
        if let Ok(mut m) = self.inner.agencies.lock() {
            m.entry(a.to_owned())
                .or_insert_with(|| Breaker::new(cfg))
                .on_failure(Instant::now());
        }
    }
}

fn cast<T>(o: Outcome<()>) -> Outcome<T> {
    match o {
        Outcome::Ok(()) | Outcome::Unknown => Outcome::Unknown,
        Outcome::Failed(f) => Outcome::Failed(f),
    }
}

fn refused(b: &Value) -> Failure {
    let s = |k: &str| {
        b[k].as_str()
            .unwrap_or("unknown")
            .chars()
            .take(200)
            .collect::<String>()
    };
    Failure::Refused {
        code: s("code"),
        reason: s("reason"),
    }
}

/// The fields of a fetch reply, checked.
fn fetched(b: &Value) -> Result<(IssueNumber, Won, u32), String> {
    let issue = b["issue_number"]
        .as_str()
        .ok_or("no issue number")
        .and_then(|s| IssueNumber::new(s).map_err(|_| "bad issue number"))?;
    let fee = b["fee"].as_u64().ok_or("no fee")?;
    if fee > 1_000_000 {
        return Err(format!("fee {fee} out of range"));
    }
    let pages = b["pages"].as_u64().ok_or("no page count")?;
    if !(1..=50).contains(&pages) {
        return Err(format!("{pages} pages out of range"));
    }
    if !b["data"].is_object() {
        return Err("no document data".into());
    }
    Ok((issue, Won::new(fee), pages as u32))
}

/// An error with its causes, for the log (no request content is in them).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Reads a reply body, but never more than `max` bytes and one: a body larger than that is
/// cut there (and then refused as too large by the decoder) instead of read whole into
/// memory first. A body announced larger than `max` is not read at all.
async fn read_bounded(mut r: reqwest::Response, max: usize) -> Result<Vec<u8>, reqwest::Error> {
    if r.content_length().is_some_and(|n| n > max as u64) {
        return Ok(vec![0; max + 1]);
    }
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await? {
        let room = (max + 1).saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() > max {
            break;
        }
    }
    Ok(out)
}

/// Overwrites every string of a JSON tree (a resident number, a fingerprint in hex) before
/// it is dropped: `serde_json` frees its strings without wiping them.
pub(crate) fn wipe_json(v: &mut Value) {
    use zeroize::Zeroize;
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe_json),
        Value::Object(o) => o.values_mut().for_each(wipe_json),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wipe_json_blanks_every_string_of_the_tree() {
        let mut v = serde_json::json!({
            "resident_number": "9001011234567",
            "nested": [{"fingerprint": "a1b2"}, 7, null, true],
        });
        super::wipe_json(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("9001011234567") && !text.contains("a1b2"),
            "{text}"
        );
        assert!(text.contains('7'), "numbers are not personal data: {text}");
    }
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers one request with `body_len` bytes, chunked (no length
    /// announced) or with a Content-Length.
    async fn serve_once(body_len: usize, announce: bool) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let head = if announce {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\n\r\n")
            } else {
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()
            };
            let _ = s.write_all(head.as_bytes()).await;
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = body_len;
            while left > 0 {
                let n = left.min(chunk.len());
                let r = if announce {
                    s.write_all(&chunk[..n]).await
                } else {
                    let mut c = format!("{n:x}\r\n").into_bytes();
                    c.extend_from_slice(&chunk[..n]);
                    c.extend_from_slice(b"\r\n");
                    s.write_all(&c).await
                };
                if r.is_err() {
                    return; // the client stopped reading: what the bound is for
                }
                left -= n;
            }
            if !announce {
                let _ = s.write_all(b"0\r\n\r\n").await;
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn a_reply_is_read_no_further_than_the_bound() {
        let max = 100_000;
        for announce in [false, true] {
            let url = serve_once(8 * max, announce).await;
            let r = reqwest::get(&url).await.unwrap();
            let got = read_bounded(r, max).await.unwrap();
            assert_eq!(got.len(), max + 1, "announce {announce}");
            let url = serve_once(max / 2, announce).await;
            let r = reqwest::get(&url).await.unwrap();
            assert_eq!(read_bounded(r, max).await.unwrap().len(), max / 2);
        }
    }
}
