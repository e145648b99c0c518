//! The local API of docs/LOCAL-API.md: HTTP + server-sent events on 127.0.0.1.
//!
//! Thin by design: every request is validated here (shape, sizes), then handed to the
//! orchestrator as one [`ApiRequest`]; the answer is the orchestrator's. State flows back
//! through the watch channel as `state` events. The touchscreen's static files are served
//! from the same origin.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use zeroize::Zeroizing;

use crate::kiosk::{ApiError, ApiRequest, Handle};
use crate::metrics::Metrics;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The orchestrator.
    pub kiosk: Handle,
    /// The document list (built once at start: it changes only with the catalog).
    pub documents: Arc<serde_json::Value>,
    /// The touchscreen's files.
    pub ui_dir: PathBuf,
    /// Spoken audio, cached.
    pub speech: Arc<SpeechCache>,
    /// The `Host` values this API answers to (see [`loopback_hosts`]).
    pub hosts: Arc<Vec<String>>,
    /// Event streams open now (at most [`MAX_STREAMS`]).
    pub streams: Arc<std::sync::atomic::AtomicUsize>,
}

/// The `Host` header values of an API bound to `addr`: the address itself and
/// `localhost` with the same port. Anything else is another name pointing at the kiosk
/// (DNS rebinding) and is refused.
pub fn loopback_hosts(addr: std::net::SocketAddr) -> Vec<String> {
    let port = addr.port();
    vec![addr.to_string(), format!("localhost:{port}")]
}

/// Why a request is refused before it reaches a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The `Host` is not the API's own (DNS rebinding).
    ForeignHost,
    /// The `Origin` is another site's (a page elsewhere posting to the kiosk).
    ForeignOrigin,
    /// A body that is not `application/json` (what a form or a no-cors fetch can send).
    NotJson,
}

/// Whether a request may reach the API: the pure rule behind the middleware. A browser
/// always sends `Origin` on a cross-site POST and cannot forge `Host`, so the kiosk's own
/// page passes and another page, or another name for 127.0.0.1, does not.
pub fn admit(
    method: &axum::http::Method,
    host: Option<&str>,
    origin: Option<&str>,
    content_type: Option<&str>,
    has_body: bool,
    allowed: &[String],
) -> Result<(), Refusal> {
    let host = host.ok_or(Refusal::ForeignHost)?;
    if !allowed.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(Refusal::ForeignHost);
    }
    if let Some(o) = origin {
        let own = o
            .strip_prefix("http://")
            .is_some_and(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h)));
        if !own {
            return Err(Refusal::ForeignOrigin);
        }
    }
    let writes = !matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if writes && has_body {
        let json = content_type
            .and_then(|c| c.split(';').next())
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(Refusal::NotJson);
        }
    }
    Ok(())
}

async fn guard(
    State(st): State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let h = req.headers();
    let text = |name| h.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let has_body = text(header::CONTENT_LENGTH).is_some_and(|l| l != "0")
        || h.contains_key(header::TRANSFER_ENCODING);
    match admit(
        req.method(),
        text(header::HOST),
        text(header::ORIGIN),
        text(header::CONTENT_TYPE),
        has_body,
        &st.hosts,
    ) {
        Ok(()) => next.run(req).await,
        Err(Refusal::ForeignHost) => error(421, "foreign-host", "not this kiosk's address"),
        Err(Refusal::ForeignOrigin) => error(403, "foreign-origin", "not this kiosk's page"),
        Err(Refusal::NotJson) => error(415, "not-json", "bodies are application/json"),
    }
}

/// How often the event stream proves it is alive.
const PING: Duration = Duration::from_secs(15);

/// Bodies are small JSON objects.
const MAX_BODY: usize = 4 * 1024;

/// The router of the local API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/state", get(get_state))
        .route("/api/v1/documents", get(get_documents))
        .route("/api/v1/events", get(events))
        .route("/api/v1/session", post(begin))
        .route("/api/v1/session/basket", post(add))
        .route("/api/v1/session/basket/{line}", delete(remove))
        .route("/api/v1/session/confirm", post(confirm))
        .route("/api/v1/session/identity", post(identity))
        .route("/api/v1/session/more-time", post(more_time))
        .route("/api/v1/session/receipt", post(receipt))
        .route("/api/v1/session/cancel", post(cancel))
        .route("/api/v1/session/finish", post(finish))
        .route("/api/v1/help", post(help))
        .route("/api/v1/speech", get(speech))
        .route("/", get(index))
        .route("/{*path}", get(static_file))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The metrics router (its own loopback port).
