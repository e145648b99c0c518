//! Starts the `kiosk-sim` device subcommands, steers them through their control sockets and
//! drives the shipping coin-acceptor driver against the simulator over its pty.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kiosk_core::Coin;
use kiosk_devices::api::{CompletionCode, QueueSizes};
use kiosk_devices::cctalk::acceptor::{
    self, AcceptorCommand, AcceptorConfig, AcceptorEvent, MemoryCounterStore,
};
use kiosk_devices::link::SerialLink;
use serde_json::{Value, json};

/// Upper bound for any single exchange; a failing test stops here instead of hanging.
const DEADLINE: Duration = Duration::from_secs(10);

/// A running simulator process, killed when dropped.
struct Sim {
    child: Child,
    port: String,
    control: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str], control: &Path) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiosk-sim"))
        .args(args)
        .arg("--control")
        .arg(control)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut sim = Sim {
        child,
        port: String::new(),
        control: String::new(),
    };
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let info: Value = serde_json::from_str(&first).unwrap();
    sim.port = info["port"].as_str().unwrap().to_owned();
    sim.control = info["control"].as_str().unwrap().to_owned();
    assert!(sim.port.starts_with("/dev/pts/"), "{info}");
    assert_eq!(sim.control, control.to_str().unwrap());
    sim
}

/// One control connection: a line out, a line back.
struct Control {
    stream: UnixStream,
    lines: std::io::Lines<BufReader<UnixStream>>,
}

impl Control {
    fn connect(path: &str) -> Control {
        let stream = UnixStream::connect(path).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let lines = BufReader::new(stream.try_clone().unwrap()).lines();
        Control { stream, lines }
    }

    fn ask(&mut self, line: &str) -> Value {
        writeln!(self.stream, "{line}").unwrap();
        let answer = self.lines.next().unwrap().unwrap();
        serde_json::from_str(&answer).unwrap()
    }
}

