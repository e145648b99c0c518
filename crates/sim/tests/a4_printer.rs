//! `kiosk-sim a4-printer` against the SHIPPING IPP driver (`kiosk_devices::ipp::printer`), raw
//! IPP requests, random bytes and (when installed) CUPS's `ipptool`.
//!
//! Deterministic: pages are counted, never timed; every wait is bounded by PATIENCE, which is
//! never asserted as a duration.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ipp::model::StatusCode;
use ipp::operation::builder::IppOperationBuilder;
use ipp::parser::IppParser;
use ipp::payload::IppPayload;
use ipp::prelude::{IppClient, Uri};
use ipp::reader::IppReader;
use ipp::request::IppRequestResponse;
use kiosk_devices::api::{CompletionCode, DeviceHandle, Event, QueueSizes};
use kiosk_devices::ipp::printer::{self, A4Command, A4Event, A4Job, A4Payload, A4PrinterConfig};
use kiosk_devices::ipp::{Condition, Health, JobState};
use kiosk_sim::a4_printer::pdf::blank_pdf;
use kiosk_sim::a4_printer::{A4PrinterOptions, A4PrinterSim};
use proptest::prelude::*;
use tokio::sync::mpsc::Receiver;

const PATIENCE: Duration = Duration::from_secs(10);

struct Rig {
    sim: A4PrinterSim,
    dir: tempfile::TempDir,
}