pub fn metrics_router(m: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let m = m.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.render(),
                )
            }
        }),
    )
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let s = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (s, axum::Json(json!({"error": code, "message": message}))).into_response()
}

async fn answer(st: &ApiState, req: ApiRequest) -> Response {
    match st.kiosk.call(req).await {
        Ok(()) => axum::Json(&*st.kiosk.view.borrow()).into_response(),
        Err(ApiError {
            status,
            code,
            message,
        }) => error(status, code, &message),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(error(400, "bad-request", &e.to_string())))
}

async fn get_state(State(st): State<ApiState>) -> Response {
    axum::Json(&*st.kiosk.view.borrow()).into_response()
}

async fn get_documents(State(st): State<ApiState>) -> Response {
    let down = st.kiosk.view.borrow().kiosk.unavailable_agencies.clone();
    let mut docs = (*st.documents).clone();
    if let Some(list) = docs.get_mut("documents").and_then(|d| d.as_array_mut()) {
        for d in list {
            let agency = d.get("agency").and_then(|a| a.as_str()).unwrap_or_default();
            let available = !down.iter().any(|a| a == agency);
            d["available"] = serde_json::Value::Bool(available);
        }
    }
    axum::Json(docs).into_response()
}

/// Event streams open at once: the touchscreen needs one (two across a reload); each holds
/// a connection and a task for as long as the client keeps it.
pub const MAX_STREAMS: usize = 8;

/// Counts one open event stream until it is dropped.
struct StreamSlot(Arc<std::sync::atomic::AtomicUsize>);

impl StreamSlot {
    fn take(n: &Arc<std::sync::atomic::AtomicUsize>) -> Option<StreamSlot> {
        use std::sync::atomic::Ordering;
        n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
            (v < MAX_STREAMS).then_some(v + 1)
        })
        .ok()
        .map(|_| StreamSlot(n.clone()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn events(State(st): State<ApiState>) -> Response {
    let Some(slot) = StreamSlot::take(&st.streams) else {
        return error(503, "too-many-streams", "too many event streams are open");
    };
    let states = WatchStream::new(st.kiosk.view.clone()).map(|s| {
        Ok(SseEvent::default()
            .event("state")
            .data(serde_json::to_string(&s).unwrap_or_default()))
    });
    let devices = BroadcastStream::new(st.kiosk.devices.subscribe()).filter_map(|d| {
        d.ok().map(|d| {
            Ok(SseEvent::default()
                .event("device")
                .data(serde_json::to_string(&d).unwrap_or_default()))
        })
    });
    // A named ping event the page can see (comment lines are hidden from EventSource), so
    // the touchscreen notices a dead connection; the keep-alive comment stays for proxies.
    let pings = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        tokio::time::Instant::now() + PING,
        PING,
    ))
    .map(move |_| {
        // The slot lives as long as the stream: dropped with it when the client goes.
        let _held = &slot;
        Ok::<_, Infallible>(SseEvent::default().event("ping").data("{}"))
    });
    Sse::new(states.merge(devices).merge(pings))
        .keep_alive(KeepAlive::new().interval(PING).text("ping"))
        .into_response()
}

async fn begin(State(st): State<ApiState>) -> Response {
    answer(&st, ApiRequest::Begin).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    code: String,
    #[serde(default = "one")]
    copies: u8,
    #[serde(default)]
    options: BTreeMap<String, String>,
    #[serde(default)]
    address: Option<String>,
}

fn one() -> u8 {
    1
}

async fn add(State(st): State<ApiState>, body: Bytes) -> Response {
    let b: AddBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if b.code.len() > 24 || b.options.len() > 8 {
        return error(400, "bad-request", "code or options too long");
    }
    answer(
        &st,
        ApiRequest::Add {
            code: b.code,
            copies: b.copies,
            options: b.options,
            address: b.address,
        },
    )
    .await
}

async fn remove(State(st): State<ApiState>, UrlPath(line): UrlPath<String>) -> Response {
    match line.parse::<usize>() {
        Ok(n) => answer(&st, ApiRequest::Remove(n)).await,
        Err(_) => error(400, "bad-request", "line must be a number"),
    }
}

