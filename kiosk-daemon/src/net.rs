//! The e-government network as the orchestrator sees it ([`Network`]): the kiosk-egov
//! client behind it, plus the simulated fingerprint scanner's template lookup.

use kiosk_core::IssueNumber;
use std::time::Duration;
use zeroize::Zeroizing;

use crate::config::Validated;
use crate::ports::{
    Evidence, FetchRequest, FetchedDocument, MessageFate, NetFailure, NetOutcome, Network,
};

/// Bound of a simulator reply read by the simulated scanner.
const MAX_PEOPLE_REPLY: usize = 4 << 20;

/// The simulated scanner: the synthetic template of the person with this resident number,
/// published by egov-sim's admin endpoint (synthetic data only).
pub async fn simulated_template(url: &str, rrn: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let body = client
        .get(format!("{url}?limit=100000"))
        .send()
        .await
        .map_err(|e| format!("scanner: {e}"))?
        .bytes()
        .await
        .map_err(|e| format!("scanner: {e}"))?;
    if body.len() > MAX_PEOPLE_REPLY {
        return Err("scanner: reply too large".into());
    }
    let people: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("scanner: {e}"))?;
    let list = people
        .as_array()
        .or_else(|| people.get("people").and_then(|p| p.as_array()))
        .ok_or("scanner: no list of people")?;
    let digits: String = rrn.chars().filter(char::is_ascii_digit).collect();
    for p in list {
        let r = p
            .get("resident_number")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let r: String = r.chars().filter(char::is_ascii_digit).collect();
        if r == digits {
            let hex_t = p
                .get("fingerprint")
                .or_else(|| p.get("fingerprint_hex"))
                .and_then(|v| v.as_str())
                .ok_or("scanner: no template")?;
            return hex::decode(hex_t)
                .map(Zeroizing::new)
                .map_err(|e| format!("scanner: {e}"));
        }
    }
    // Nobody with that number: an unknown finger (the network will not match it).
    Ok(Zeroizing::new(vec![0u8; 32]))
}

/// The kiosk-egov client as the orchestrator's [`Network`].
pub struct EgovNet {
    client: kiosk_egov::EgovClient,
}

impl EgovNet {
    /// Builds the client from the configuration (certificates, pinned CA, timeouts).
    pub fn new(cfg: &Validated) -> anyhow::Result<EgovNet> {
        let e = &cfg.raw.egov;
        crate::secrets::check_private(&e.client_key, "the e-government client key")?;
        let client = kiosk_egov::EgovClient::new(kiosk_egov::EgovConfig {
            endpoint: e.endpoint.clone(),
            ca_cert: e.ca_cert.clone(),
            client_cert: e.client_cert.clone(),
            client_key: e.client_key.clone(),
            authority_key: e.authority_key.clone(),
            kiosk_id: cfg.raw.kiosk.id.clone(),
            connect_timeout: Duration::from_millis(e.connect_timeout_ms),
            request_timeout: Duration::from_millis(e.request_timeout_ms),
            max_attempts: e.max_attempts,
            backoff_base: Duration::from_millis(100),
            breaker: kiosk_egov::BreakerConfig {
                failures_to_open: e.breaker_failures,
                open_for: Duration::from_secs(e.breaker_open_s),
            },
        })
        .map_err(|e| anyhow::anyhow!("e-government client: {e}"))?;
        Ok(EgovNet { client })
    }
}

fn id(s: &str) -> Option<kiosk_egov::MessageId> {
    s.parse().ok()
}

fn failure(f: kiosk_egov::Failure) -> NetFailure {
    use kiosk_egov::Failure as F;
    match f {
        F::FingerprintMismatch => NetFailure::FingerprintMismatch,
        F::Refused { code, reason } => NetFailure::Refused(format!("{code}: {reason}")),
        F::NetworkDown => NetFailure::NetworkDown,
        F::BackendDown { agency } => NetFailure::BackendDown(agency),
        F::BadReply(r) => NetFailure::BadReply(r),
        F::CircuitOpen { agency: Some(a) } => NetFailure::BackendDown(a),
        F::CircuitOpen { agency: None } => NetFailure::NetworkDown,
        #[allow(unreachable_patterns)]
        _ => NetFailure::Refused("unknown failure".into()),
    }
}

