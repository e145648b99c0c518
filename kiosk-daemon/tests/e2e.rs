//! A citizen's session end to end, across processes: kiosk-daemon driving the device
//! simulators over pseudo-terminals and IPP, egov-sim over mutual TLS, and the test in the
//! citizen's place on the local API and the simulators' control sockets.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Api, assert_no_personal_data, check_books, check_physical, stack};
use kiosk_core::Coin;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_with_coins_a_note_a_free_document_and_a_basket() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(&dir, |_| {}).await;
    let api = Api::of(&s);
    let c = s.controls();
    let people = c.people(3).await.unwrap();
    assert!(!people.is_empty(), "egov-sim publishes synthetic people");

    // Coins, exact: a 200-won copy paid with two 100-won coins.
    api.choose(&[("RES-COPY", 1)], &people[0]).await;
    let st = api.until_state("awaiting-payment").await;
    assert_eq!(st["session"]["due"], 200, "{st}");
    c.insert_coin(100).await.unwrap();
    c.insert_coin(100).await.unwrap();
    let end = api.until_ended().await;
    assert_eq!(end["reason"], "done", "{end}");
    assert_eq!(
        (end["fees"].as_u64(), end["paid_back"].as_u64()),
        (Some(200), Some(0))
    );
    api.ok("/api/v1/session/finish", json!({})).await;

    // A note and change: 1,000 won for a 500-won certificate; 500 back from the hopper.
    api.choose(&[("FAM-RELATION", 1)], &people[1]).await;
    api.until_state("awaiting-payment").await;
    c.insert_note(1000).await.unwrap();
    let end = api.until_ended().await;
    assert_eq!(end["reason"], "done", "{end}");
    assert_eq!(end["inserted"], 1000);
    assert_eq!(
        end["paid_back"].as_u64().unwrap() + end["fees"].as_u64().unwrap(),
        1000
    );
    api.ok("/api/v1/session/receipt", json!({})).await;
    api.ok("/api/v1/session/finish", json!({})).await;

    // A free document: no payment step at all.
    api.choose(&[("MIL-SERVICE", 1)], &people[2]).await;
    let end = api.until_ended().await;
    assert_eq!(
        (end["reason"].as_str(), end["inserted"].as_u64()),
        (Some("done"), Some(0))
    );
    api.ok("/api/v1/session/finish", json!({})).await;

    // A basket: two documents, one of them two copies.
    api.choose(&[("RES-COPY", 2), ("LAND-REGISTER", 1)], &people[0])
        .await;
    let st = api.until_state("awaiting-payment").await;
    let due = st["session"]["due"].as_u64().unwrap();
    assert!(due >= 400, "{st}");
    c.insert_note(5000).await.unwrap();
    let end = api.until_ended().await;
    assert_eq!(end["reason"], "done", "{end}");
    assert_eq!(end["fees"].as_u64(), Some(due));
    api.ok("/api/v1/session/receipt", json!({})).await;
    api.ok("/api/v1/session/finish", json!({})).await;

    let printed = std::fs::read_dir(dir.path().join("printed"))
        .unwrap()
        .count();
    assert_eq!(
        printed,
        1 + 1 + 1 + 3,
        "every copy saved by the A4 simulator"
    );
    // The receipts as the printer decoded them: documents by their Korean names, every line
    // within the 48 columns of the model (a Hangul syllable takes two).
    let mut rp = json!(null);
    for _ in 0..100 {
        rp = c
            .sim("receipt-printer", json!({"cmd": "state"}))
            .await
            .unwrap();
        if rp["state"]["receipts"]
            .as_array()
            .is_some_and(|r| r.len() >= 2)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        rp["state"]["receipts"].as_array().map(Vec::len),
        Some(2),
        "{rp}"
    );
    let texts: Vec<String> = rp["state"]["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["lines"].as_array().unwrap().clone())
        .map(|l| l["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with("주민등록표 등본")),
        "{texts:#?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("가족관계증명서")),
        "{texts:#?}"
    );
    assert!(!texts.iter().any(|t| t.contains("RES-COPY")), "{texts:#?}");
    for t in &texts {
        let w: usize = t.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
        assert!(w <= 48, "{t:?} takes {w} columns");
    }
    let mut s = s;
    assert!(
        s.stop_daemon().await.unwrap().success(),
        "clean stop exits 0"
    );
    let (inserted, fees, back, owed) = check_books(dir.path());
    let physical = check_physical(dir.path(), &c).await;
    assert_eq!(physical.coins_in + physical.notes_in, 200 + 1000 + 5000);
    assert_eq!(inserted, 200 + 1000 + 5000);
    assert_eq!((fees + back, owed), (inserted, 0));
    assert_no_personal_data(dir.path(), &people);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_refunds_and_network_down_takes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = stack(&dir, |_| {}).await;
    let api = Api::of(&s);
    let c = s.controls();
    let people = c.people(1).await.unwrap();

    api.choose(&[("FAM-RELATION", 1)], &people[0]).await;
    api.until_state("awaiting-payment").await;
    c.insert_coin(100).await.unwrap();
    c.insert_coin(100).await.unwrap();
    api.until("credited", |s| s["session"]["inserted"] == 200)
        .await;
    api.ok("/api/v1/session/cancel", json!({})).await;
    let end = api.until_ended().await;
    assert_eq!(end["reason"], "citizen-canceled");
    assert_eq!(
        (end["paid_back"].as_u64(), end["fees"].as_u64()),
        (Some(200), Some(0))
    );
    api.ok("/api/v1/session/finish", json!({})).await;

    // The network goes down: the kiosk says so before any money is asked.
    c.egov_fault(json!({"mode": "down"})).await.unwrap();
    api.ok("/api/v1/session", json!({})).await;
    api.ok(
        "/api/v1/session/basket",
        json!({"code": "LAND-REGISTER", "address": "서초동 1"}),
    )
    .await;
    api.ok("/api/v1/session/confirm", json!({})).await;
    let end = api.until_ended().await;
    assert_eq!(end["reason"], "fetch-failed", "{end}");
    assert_eq!(end["inserted"], 0);
    let st = api.state().await;
    assert_eq!(st["session"]["guidance"]["kind"], "go-elsewhere", "{st}");
    assert!(!st["kiosk"]["where_else"].as_array().unwrap().is_empty());
    c.egov_fault(json!({"mode": "none"})).await.unwrap();

    s.stop_daemon().await.unwrap();
    let (inserted, _, back, _) = check_books(dir.path());
    assert_eq!((inserted, back), (200, 200));
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jam_mid_document_refunds_the_unprinted_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = stack(&dir, |_| {}).await;
    let api = Api::of(&s);
    let c = s.controls();
    let people = c.people(1).await.unwrap();
    // Two copies of a one-page certificate; the printer jams after the first page.
    c.sim("a4-printer", json!({"cmd": "jam", "after_pages": 1}))
        .await
        .unwrap();
    api.choose(&[("RES-COPY", 2)], &people[0]).await;
    api.until_state("awaiting-payment").await;
    c.insert_coin(500).await.unwrap();
    let end = api.until_ended().await;
    assert_eq!(end["fees"], 200, "one copy printed, one refunded: {end}");
    assert_eq!(end["paid_back"], 300, "{end}");
    s.stop_daemon().await.unwrap();
    check_books(dir.path());
    check_physical(dir.path(), &c).await;
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_hopper_mid_change_becomes_an_iou() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = stack(&dir, |o| o.hoppers = vec![(Coin::W100, 3), (Coin::W500, 0)]).await;
    let api = Api::of(&s);
    let c = s.controls();
    let people = c.people(1).await.unwrap();
    api.choose(&[("RES-COPY", 1)], &people[0]).await;
    let st = api.until_state("awaiting-payment").await;
    assert_eq!(st["kiosk"]["exact_amount_only"], true, "{st}");
    // The 100-won hopper is emptied behind the kiosk's back: it still believes in 3 coins.
    c.sim("hopper-100", json!({"cmd": "empty_hopper"}))
        .await
        .unwrap();
    c.insert_coin(500).await.unwrap();
    let end = api.until_ended().await;
    assert_eq!(end["reason"], "done", "{end}");
    assert_eq!(
        end["owed"], 300,
        "the change the hopper could not pay is owed: {end}"
    );
    s.stop_daemon().await.unwrap();
    let (_, _, _, owed) = check_books(dir.path());
    check_physical(dir.path(), &c).await;
    assert_eq!(owed, 300);
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_pulled_back_is_not_credited() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = stack(&dir, |_| {}).await;
    let api = Api::of(&s);
    let c = s.controls();
    let people = c.people(1).await.unwrap();
    api.choose(&[("RES-COPY", 1)], &people[0]).await;
    api.until_state("awaiting-payment").await;
    c.sim("bill-validator", json!({"cmd": "pull_back_next_note"}))
        .await
        .unwrap();
    c.insert_note(1000).await.unwrap();
    // The kiosk does not print for a note it never got.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let st = api.state().await;
    assert_ne!(st["session"]["state"], "printing", "{st}");
    api.ok("/api/v1/session/cancel", json!({})).await;
    let end = api.until_ended().await;
    assert_eq!(end["fees"], 0, "{end}");
    s.stop_daemon().await.unwrap();
    let (inserted, ..) = check_books(dir.path());
    let physical = check_physical(dir.path(), &c).await;
    assert_eq!(
        physical.notes_in, 0,
        "the pulled-back note is not in the stacker"
    );
    assert_eq!(inserted, 0, "a pulled-back note is not money in");
    s.stop().await.unwrap();
}

/// Sends one raw HTTP/1.1 request to the daemon and returns its status code.
async fn raw(addr: &str, request: String) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_pages_and_other_names_for_the_kiosk_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(&dir, |_| {}).await;
    let api = Api::of(&s);
    let addr = api.base.trim_start_matches("http://").to_owned();
    let post = |host: &str, origin: Option<&str>, ctype: &str| {
        let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
        format!(
            "POST /api/v1/session HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: {ctype}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
    };
    // DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
    assert_eq!(
        raw(&addr, post("evil.example", None, "application/json")).await,
        421
    );
    let get =
        "GET /api/v1/state HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".to_string();
    assert_eq!(raw(&addr, get).await, 421, "not even the state is read");
    // Another site's page posting to the kiosk's own address.
    assert_eq!(
        raw(
            &addr,
            post(&addr, Some("http://evil.example"), "application/json")
        )
        .await,
        403
    );
    // A form-like body with no preflight.
    assert_eq!(raw(&addr, post(&addr, None, "text/plain")).await, 415);
    let st = api.state().await;
    assert!(st["session"].is_null(), "no session was started: {st}");
    // The kiosk's own page still works.
    let own = format!("http://{addr}");
    assert_eq!(
        raw(&addr, post(&addr, Some(&own), "application/json")).await,
        200
    );
    assert!(!api.state().await["session"].is_null());
    api.ok("/api/v1/session/cancel", json!({})).await;
    api.until_ended().await;
    api.ok("/api/v1/session/finish", json!({})).await;
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_door_opened_on_the_io_board_takes_the_kiosk_out_of_service_until_closed() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(&dir, |_| {}).await;
    let api = Api::of(&s);
    let c = s.controls();
    let door = |open| json!({"cmd": "door", "door": "cash", "open": open});
    c.sim("io-board", door(true)).await.unwrap();
    let st = api
        .until("out of service", |s| s["kiosk"]["mode"] == "out-of-service")
        .await;
    assert!(
        st["kiosk"]["reason"]
            .as_str()
            .unwrap()
            .contains("cash door"),
        "{st}"
    );
    let (status, body) = api.post("/api/v1/session", json!({})).await;
    assert_eq!(status, 503, "{body}");
    c.sim("io-board", door(false)).await.unwrap();
    api.until("open", |s| s["kiosk"]["mode"] == "open").await;
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(
        log.contains("door-open"),
        "the opening is an incident in the log"
    );
    // The daemon set the board's host watchdog with a MAC and found it in the signed
    // status; every event verified.
    assert!(
        log.contains("I/O board host watchdog set and confirmed"),
        "{log}"
    );
    assert!(!log.contains("io-board-config"), "{log}");
    assert!(!log.contains("io-board-event-forged"), "{log}");
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_will_not_sign_with_a_missing_or_exposed_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut s = stack(&dir, |_| {}).await;
    s.stop_daemon().await.unwrap();
    let key = dir.path().join("signing.key");
    let stderr = || std::fs::read_to_string(dir.path().join("daemon.stderr")).unwrap_or_default();
    // Readable by others: refused, and the key is not used.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        s.start_daemon().await.is_err(),
        "started with an exposed key"
    );
    assert!(stderr().contains("readable by others"), "{}", stderr());
    // Missing: refused, with no fallback key.
    std::fs::remove_file(&key).unwrap();
    assert!(s.start_daemon().await.is_err(), "started without a key");
    assert!(stderr().contains("provision signing.key"), "{}", stderr());
    // And it says so to the service manager with EX_CONFIG, which the unit does not
    // restart in a loop (RestartPreventExitStatus=2 78).
    let out = std::process::Command::new(common::bins().daemon)
        .arg("--config")
        .arg(dir.path().join("kiosk.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop().await.unwrap();
}