impl Rig {
    fn start(paper: u32, page_ms: u64) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let mut o = A4PrinterOptions::new(dir.path().join("a4.sock"));
        o.paper = paper;
        o.page = Duration::from_millis(page_ms);
        o.save_dir = Some(dir.path().join("printed"));
        let sim = A4PrinterSim::start(o).unwrap();
        Rig { sim, dir }
    }

    fn control(&self, line: &str) -> serde_json::Value {
        let a = self.sim.control(line);
        assert_eq!(a["ok"], true, "{line}: {a}");
        a
    }

    fn saved(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path().join("printed"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

type Handle = DeviceHandle<A4Command, A4Payload>;

fn config(uri: &str) -> A4PrinterConfig {
    A4PrinterConfig {
        uri: uri.to_owned(),
        poll_interval: Duration::from_secs(3600),
        job_poll: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        job_timeout: Duration::from_secs(20),
        stall_timeout: Duration::from_millis(300),
        offline_after: 2,
        ..A4PrinterConfig::default()
    }
}

async fn until<E: Clone + std::fmt::Debug>(
    rx: &mut Receiver<Event<E>>,
    mut pred: impl FnMut(&E) -> bool,
) -> (E, Vec<E>) {
    let mut before = Vec::new();
    let res = tokio::time::timeout(PATIENCE, async {
        loop {
            let ev = rx.recv().await.expect("device actor stopped");
            if pred(&ev.body) {
                return ev.body;
            }
            before.push(ev.body);
        }
    })
    .await;
    match res {
        Ok(e) => (e, before),
        Err(_) => panic!("no matching event; saw {before:?}"),
    }
}

async fn driver(rig: &Rig) -> (Handle, Receiver<Event<A4Event>>) {
    driver_with(rig, |_| {}).await
}

/// A driver with its test configuration changed by `tune`.
async fn driver_with(
    rig: &Rig,
    tune: impl FnOnce(&mut A4PrinterConfig),
) -> (Handle, Receiver<Event<A4Event>>) {
    let mut c = config(rig.sim.uri());
    tune(&mut c);
    let (h, mut rx) = printer::spawn(c, QueueSizes::default());
    let (ready, _) = until(&mut rx, |e| {
        matches!(e, A4Event::Ready(_) | A4Event::Offline { .. })
    })
    .await;
    assert!(matches!(ready, A4Event::Ready(_)), "{ready:?}");
    (h, rx)
}

fn job(pages: usize) -> A4Job {
    A4Job {
        name: "resident-register-copy 1234-5678".into(),
        pdf: blank_pdf(pages),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_page_pdf_prints_completes_and_is_saved() {
    let rig = Rig::start(500, 20);
    let (h, mut rx) = driver(&rig).await;
    let c = h.call(A4Command::Print(job(3))).await.unwrap();
    assert!(c.is_success(), "{c:?}");
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    assert_eq!(r.job.state, JobState::Completed);
    assert_eq!(r.job.pages_completed, 3);
    assert_eq!(r.status.health, Health::Ok, "{:?}", r.status);

    // The driver saw the pages come out one by one, never going back.
    let mut pages = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let A4Event::Job(p) = e.body {
            pages.push(p.pages_completed);
        }
    }
    assert!(pages.windows(2).all(|w| w[0] <= w[1]), "{pages:?}");
    assert_eq!(pages.last(), Some(&3));

    let name = format!("{}-resident-register-copy_1234-5678.pdf", r.job.job_id);
    assert_eq!(rig.saved(), std::slice::from_ref(&name));
    assert_eq!(
        std::fs::read(rig.dir.path().join("printed").join(&name)).unwrap(),
        blank_pdf(3)
    );
    let s = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(s["paper"], 497, "{s}");
    assert_eq!(s["printed_pages"], 3, "{s}");
    assert_eq!(s["jobs"][0]["state"], "completed", "{s}");
    assert_eq!(s["jobs"][0]["impressions_completed"], 3, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jam_after_one_page_fails_the_job_and_stops_the_printer_until_cleared() {
    let rig = Rig::start(500, 20);
    let (h, _rx) = driver(&rig).await;
    rig.control(r#"{"cmd":"jam","after_pages":1}"#);
    let c = h.call(A4Command::Print(job(3))).await.unwrap();
    assert_eq!(c.code, CompletionCode::HardwareError, "{c:?}");
    assert!(c.detail.contains("media-jam"), "{}", c.detail);
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    assert_eq!(r.job.state, JobState::Aborted);
    assert_eq!(r.job.pages_completed, 1);
    assert!(r.status.has(&Condition::MediaJam), "{:?}", r.status);
    assert_eq!(r.status.health, Health::Error);
    assert!(rig.saved().is_empty(), "an aborted job is not saved");

    // Stopped: the next document is refused before it is sent.
    let c = h.call(A4Command::Print(job(1))).await.unwrap();
    assert_eq!(c.code, CompletionCode::DeviceNotReady, "{c:?}");
    assert_eq!(c.detail, "not printed: media-jam");
    let s = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(s["printer_state"], "stopped", "{s}");
    assert_eq!(s["jobs"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["jobs"][0]["reasons"][0], "aborted-by-system", "{s}");

    rig.control(r#"{"cmd":"clear"}"#);
    let c = h.call(A4Command::Print(job(2))).await.unwrap();
    assert!(c.is_success(), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_tray_stops_a_three_page_job_after_two() {
    let rig = Rig::start(2, 20);
    let (h, mut rx) = driver(&rig).await;
    let c = h.call(A4Command::Print(job(3))).await.unwrap();
    assert_eq!(c.code, CompletionCode::HardwareError, "{c:?}");
    assert!(c.detail.contains("media-empty"), "{}", c.detail);
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    // The driver gave up on the stalled job and canceled it: 2 pages out, 1 to refund.
    assert_eq!(r.job.pages_completed, 2);
    assert_ne!(r.job.state, JobState::Completed);
    assert!(r.status.has(&Condition::MediaEmpty), "{:?}", r.status);
    let (e, _) = until(
        &mut rx,
        |e| matches!(e, A4Event::Job(p) if p.state == JobState::ProcessingStopped),
    )
    .await;
    let A4Event::Job(p) = e else { unreachable!() };
    assert_eq!(p.pages_completed, 2);
    let s = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(s["paper"], 0, "{s}");
    assert_eq!(s["jobs"][0]["state"], "canceled", "{s}");

    // Paper in: printing goes on.
    rig.control(r#"{"cmd":"paper","sheets":100}"#);
    let c = h.call(A4Command::Print(job(1))).await.unwrap();
    assert!(c.is_success(), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_toner_is_a_warning_and_printing_goes_on() {
    let rig = Rig::start(500, 0);
    let (h, _rx) = driver(&rig).await;
    let s = rig.control(r#"{"cmd":"toner","state":"low"}"#);
    assert_eq!(s["printer_state_reasons"][0], "toner-low-warning", "{s}");
    let c = h.call(A4Command::Status).await.unwrap();
    let Some(A4Payload::Status(st)) = c.payload else {
        panic!("{c:?}")
    };
    assert_eq!(st.health, Health::Warning, "{st:?}");
    assert!(st.has(&Condition::TonerLow));
    let c = h.call(A4Command::Print(job(2))).await.unwrap();
    assert!(c.is_success(), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_toner_refuses_jobs() {
    let rig = Rig::start(500, 0);
    let (h, _rx) = driver(&rig).await;
    rig.control(r#"{"cmd":"toner","state":"empty"}"#);
    let c = h.call(A4Command::Print(job(1))).await.unwrap();
    assert_eq!(c.code, CompletionCode::DeviceNotReady, "{c:?}");
    assert_eq!(c.detail, "not printed: toner-empty");
    // A client that does not look first is refused by the printer.
    let uri = rig.sim.uri().to_owned();
    let status = tokio::task::spawn_blocking(move || {
        raw_print(&uri, Some("application/pdf"), blank_pdf(1))
            .header()
            .status_code()
    })
    .await
    .unwrap();
    assert_eq!(status, StatusCode::ServerErrorNotAcceptingJobs);
    let s = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(s["jobs"], serde_json::json!([]), "{s}");
    assert_eq!(s["accepting"], false, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_printer_stops_answering_and_comes_back() {
    let rig = Rig::start(500, 0);
    let (h, mut rx) = driver(&rig).await;
    rig.control(r#"{"cmd":"offline","on":true}"#);
    let c = h.call(A4Command::Status).await.unwrap();
    assert_eq!(c.code, CompletionCode::DeviceNotReady, "{c:?}");
    let c = h.call(A4Command::Print(job(1))).await.unwrap();
    assert_eq!(c.code, CompletionCode::DeviceNotReady, "{c:?}");
    until(&mut rx, |e| matches!(e, A4Event::Offline { .. })).await;
    rig.control(r#"{"cmd":"offline","on":false}"#);
    let c = h.call(A4Command::Print(job(1))).await.unwrap();
    assert!(c.is_success(), "{c:?}");
    until(&mut rx, |e| matches!(e, A4Event::Online)).await;
}

fn raw_print(uri: &str, format: Option<&str>, data: Vec<u8>) -> IppRequestResponse {
    let uri: Uri = uri.parse().unwrap();
    let mut b =
        IppOperationBuilder::print_job(uri.clone(), IppPayload::new(std::io::Cursor::new(data)))
            .job_title("raw");
    if let Some(f) = format {
        b = b.document_format(f);
    }
    IppClient::new(uri).send(b.build().unwrap()).unwrap()
}

#[test]
fn documents_that_are_not_pdf_are_refused() {
    let rig = Rig::start(500, 0);
    let uri = rig.sim.uri();
    let r = raw_print(uri, Some("text/plain"), b"hello".to_vec());
    assert_eq!(
        r.header().status_code(),
        StatusCode::ClientErrorDocumentFormatNotSupported
    );
    let r = raw_print(uri, Some("application/pdf"), b"hello, not a PDF".to_vec());
    assert_eq!(
        r.header().status_code(),
        StatusCode::ClientErrorDocumentFormatError
    );
    let r = raw_print(uri, None, b"%PDF-1.4 but no pages".to_vec());
    assert_eq!(
        r.header().status_code(),
        StatusCode::ClientErrorDocumentFormatError
    );
    let r = raw_print(uri, None, blank_pdf(2));
    assert_eq!(r.header().status_code(), StatusCode::SuccessfulOk);
    let s = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(s["jobs"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["printed_pages"], 2, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_refuses_a_non_pdf_itself() {
    let rig = Rig::start(500, 0);
    let (h, _rx) = driver(&rig).await;
    let c = h
        .call(A4Command::Print(A4Job {
            name: "x".into(),
            pdf: b"not a pdf".to_vec(),
        }))
        .await
        .unwrap();
    assert_eq!(c.code, CompletionCode::InvalidData, "{c:?}");
}

/// The status of an IPP response body, which must parse.
fn status_of(body: &[u8]) -> u16 {
    let parsed = IppParser::new(IppReader::new(std::io::Cursor::new(body.to_vec())))
        .parse()
        .unwrap_or_else(|e| panic!("unparsable response {body:?}: {e}"));
    parsed.header().operation_or_status as u16
}

fn http_post(addr: &str, content_type: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        s,
        "POST /ipp/print HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    (head, answer[split + 4..].to_vec())
}

fn addr_of(uri: &str) -> String {
    uri.trim_start_matches("ipp://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn random_bytes_over_http_get_an_ipp_error() {
    let rig = Rig::start(500, 0);
    let addr = addr_of(rig.sim.uri());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 3, 8, 9, 50, 700, 5000] {
        let body: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let (head, body) = http_post(&addr, "application/ipp", &body);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(status_of(&body) >= 0x0400, "len {len}");
    }
    let (head, _) = http_post(&addr, "text/plain", b"x");
    assert!(head.starts_with("HTTP/1.1 415"), "{head}");
    // Still serving.
    assert_eq!(rig.control(r#"{"cmd":"status"}"#)["ok"], true);
}

/// A syntactically valid request head with the given operation, then random attribute bytes.
fn with_header(op: u16, tail: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0x00];
    v.extend(op.to_be_bytes());
    v.extend(1i32.to_be_bytes());
    v.extend(tail);
    v
}

/// A well-formed request up to its operation attributes, for mutation.
fn valid_request(op: u16, uri: &str) -> Vec<u8> {
    let mut v = with_header(op, &[0x01]);
    for (tag, name, value) in [
        (0x47u8, "attributes-charset", "utf-8"),
        (0x48, "attributes-natural-language", "en"),
        (0x45, "printer-uri", uri),
    ] {
        v.push(tag);
        v.extend((name.len() as u16).to_be_bytes());
        v.extend(name.as_bytes());
        v.extend((value.len() as u16).to_be_bytes());
        v.extend(value.as_bytes());
    }
    v.push(0x03);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_request_bytes_get_a_parsable_answer_without_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        op in prop_oneof![Just(0x0002u16), Just(0x0005), Just(0x0006), Just(0x0008),
                          Just(0x0009), Just(0x000A), Just(0x000B), any::<u16>()],
        prefixed in any::<bool>(),
    ) {
        thread_local! {
            static RIG: Rig = Rig::start(500, 0);
        }
        RIG.with(|rig| {
            let body = if prefixed { with_header(op, &bytes) } else { bytes.clone() };
            let answer = rig.sim.handle_ipp(&body);
            let status = status_of(&answer);
            prop_assert!(status != 0xffff);
            Ok(())
        })?;
    }

    #[test]
    fn mutated_valid_requests_never_panic(
        op in prop_oneof![Just(0x0002u16), Just(0x0006), Just(0x0009), Just(0x000A), Just(0x000B)],
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        thread_local! {
            static RIG: Rig = Rig::start(500, 0);
        }
        RIG.with(|rig| {
            let mut body = valid_request(op, rig.sim.uri());
            for (i, b) in &flips {
                let at = i.index(body.len());
                body[at] = *b;
            }
            body.extend(&tail);
            status_of(&rig.sim.handle_ipp(&body));
        });
    }
}

#[test]
fn deeply_nested_collections_are_refused() {
    let rig = Rig::start(500, 0);
    let mut tail = vec![0x01];
    for (tag, name, value) in [
        (0x47u8, "attributes-charset", "utf-8"),
        (0x48, "attributes-natural-language", "en"),
    ] {
        tail.push(tag);
        tail.extend((name.len() as u16).to_be_bytes());
        tail.extend(name.as_bytes());
        tail.extend((value.len() as u16).to_be_bytes());
        tail.extend(value.as_bytes());
    }
    for _ in 0..10_000 {
        tail.extend([0x34, 0, 1, b'c', 0, 0, 0x4a, 0, 0, 0, 1, b'k']);
    }
    tail.push(0x03);
    let answer = rig.sim.handle_ipp(&with_header(0x000B, &tail));
    assert_eq!(status_of(&answer), StatusCode::ClientErrorBadRequest as u16);
}

fn ask(control: &Path, line: &str) -> serde_json::Value {
    let mut s = UnixStream::connect(control).unwrap();
    writeln!(s, "{line}").unwrap();
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap()
}

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_serves_ipptool_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("a4.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiosk-sim"))
        .args(["a4-printer", "--paper", "3", "--page-ms", "0", "--control"])
        .arg(&control)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Kill(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let line: serde_json::Value = serde_json::from_str(&first).unwrap();
    let uri = line["uri"].as_str().unwrap().to_owned();
    assert!(
        uri.starts_with("ipp://127.0.0.1:") && uri.ends_with("/ipp/print"),
        "{uri}"
    );
    assert_eq!(line["control"], control.display().to_string());

    let s = ask(&control, r#"{"cmd":"status"}"#);
    assert_eq!(s["paper"], 3, "{s}");
    assert_eq!(s["printer_state_reasons"][0], "media-low-warning", "{s}");
    let bad = ask(&control, r#"{"cmd":"paper","sheets":"lots"}"#);
    assert_eq!(bad["ok"], false, "{bad}");

    match Command::new("ipptool")
        .args(["-t", &uri, "get-printer-attributes.test"])
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "ipptool failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => eprintln!("ipptool not run ({e}); install cups-ipp-utils to run it"),
    }

    let term = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        !control.exists(),
        "the control socket is removed on SIGTERM"
    );
}

#[test]
fn kiosk_sim_all_starts_the_a4_printer_from_its_section() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kiosk.toml");
    let save = dir.path().join("printed");
    std::fs::write(
        &config,
        format!(
            "control_dir = {:?}\n[a4_printer]\npaper = 40\npage_ms = 0\nsave_dir = {:?}\n",
            dir.path(),
            save
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiosk-sim"))
        .args(["all", "--config", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _kill = Kill(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let map: serde_json::Value = serde_json::from_str(&first).unwrap();
    let a4 = &map["a4-printer"];
    let uri = a4["uri"].as_str().unwrap();
    let r = raw_print(uri, Some("application/pdf"), blank_pdf(2));
    assert_eq!(r.header().status_code(), StatusCode::SuccessfulOk);
    let s = ask(
        Path::new(a4["control"].as_str().unwrap()),
        r#"{"cmd":"status"}"#,
    );
    assert_eq!(s["paper"], 38, "{s}");
    assert_eq!(s["jobs"][0]["state"], "completed", "{s}");
    assert!(save.join("1-raw.pdf").exists());
}

/// Create-Job then Send-Document by hand, with requesting-user-name in Create-Job's
/// operation group (the shipping driver leaves it out there; see the report).
#[test]
fn create_job_and_send_document_record_the_owner() {
    use ipp::attribute::{IppAttribute, IppAttributeName};
    use ipp::model::DelimiterTag;
    use ipp::value::IppValue;

    let rig = Rig::start(500, 0);
    let uri: Uri = rig.sim.uri().parse().unwrap();
    let client = IppClient::new(uri.clone());
    let req = IppOperationBuilder::create_job(uri.clone())
        .job_name("doc-7")
        .build()
        .map(Into::<IppRequestResponse>::into)
        .and_then(|mut r| {
            let user = IppValue::new_name_without_language("kiosk")?;
            r.attributes_mut().add(
                DelimiterTag::OperationAttributes,
                IppAttribute::new(IppAttributeName::REQUESTING_USER_NAME, user),
            );
            Ok(r)
        })
        .unwrap();
    let resp = client.send(req).unwrap();
    assert_eq!(resp.header().status_code(), StatusCode::SuccessfulOk);
    let id = resp
        .attributes()
        .groups_of(DelimiterTag::JobAttributes)
        .find_map(|g| g.get("job-id"))
        .and_then(|a| a.value().as_integer().copied())
        .unwrap();
    let s = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(s["jobs"][0]["reasons"][0], "job-incoming", "{s}");
    let send = |last: bool| {
        let doc = IppPayload::new(std::io::Cursor::new(blank_pdf(1)));
        let req = IppOperationBuilder::send_document(uri.clone(), id, doc)
            .user_name("kiosk")
            .document_format("application/pdf")
            .last(last)
            .build()
            .unwrap();
        client.send(req).unwrap().header().status_code()
    };
    assert_eq!(
        send(false),
        StatusCode::ServerErrorMultipleDocumentJobsNotSupported
    );
    assert_eq!(send(true), StatusCode::SuccessfulOk);
    assert_eq!(send(true), StatusCode::ClientErrorNotPossible);
    let s = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(s["jobs"][0]["user"], "kiosk", "{s}");
    assert_eq!(s["jobs"][0]["state"], "completed", "{s}");
}

// ---------------------------------------------------------------------------------------
// Following jobs by id, and what recovery asks the printer after a host crash.

/// A job sent by someone else, e.g. by the daemon before it crashed: Print-Job by hand,
/// named; its job id.
fn raw_job(uri: &str, name: &str, pages: usize) -> i32 {
    use ipp::model::DelimiterTag;
    let uri: Uri = uri.parse().unwrap();
    let req = IppOperationBuilder::print_job(
        uri.clone(),
        IppPayload::new(std::io::Cursor::new(blank_pdf(pages))),
    )
    .user_name("kiosk")
    .job_title(name)
    .document_format("application/pdf")
    .build()
    .unwrap();
    let resp = IppClient::new(uri).send(req).unwrap();
    assert_eq!(resp.header().status_code(), StatusCode::SuccessfulOk);
    resp.attributes()
        .groups_of(DelimiterTag::JobAttributes)
        .find_map(|g| g.get("job-id"))
        .and_then(|a| a.value().as_integer().copied())
        .unwrap()
}

/// The simulator's record of job `id`.
fn sim_job(rig: &Rig, id: i32) -> serde_json::Value {
    let s = rig.control(r#"{"cmd":"status"}"#);
    s["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no job {id}: {s}"))
}

/// Waits (bounded by PATIENCE) until the simulator's job `id` satisfies `pred`.
fn wait_job(rig: &Rig, id: i32, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let end = std::time::Instant::now() + PATIENCE;
    loop {
        let j = sim_job(rig, id);
        if pred(&j) {
            return j;
        }
        assert!(std::time::Instant::now() < end, "job never got there: {j}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts that nothing prints any more: no job is unfinished, and no page comes out over
/// several page intervals.
fn assert_nothing_prints(rig: &Rig, page_ms: u64) {
    let before = rig.control(r#"{"cmd":"status"}"#);
    for j in before["jobs"].as_array().unwrap() {
        assert!(
            ["completed", "canceled", "aborted"].contains(&j["state"].as_str().unwrap()),
            "a job still prints: {before}"
        );
    }
    assert_eq!(before["printer_state"], "idle", "{before}");
    std::thread::sleep(Duration::from_millis(page_ms * 6));
    let after = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(
        before["printed_pages"], after["printed_pages"],
        "pages still come out: {before} then {after}"
    );
}

async fn find(h: &Handle, name: &str) -> Option<kiosk_devices::ipp::JobProgress> {
    let c = h
        .call(A4Command::FindJob { name: name.into() })
        .await
        .unwrap();
    assert!(c.is_success(), "{c:?}");
    match c.payload {
        Some(A4Payload::Found(found)) => found,
        other => panic!("{other:?}"),
    }
}

fn named(name: &str, pages: usize) -> A4Job {
    A4Job {
        name: name.into(),
        pdf: blank_pdf(pages),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_comes_before_the_jobs_progress_with_the_printers_job_id() {
    let rig = Rig::start(500, 20);
    let (h, mut rx) = driver(&rig).await;
    let mut ids = Vec::new();
    for copy in 1..=2 {
        let name = format!("S12-3-{copy}");
        let pending = h.submit(A4Command::Print(named(&name, 2))).unwrap();
        let request = pending.id();
        let c = pending.completion().await;
        assert!(c.is_success(), "{c:?}");
        let Some(A4Payload::Job(r)) = c.payload else {
            panic!("{c:?}")
        };
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        let submitted = events
            .iter()
            .position(|e| matches!(e.body, A4Event::Submitted { .. }))
            .unwrap_or_else(|| panic!("no Submitted: {events:?}"));
        let first_job = events
            .iter()
            .position(|e| matches!(e.body, A4Event::Job(_)))
            .unwrap_or_else(|| panic!("no Job: {events:?}"));
        assert!(submitted < first_job, "{events:?}");
        let A4Event::Submitted { name: sent, job_id } = &events[submitted].body else {
            unreachable!()
        };
        assert_eq!(
            events[submitted].request,
            Some(request),
            "tagged with the Print"
        );
        assert_eq!(sent, &name);
        assert_eq!(*job_id, r.job.job_id);
        // The printer's own id for the job of that name.
        let s = rig.control(r#"{"cmd":"status"}"#);
        let on_printer = s["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{s}"));
        assert_eq!(on_printer["id"], *job_id, "{s}");
        // Every progress event of this Print is about this job only.
        for e in &events {
            if let A4Event::Job(p) = e.body {
                assert_eq!(p.job_id, *job_id, "{events:?}");
            }
        }
        ids.push(*job_id);
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_job_finds_a_completed_job_by_name_with_its_pages() {
    let rig = Rig::start(500, 0);
    let (h, _rx) = driver(&rig).await;
    let c = h.call(A4Command::Print(named("S7-1-1", 3))).await.unwrap();
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    raw_job(rig.sim.uri(), "S7-2-1", 1);
    let p = find(&h, "S7-1-1").await.expect("found");
    assert_eq!(p.job_id, r.job.job_id);
    assert_eq!(p.state, JobState::Completed);
    assert_eq!(p.pages_completed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_job_finds_a_job_still_printing() {
    let rig = Rig::start(500, 50);
    let (h, _rx) = driver(&rig).await;
    // Sent before the crash; it is still printing.
    let id = raw_job(rig.sim.uri(), "S8-1-1", 1000);
    wait_job(&rig, id, |j| j["impressions_completed"].as_u64() >= Some(1));
    let p = find(&h, "S8-1-1").await.expect("found");
    assert_eq!(p.job_id, id);
    assert_eq!(p.state, JobState::Processing);
    assert!(
        (1..1000).contains(&p.pages_completed),
        "{p:?}: the pages out so far"
    );
    h.call(A4Command::Cancel { job_id: id }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_job_answers_none_for_an_unknown_name() {
    let rig = Rig::start(500, 0);
    let (h, _rx) = driver(&rig).await;
    assert_eq!(find(&h, "S9-1-1").await, None, "an empty printer");
    raw_job(rig.sim.uri(), "S9-1-1", 1);
    raw_job(rig.sim.uri(), "S9-1-10", 1);
    assert!(find(&h, "S9-1-1").await.is_some());
    // Exactly that name: neither a prefix nor a longer name.
    for other in ["S9-1-2", "S9-1", "S9-1-1 ", "s9-1-1", "S9-1-100"] {
        assert_eq!(find(&h, other).await, None, "{other}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_job_finds_the_newest_of_two_jobs_with_the_same_name() {
    let rig = Rig::start(500, 0);
    let (h, _rx) = driver(&rig).await;
    let old = raw_job(rig.sim.uri(), "S10-1-1", 1);
    raw_job(rig.sim.uri(), "S10-2-1", 4);
    let c = h.call(A4Command::Print(named("S10-1-1", 2))).await.unwrap();
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    assert!(r.job.job_id > old);
    let p = find(&h, "S10-1-1").await.expect("found");
    assert_eq!(p.job_id, r.job.job_id);
    assert_eq!(p.pages_completed, 2, "the newest job's pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_job_falls_back_when_the_printer_refuses_which_jobs_all() {
    let rig = Rig::start(500, 50);
    let (h, _rx) = driver(&rig).await;
    let s = rig.control(r#"{"cmd":"which_jobs_all","on":false}"#);
    assert_eq!(s["which_jobs_all"], false, "{s}");
    let done = raw_job(rig.sim.uri(), "S11-1-1", 1);
    wait_job(&rig, done, |j| j["state"] == "completed");
    let printing = raw_job(rig.sim.uri(), "S11-2-1", 1000);
    wait_job(&rig, printing, |j| j["state"] == "processing");

    // The printer does refuse `all`.
    let uri: Uri = rig.sim.uri().parse().unwrap();
    let status = tokio::task::spawn_blocking(move || {
        use ipp::attribute::IppAttribute;
        use ipp::model::DelimiterTag;
        use ipp::value::IppValue;
        let mut req: IppRequestResponse = IppOperationBuilder::get_jobs(uri.clone())
            .build()
            .unwrap()
            .into();
        req.attributes_mut().add(
            DelimiterTag::OperationAttributes,
            IppAttribute::with_name("which-jobs", IppValue::new_keyword("all").unwrap()).unwrap(),
        );
        IppClient::new(uri)
            .send(req)
            .unwrap()
            .header()
            .status_code()
    })
    .await
    .unwrap();
    assert_eq!(
        status,
        StatusCode::ClientErrorAttributesOrValuesNotSupported
    );

    let p = find(&h, "S11-1-1").await.expect("the completed job");
    assert_eq!(
        (p.job_id, p.state, p.pages_completed),
        (done, JobState::Completed, 1)
    );
    let p = find(&h, "S11-2-1").await.expect("the job printing");
    assert_eq!((p.job_id, p.state), (printing, JobState::Processing));
    assert_eq!(find(&h, "S11-3-1").await, None);
    h.call(A4Command::Cancel { job_id: printing })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_job_left_over_from_before_a_crash_mid_way() {
    const PAGE_MS: u64 = 50;
    let rig = Rig::start(500, PAGE_MS);
    let (h, _rx) = driver(&rig).await;
    let id = raw_job(rig.sim.uri(), "S13-1-1", 1000);
    wait_job(&rig, id, |j| j["impressions_completed"].as_u64() >= Some(2));
    let c = h.call(A4Command::Cancel { job_id: id }).await.unwrap();
    assert!(c.is_success(), "{c:?}");
    assert_eq!(c.payload, Some(A4Payload::Done));
    let j = sim_job(&rig, id);
    assert_eq!(j["state"], "canceled", "{j}");
    let pages = j["impressions_completed"].as_u64().unwrap();
    assert!((2..1000).contains(&pages), "{j}");
    assert_nothing_prints(&rig, PAGE_MS);
    assert_eq!(sim_job(&rig, id)["impressions_completed"], pages);
    // Recovery reads where it stopped.
    let p = find(&h, "S13-1-1").await.expect("found");
    assert_eq!(p.state, JobState::Canceled);
    assert_eq!(u64::from(p.pages_completed), pages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_a_job_already_over_is_done() {
    let rig = Rig::start(500, 0);
    let (h, _rx) = driver(&rig).await;
    let c = h.call(A4Command::Print(named("S14-1-1", 1))).await.unwrap();
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    assert_eq!(r.job.state, JobState::Completed);
    for _ in 0..2 {
        let c = h
            .call(A4Command::Cancel {
                job_id: r.job.job_id,
            })
            .await
            .unwrap();
        assert!(c.is_success(), "{c:?}");
        assert_eq!(c.payload, Some(A4Payload::Done));
    }
    assert_eq!(sim_job(&rig, r.job.job_id)["state"], "completed");
    // A job the printer does not know (forgotten, so long over) cannot print either.
    let c = h.call(A4Command::Cancel { job_id: 4242 }).await.unwrap();
    assert_eq!(c.payload, Some(A4Payload::Done), "{c:?}");
    // A printer that cannot be reached cannot confirm anything.
    rig.control(r#"{"cmd":"offline","on":true}"#);
    let c = h
        .call(A4Command::Cancel {
            job_id: r.job.job_id,
        })
        .await
        .unwrap();
    assert_eq!(c.code, CompletionCode::DeviceNotReady, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_is_canceled_on_the_printer() {
    const PAGE_MS: u64 = 50;
    let rig = Rig::start(500, PAGE_MS);
    let (h, _rx) = driver_with(&rig, |c| c.job_timeout = Duration::from_millis(300)).await;
    let c = h
        .call(A4Command::Print(named("S15-1-1", 1000)))
        .await
        .unwrap();
    assert_eq!(c.code, CompletionCode::TimeOut, "{c:?}");
    assert!(c.detail.contains("canceled"), "{}", c.detail);
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    assert_eq!(r.job.state, JobState::Canceled, "{r:?}");
    let j = sim_job(&rig, r.job.job_id);
    assert_eq!(j["state"], "canceled", "{j}");
    assert_eq!(j["impressions_completed"], r.job.pages_completed, "{j}");
    assert_nothing_prints(&rig, PAGE_MS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_lost_with_the_printer_is_canceled_as_soon_as_it_answers_again() {
    const PAGE_MS: u64 = 50;
    let rig = Rig::start(500, PAGE_MS);
    let (h, mut rx) = driver(&rig).await;
    let pending = h.submit(A4Command::Print(named("S16-1-1", 1000))).unwrap();
    let (e, _) = until(&mut rx, |e| matches!(e, A4Event::Submitted { .. })).await;
    let A4Event::Submitted { job_id, .. } = e else {
        unreachable!()
    };
    until(
        &mut rx,
        |e| matches!(e, A4Event::Job(p) if p.job_id == job_id && p.pages_completed >= 1),
    )
    .await;
    // The network goes; the printer prints on.
    rig.control(r#"{"cmd":"offline","on":true}"#);
    let c = pending.completion().await;
    assert_eq!(c.code, CompletionCode::TimeOut, "{c:?}");
    assert!(c.detail.contains("lost"), "{}", c.detail);
    assert!(c.detail.contains("cancel failed"), "{}", c.detail);
    assert_eq!(sim_job(&rig, job_id)["state"], "processing");

    // The network is back: the first exchange with the printer ends the abandoned job, before
    // anyone else's document could be printed after it.
    rig.control(r#"{"cmd":"offline","on":false}"#);
    let c = h.call(A4Command::Status).await.unwrap();
    assert!(c.is_success(), "{c:?}");
    let j = sim_job(&rig, job_id);
    assert_eq!(j["state"], "canceled", "{j}");
    assert_nothing_prints(&rig, PAGE_MS);
    // And its final pages are reported.
    let (e, _) = until(
        &mut rx,
        |e| matches!(e, A4Event::Job(p) if p.job_id == job_id && p.state == JobState::Canceled),
    )
    .await;
    let A4Event::Job(p) = e else { unreachable!() };
    assert_eq!(j["impressions_completed"], p.pages_completed, "{j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_is_reported_before_the_document_goes_even_when_it_is_refused() {
    // A printer that takes smaller documents than the driver: Create-Job succeeds,
    // Send-Document is refused.
    let dir = tempfile::tempdir().unwrap();
    let mut o = A4PrinterOptions::new(dir.path().join("a4.sock"));
    o.page = Duration::ZERO;
    o.max_document = 1000;
    let rig = Rig {
        sim: A4PrinterSim::start(o).unwrap(),
        dir,
    };
    let (h, mut rx) = driver(&rig).await;
    let c = h
        .call(A4Command::Print(named("S17-1-1", 20)))
        .await
        .unwrap();
    assert_eq!(c.code, CompletionCode::HardwareError, "{c:?}");
    assert!(c.detail.starts_with("Send-Document"), "{}", c.detail);
    let (e, _) = until(&mut rx, |e| matches!(e, A4Event::Submitted { .. })).await;
    let A4Event::Submitted { name, job_id } = e else {
        unreachable!()
    };
    assert_eq!(name, "S17-1-1");
    // The half-submitted job is not left waiting for its document.
    let j = sim_job(&rig, job_id);
    assert_eq!(j["state"], "canceled", "{j}");
    assert_eq!(j["name"], "S17-1-1", "{j}");
}

#[test]
fn get_jobs_which_jobs_all_lists_every_job_newest_first() {
    use ipp::attribute::IppAttribute;
    use ipp::model::DelimiterTag;
    use ipp::value::IppValue;
    let rig = Rig::start(500, 50);
    let done = raw_job(rig.sim.uri(), "done", 1);
    wait_job(&rig, done, |j| j["state"] == "completed");
    let printing = raw_job(rig.sim.uri(), "printing", 1000);
    let uri: Uri = rig.sim.uri().parse().unwrap();
    let get_jobs = |which: &str| {
        let mut req: IppRequestResponse = IppOperationBuilder::get_jobs(uri.clone())
            .build()
            .unwrap()
            .into();
        for (name, value) in [
            ("which-jobs", IppValue::new_keyword(which).unwrap()),
            (
                "requested-attributes",
                IppValue::new_keyword("job-id").unwrap(),
            ),
        ] {
            req.attributes_mut().add(
                DelimiterTag::OperationAttributes,
                IppAttribute::with_name(name, value).unwrap(),
            );
        }
        let resp = IppClient::new(uri.clone()).send(req).unwrap();
        assert_eq!(resp.header().status_code(), StatusCode::SuccessfulOk);
        resp.attributes()
            .groups_of(DelimiterTag::JobAttributes)
            .filter_map(|g| g.get("job-id"))
            .filter_map(|a| a.value().as_integer().copied())
            .collect::<Vec<i32>>()
    };
    assert_eq!(get_jobs("all"), [printing, done]);
    assert_eq!(get_jobs("completed"), [done]);
    assert_eq!(get_jobs("not-completed"), [printing]);
    let s = rig.control(r#"{"cmd":"status"}"#);
    assert_eq!(s["which_jobs_all"], true, "{s}");
}

#[test]
fn a_text_with_language_value_overrunning_itself_is_refused_without_panic() {
    let rig = Rig::start(500, 0);
    let mut body = valid_request(0x0002, rig.sim.uri());
    body.pop(); // end-of-attributes
    // job-name as nameWithLanguage whose language claims 0xFFFF bytes of a 4-byte value.
    body.push(0x36);
    body.extend(8u16.to_be_bytes());
    body.extend(b"job-name");
    body.extend(4u16.to_be_bytes());
    body.extend([0xff, 0xff, b'e', b'n']);
    body.push(0x03);
    let answer = rig.sim.handle_ipp(&body);
    assert_eq!(status_of(&answer), StatusCode::ClientErrorBadRequest as u16);
}