fn outcome<T, U>(o: kiosk_egov::Outcome<T>, f: impl FnOnce(T) -> U) -> NetOutcome<U> {
    match o {
        kiosk_egov::Outcome::Ok(t) => NetOutcome::Ok(f(t)),
        kiosk_egov::Outcome::Failed(e) => NetOutcome::Failed(failure(e)),
        kiosk_egov::Outcome::Unknown => NetOutcome::Unknown,
    }
}

fn evidence(e: &kiosk_egov::Evidence) -> Evidence {
    Evidence {
        request_sha256: e.request_sha256,
        reply_sha256: e.reply_sha256,
    }
}

impl Network for EgovNet {
    async fn verify_identity(
        &self,
        msg: &str,
        rrn: &str,
        template: &[u8],
    ) -> NetOutcome<Zeroizing<String>> {
        let Some(msg) = id(msg) else {
            return NetOutcome::Failed(NetFailure::BadReply("bad message id".into()));
        };
        let Ok(rrn) = rrn.parse::<kiosk_egov::ResidentNumber>() else {
            return NetOutcome::Failed(NetFailure::FingerprintMismatch);
        };
        let Ok(fp) = kiosk_egov::FingerprintTemplate::new(template.to_vec()) else {
            return NetOutcome::Failed(NetFailure::FingerprintMismatch);
        };
        let o = self.client.verify_identity(msg, &rrn, &fp).await;
        outcome(o, |t| Zeroizing::new(t.as_str().to_owned()))
    }

    async fn fetch_document(&self, msg: &str, req: &FetchRequest) -> NetOutcome<FetchedDocument> {
        let Some(msg) = id(msg) else {
            return NetOutcome::Failed(NetFailure::BadReply("bad message id".into()));
        };
        let subject = match (&req.token, &req.address) {
            (Some(t), _) => {
                kiosk_egov::Subject::Identity(kiosk_egov::IdentityToken::from_opaque(t))
            }
            (None, Some(a)) => kiosk_egov::Subject::Address { parcel: a.clone() },
            (None, None) => {
                return NetOutcome::Failed(NetFailure::Refused("no identity or address".into()));
            }
        };
        let r = kiosk_egov::FetchRequest {
            code: req.code.clone(),
            agency: req.agency.clone(),
            options: req.options.clone(),
            subject,
        };
        let o = self.client.fetch_document(msg, &r).await;
        outcome(o, |d| FetchedDocument {
            issue: d.issue_number,
            fee: d.fee,
            data: d.data,
            evidence: evidence(&d.evidence),
        })
    }

    async fn confirm_issued(
        &self,
        msg: &str,
        issue: &IssueNumber,
        pages: u32,
    ) -> NetOutcome<Evidence> {
        let Some(msg) = id(msg) else {
            return NetOutcome::Failed(NetFailure::BadReply("bad message id".into()));
        };
        outcome(self.client.confirm_issued(msg, issue, pages).await, |e| {
            evidence(&e)
        })
    }

    async fn cancel_issue(&self, msg: &str, issue: &IssueNumber) -> NetOutcome<Evidence> {
        let Some(msg) = id(msg) else {
            return NetOutcome::Failed(NetFailure::BadReply("bad message id".into()));
        };
        let o = self
            .client
            .cancel_issue(msg, issue, kiosk_egov::CancelReason::PrintFailed)
            .await;
        outcome(o, |e| evidence(&e))
    }

    async fn message_status(&self, msg: &str) -> NetOutcome<MessageFate> {
        let Some(msg) = id(msg) else {
            return NetOutcome::Failed(NetFailure::BadReply("bad message id".into()));
        };
        outcome(self.client.message_status(msg).await, |s| match s {
            kiosk_egov::MessageStatus::Completed { evidence: e, .. } => {
                MessageFate::Completed(e.issue_number.clone(), evidence(&e))
            }
            kiosk_egov::MessageStatus::Failed => MessageFate::Failed,
            kiosk_egov::MessageStatus::NotReceived => MessageFate::NotReceived,
        })
    }

    fn agency_available(&self, agency: &str) -> bool {
        self.client.backend_available(agency)
    }

    fn network_available(&self) -> bool {
        self.client.health().network_available()
    }
}