async fn confirm(State(st): State<ApiState>) -> Response {
    answer(&st, ApiRequest::Confirm).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityBody {
    resident_number: String,
}

async fn identity(State(st): State<ApiState>, body: Bytes) -> Response {
    // The body holds a resident number: parsed straight from the request's buffer, which
    // is wiped afterwards when nothing else shares it (else from a copy that is), never
    // logged.
    let parsed: Result<IdentityBody, _> = match body.try_into_mut() {
        Ok(mut own) => {
            let r = serde_json::from_slice(&own);
            zeroize::Zeroize::zeroize(&mut own[..]);
            r
        }
        Err(shared) => serde_json::from_slice(&Zeroizing::new(shared.to_vec())),
    };
    let b: IdentityBody = match parsed {
        Ok(b) => b,
        Err(_) => {
            return error(
                400,
                "bad-request",
                "expected {\"resident_number\": \"...\"}",
            );
        }
    };
    let rrn = Zeroizing::new(b.resident_number);
    answer(&st, ApiRequest::Identity(rrn)).await
}

async fn more_time(State(st): State<ApiState>) -> Response {
    answer(&st, ApiRequest::MoreTime).await
}

async fn receipt(State(st): State<ApiState>) -> Response {
    answer(&st, ApiRequest::Receipt).await
}

async fn cancel(State(st): State<ApiState>) -> Response {
    answer(&st, ApiRequest::Cancel).await
}

async fn finish(State(st): State<ApiState>) -> Response {
    answer(&st, ApiRequest::Finish).await
}

async fn help(State(st): State<ApiState>) -> Response {
    answer(&st, ApiRequest::Help).await
}

// ----- speech ---------------------------------------------------------------------------

/// Spoken audio by (language, rate, text), bounded twice: by the bytes it keeps (the oldest
/// go first) and by the syntheses running at once (more are refused, not queued), so a
/// flood of distinct long texts can neither grow the daemon nor fork it into the ground.
pub struct SpeechCache {
    kept: Mutex<Kept>,
    synthesis: Arc<tokio::sync::Semaphore>,
    max_bytes: usize,
}

#[derive(Default)]
struct Kept {
    map: HashMap<SpeechKey, Arc<Vec<u8>>>,
    order: std::collections::VecDeque<SpeechKey>,
    bytes: usize,
}

impl Default for SpeechCache {
    fn default() -> Self {
        SpeechCache::new(SPEECH_CACHE_BYTES, SPEECH_AT_ONCE)
    }
}

impl SpeechCache {
    /// A cache of at most `max_bytes` of audio and `at_once` syntheses running.
    pub fn new(max_bytes: usize, at_once: usize) -> SpeechCache {
        SpeechCache {
            kept: Mutex::new(Kept::default()),
            synthesis: Arc::new(tokio::sync::Semaphore::new(at_once)),
            max_bytes,
        }
    }

    fn get(&self, key: &SpeechKey) -> Option<Arc<Vec<u8>>> {
        self.kept.lock().ok().and_then(|k| k.map.get(key).cloned())
    }

    /// Keeps `wav` under `key`, dropping the oldest entries until it fits. Audio larger
    /// than the whole bound is served once and not kept.
    fn put(&self, key: SpeechKey, wav: Arc<Vec<u8>>) {
        if wav.len() > self.max_bytes {
            return;
        }
        let Ok(mut k) = self.kept.lock() else { return };
        if k.map.contains_key(&key) {
            return;
        }
        while k.bytes + wav.len() > self.max_bytes {
            let Some(old) = k.order.pop_front() else {
                break;
            };
            if let Some(w) = k.map.remove(&old) {
                k.bytes -= w.len();
            }
        }
        k.bytes += wav.len();
        k.order.push_back(key.clone());
        k.map.insert(key, wav);
        debug_assert!(k.bytes <= self.max_bytes && k.map.len() == k.order.len());
    }

    /// Audio kept now, in bytes.
    pub fn bytes(&self) -> usize {
        self.kept.lock().map_or(0, |k| k.bytes)
    }

    /// A permit to run one synthesis, or `None` when as many run as allowed.
    fn permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.synthesis.clone().try_acquire_owned().ok()
    }
}

/// (voice, words per minute, text).
type SpeechKey = (String, u16, String);