#[test]
fn coin_acceptor_takes_a_coin_through_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(&["coin-acceptor"], &dir.path().join("ca.sock"));
    let mut ctl = Control::connect(&sim.control);

    let before = ctl.ask(r#"{"cmd":"state"}"#);
    assert_eq!(before["ok"], true, "{before}");
    assert_eq!(before["state"]["counter"], 0, "{before}");

    let after = ctl.ask(r#"{"cmd":"insert_coin","value":500}"#);
    assert_eq!(after["ok"], true, "{after}");
    // No host has enabled it, so the coin is one event (rejected), not an accepted coin.
    assert_eq!(after["state"]["counter"], 1, "{after}");
    assert_eq!(after["state"]["accepting"], false, "{after}");
    assert_eq!(after["state"]["accepted"], json!([]), "{after}");
}

#[test]
fn bad_control_lines_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(&["coin-acceptor"], &dir.path().join("ca.sock"));
    let mut ctl = Control::connect(&sim.control);
    let before = ctl.ask(r#"{"cmd":"state"}"#);

    for bad in [
        "not json",
        r#"{"value":500}"#,
        r#"{"cmd":"launch_rocket"}"#,
        r#"{"cmd":"insert_coin"}"#,
        r#"{"cmd":"insert_coin","value":1000}"#, // no such coin
        r#"{"cmd":"insert_note","value":1000}"#, // not an acceptor command
        r#"{"cmd":"insert_coins","value":7,"count":3}"#,
    ] {
        let a = ctl.ask(bad);
        assert_eq!(a["ok"], false, "{bad}: {a}");
        assert!(a["error"].as_str().is_some_and(|e| !e.is_empty()), "{a}");
    }
    let long = format!(
        r#"{{"cmd":"insert_coin","value":500,"pad":"{}"}}"#,
        "x".repeat(8192)
    );
    let a = ctl.ask(&long);
    assert_eq!(a["ok"], false, "{a}");

    // The same connection still works, and nothing changed.
    assert_eq!(ctl.ask(r#"{"cmd":"state"}"#), before);
}

#[test]
fn every_device_subcommand_serves_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str, &str); 3] = [
        (
            &["hopper", "--coin", "500", "--level", "42"],
            r#"{"cmd":"empty_hopper"}"#,
            "level",
        ),
        (&["bill-validator"], r#"{"cmd":"fill_stacker"}"#, "stacked"),
        (&["receipt-printer"], r#"{"cmd":"open_cover"}"#, "status"),
    ];
    for (i, (args, cmd, field)) in cases.into_iter().enumerate() {
        let sim = start(args, &dir.path().join(format!("{i}.sock")));
        let mut ctl = Control::connect(&sim.control);
        let state = ctl.ask(r#"{"cmd":"state"}"#);
        assert_eq!(state["ok"], true, "{args:?}: {state}");
        assert!(!state["state"][field].is_null(), "{args:?}: {state}");
        let a = ctl.ask(cmd);
        assert_eq!(a["ok"], true, "{args:?}: {a}");
        // A command for another device is refused.
        let a = ctl.ask(r#"{"cmd":"insert_coin","value":500}"#);
        assert_eq!(a["ok"], false, "{args:?}: {a}");
    }
    // The hopper's options reached the simulator.
    let sim = start(
        &["hopper", "--coin", "100", "--level", "42"],
        &dir.path().join("h.sock"),
    );
    let state = Control::connect(&sim.control).ask(r#"{"cmd":"state"}"#);
    assert_eq!(state["state"]["level"], 42, "{state}");
    assert_eq!(state["state"]["coin"], json!(Coin::W100), "{state}");
}

#[test]
fn the_validator_and_hopper_states_carry_their_device_keys() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(
        &["bill-validator", "--serial", "77"],
        &dir.path().join("bv.sock"),
    );
    let mut ctl = Control::connect(&sim.control);
    let state = ctl.ask(r#"{"cmd":"state"}"#);
    assert_eq!(state["state"]["serial"], 77, "{state}");
    assert_eq!(state["state"]["stacked_counter"], 0, "{state}");
    assert_eq!(state["state"]["rejected_counter"], 0, "{state}");
    // No host has enabled it: the note is handed back and counted as rejected.
    let a = ctl.ask(r#"{"cmd":"insert_note","value":1000}"#);
    assert_eq!(a["state"]["returned"], json!([1000]), "{a}");
    assert_eq!(a["state"]["rejected_counter"], 1, "{a}");
    assert_eq!(a["state"]["stacked_counter"], 0, "{a}");

    let sim = start(&["bill-validator"], &dir.path().join("bv2.sock"));
    let state = Control::connect(&sim.control).ask(r#"{"cmd":"state"}"#);
    assert_eq!(state["state"]["serial"], 0x00C0_FFEE, "{state}");

    let sim = start(&["hopper", "--coin", "500"], &dir.path().join("h.sock"));
    let state = Control::connect(&sim.control).ask(r#"{"cmd":"state"}"#);
    for field in ["counter", "remaining", "paid", "unpaid"] {
        assert_eq!(state["state"][field], 0, "{field}: {state}");
    }
}

#[test]
fn a_bad_hopper_coin_is_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_kiosk-sim"))
        .args(["hopper", "--coin", "7"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipping_driver_credits_a_coin_inserted_through_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(&["coin-acceptor"], &dir.path().join("ca.sock"));
    let port = serialport::new(&sim.port, 9600)
        .timeout(Duration::from_millis(50))
        .open_native()
        .unwrap();
    let config = AcceptorConfig {
        poll_interval: Duration::from_millis(20),
        ..AcceptorConfig::default()
    };
    let (h, mut rx) = acceptor::spawn(
        SerialLink::new(port),
        config,
        Box::new(MemoryCounterStore::new()),
        QueueSizes::default(),
    );
    let mut seen = Vec::new();
    let mut next = async |seen: &mut Vec<AcceptorEvent>, want: fn(&AcceptorEvent) -> bool| {
        tokio::time::timeout(DEADLINE, async {
            loop {
                let e = rx.recv().await.expect("driver stopped").body;
                seen.push(e.clone());
                if want(&e) {
                    return e;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no matching event; saw {seen:?}"))
    };
    next(&mut seen, |e| matches!(e, AcceptorEvent::Ready { .. })).await;
    let c = h.call(AcceptorCommand::Enable).await.expect("ack");
    assert_eq!(c.code, CompletionCode::Success, "{c:?}");

    let control = sim.control.clone();
    let a = tokio::task::spawn_blocking(move || {
        Control::connect(&control).ask(r#"{"cmd":"insert_coin","value":500}"#)
    })
    .await
    .unwrap();
    assert_eq!(a["ok"], true, "{a}");

    let e = next(&mut seen, |e| {
        matches!(e, AcceptorEvent::CoinCredited { .. })
    })
    .await;
    let AcceptorEvent::CoinCredited { coin, counter, .. } = e else {
        unreachable!()
    };
    assert_eq!(coin, Coin::W500);
    let credited = seen
        .iter()
        .filter(|e| matches!(e, AcceptorEvent::CoinCredited { .. }))
        .count();
    assert_eq!(credited, 1, "{seen:?}");

    let control = sim.control.clone();
    let state =
        tokio::task::spawn_blocking(move || Control::connect(&control).ask(r#"{"cmd":"state"}"#))
            .await
            .unwrap();
    assert_eq!(state["state"]["accepted"], json!([Coin::W500]), "{state}");
    // The credit's key is the simulator's own event counter.
    assert_eq!(state["state"]["counter"], counter, "{state}");
    assert_eq!(state["state"]["accepting"], true, "{state}");
}