/// Audio kept: the screens' few hundred sentences at normal rate take a few MB.
const SPEECH_CACHE_BYTES: usize = 24 << 20;
/// Syntheses (espeak-ng processes) at once; more answer 503 at once.
const SPEECH_AT_ONCE: usize = 2;
/// Longest text spoken at once.
const SPEECH_CHARS: usize = 500;

#[derive(Deserialize)]
struct SpeechQuery {
    lang: String,
    #[serde(default)]
    rate: Option<f32>,
    text: String,
}

async fn speech(State(st): State<ApiState>, Query(q): Query<SpeechQuery>) -> Response {
    let voice = match q.lang.as_str() {
        "ko" => "ko",
        "en" => "en",
        "zh" => "cmn",
        "vi" => "vi",
        _ => return error(400, "bad-request", "lang: ko, en, zh or vi"),
    };
    let rate = q.rate.unwrap_or(1.0);
    if !(0.5..=2.0).contains(&rate) {
        return error(400, "bad-request", "rate: 0.5 to 2.0");
    }
    let n = q.text.chars().count();
    if n == 0 || n > SPEECH_CHARS || q.text.chars().any(char::is_control) {
        return error(400, "bad-request", "text: 1 to 500 printable characters");
    }
    // Words per minute for espeak-ng (its default is 175).
    let wpm = (175.0 * rate).round() as u16;
    let key = (voice.to_owned(), wpm, q.text.clone());
    let wav = match st.speech.get(&key) {
        Some(w) => w,
        None => {
            let Some(_permit) = st.speech.permit() else {
                return error(503, "speech-busy", "the speech engine is busy");
            };
            let out = tokio::process::Command::new("espeak-ng")
                .args(["-v", voice, "-s", &wpm.to_string(), "--stdout", "--"])
                .arg(&q.text)
                .kill_on_drop(true)
                .output();
            let out = match tokio::time::timeout(Duration::from_secs(5), out).await {
                Ok(Ok(o)) if o.status.success() && !o.stdout.is_empty() => o.stdout,
                _ => return error(503, "no-speech", "the speech engine is not available"),
            };
            let w = Arc::new(out);
            st.speech.put(key, w.clone());
            w
        }
    };
    ([(header::CONTENT_TYPE, "audio/wav")], wav.as_ref().clone()).into_response()
}

// ----- static files ---------------------------------------------------------------------

async fn index(State(st): State<ApiState>) -> Response {
    serve(&st.ui_dir, Path::new("index.html")).await
}

async fn static_file(State(st): State<ApiState>, UrlPath(path): UrlPath<String>) -> Response {
    let p = Path::new(&path);
    let safe = path.len() <= 200
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && !path.starts_with("api/");
    if !safe {
        return error(404, "not-found", "no such file");
    }
    serve(&st.ui_dir, p).await
}

async fn serve(dir: &Path, rel: &Path) -> Response {
    let ty = match rel.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("wav") => "audio/wav",
        Some("woff2") => "font/woff2",
        Some("pdf") => "application/pdf",
        _ => return error(404, "not-found", "no such file"),
    };
    match tokio::fs::read(dir.join(rel)).await {
        Ok(bytes) => {
            let mut r = bytes.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(_) => error(404, "not-found", "no such file"),
    }
}

/// The document list of `GET /api/v1/documents`, most used first.
pub fn documents_json(catalog: &kiosk_catalog::KioskCatalog) -> serde_json::Value {
    let c = catalog.catalog();
    let domains: Vec<_> = c
        .domains()
        .iter()
        .map(|d| json!({"id": d.code, "name": d.name_ko, "name_en": d.name_en}))
        .collect();
    let docs: Vec<_> = catalog
        .enabled_documents()
        .map(|d| {
            let options: Vec<_> = d
                .options
                .iter()
                .map(|o| {
                    json!({"key": o.key, "name": o.name_ko, "name_en": o.name_en,
                        "default": o.default,
                        "values": o.choices.iter().map(|ch| json!({
                            "value": ch.value, "name": ch.name_ko, "name_en": ch.name_en
                        })).collect::<Vec<_>>()})
                })
                .collect();
            json!({
                "code": d.code.as_str(),
                "name": d.name_ko,
                "name_en": d.name_en,
                "domain": d.domain,
                "agency": d.agency,
                "needs_identity": d.requires.needs_identity(),
                "needs_address": !d.requires.needs_identity(),
                "available": true,
                "fee_hint": d.fee.base.get(),
                "options": options,
            })
        })
        .collect();
    json!({"domains": domains, "documents": docs})
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn the_speech_cache_keeps_its_byte_bound_under_a_flood_of_distinct_texts() {
        let c = SpeechCache::new(10_000, 2);
        for i in 0..1_000u16 {
            c.put(
                ("ko".into(), 175, format!("text {i}")),
                Arc::new(vec![0; 700]),
            );
            assert!(c.bytes() <= 10_000);
        }
        // The newest stay; the oldest went first.
        assert!(c.get(&("ko".into(), 175, "text 999".into())).is_some());
        assert!(c.get(&("ko".into(), 175, "text 0".into())).is_none());
        // Audio larger than the bound is not kept at all.
        c.put(("ko".into(), 175, "huge".into()), Arc::new(vec![0; 20_000]));
        assert!(c.get(&("ko".into(), 175, "huge".into())).is_none());
        assert!(c.bytes() <= 10_000);
    }

    #[test]
    fn event_streams_are_bounded_and_a_closed_one_frees_its_slot() {
        let n = Arc::default();
        let open: Vec<StreamSlot> = (0..MAX_STREAMS)
            .map(|_| StreamSlot::take(&n).unwrap())
            .collect();
        assert!(StreamSlot::take(&n).is_none(), "one more than the bound");
        drop(open);
        assert!(StreamSlot::take(&n).is_some());
    }

    #[test]
    fn syntheses_beyond_the_bound_are_refused_not_queued() {
        let c = SpeechCache::new(10_000, 2);
        let a = c.permit();
        let b = c.permit();
        assert!(a.is_some() && b.is_some());
        assert!(c.permit().is_none(), "a third synthesis at once is refused");
        drop(a);
        assert!(c.permit().is_some());
        drop(b);
    }

    fn allowed() -> Vec<String> {
        loopback_hosts("127.0.0.1:7300".parse().unwrap())
    }

    #[test]
    fn the_kiosks_own_page_and_plain_clients_are_admitted() {
        let a = allowed();
        let json = Some("application/json; charset=utf-8");
        let ok = |m, h, o, c, b| admit(&m, h, o, c, b, &a);
        assert_eq!(
            ok(Method::GET, Some("127.0.0.1:7300"), None, None, false),
            Ok(())
        );
        assert_eq!(
            ok(Method::GET, Some("localhost:7300"), None, None, false),
            Ok(())
        );
        let page = Some("http://127.0.0.1:7300");
        assert_eq!(
            ok(Method::POST, Some("127.0.0.1:7300"), page, json, true),
            Ok(())
        );
        // A POST with no body (confirm, cancel) needs no content type.
        assert_eq!(
            ok(Method::POST, Some("127.0.0.1:7300"), page, None, false),
            Ok(())
        );
        assert_eq!(
            ok(Method::DELETE, Some("LOCALHOST:7300"), None, None, false),
            Ok(())
        );
    }

    #[test]
    fn other_names_other_pages_and_other_bodies_are_refused() {
        let a = allowed();
        let json = Some("application/json");
        let host = Some("127.0.0.1:7300");
        let r = |m, h, o, c, b| admit(&m, h, o, c, b, &a);
        // DNS rebinding: another name for 127.0.0.1, or another port.
        assert_eq!(
            r(Method::GET, Some("evil.example"), None, None, false),
            Err(Refusal::ForeignHost)
        );
        assert_eq!(
            r(Method::GET, Some("127.0.0.1:8080"), None, None, false),
            Err(Refusal::ForeignHost)
        );
        assert_eq!(
            r(Method::GET, None, None, None, false),
            Err(Refusal::ForeignHost)
        );
        // Another site's page.
        for o in [
            "http://evil.example",
            "https://127.0.0.1:7300",
            "null",
            "http://127.0.0.1:7300.evil",
        ] {
            assert_eq!(
                r(Method::POST, host, Some(o), json, true),
                Err(Refusal::ForeignOrigin),
                "{o}"
            );
        }
        // What a form or a no-cors fetch can send.
        for c in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
        ] {
            assert_eq!(
                r(Method::POST, host, None, c, true),
                Err(Refusal::NotJson),
                "{c:?}"
            );
        }
    }
}
