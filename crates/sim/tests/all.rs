//! `kiosk-sim all --config FILE`: a whole kiosk's devices from one file.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ask(control: &str, line: &str) -> serde_json::Value {
    let mut s = UnixStream::connect(control).unwrap();
    writeln!(s, "{line}").unwrap();
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap()
}

#[test]
fn a_whole_kiosk_starts_from_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("board.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let config = dir.path().join("kiosk.toml");
    std::fs::write(
        &config,
        format!(
            "control_dir = {:?}\n[coin_acceptor]\n[[hopper]]\ncoin = 100\nlevel = 300\n[[hopper]]\ncoin = 500\n\
             [bill_validator]\nserial = 4242\n[receipt_printer]\n[io_board]\nkey_file = {:?}\n",
            dir.path(),
            key
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiosk-sim"))
        .args(["all", "--config", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _kill = Kill(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let map: serde_json::Value = serde_json::from_str(&first).unwrap();
    let names: Vec<&str> = map
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "bill-validator",
            "coin-acceptor",
            "hopper-100",
            "hopper-500",
            "io-board",
            "receipt-printer"
        ]
    );
    for (name, d) in map.as_object().unwrap() {
        assert!(
            d["port"].as_str().unwrap().starts_with("/dev/pts/"),
            "{name}"
        );
    }
    let hopper = ask(
        map["hopper-100"]["control"].as_str().unwrap(),
        r#"{"cmd":"state"}"#,
    );
    assert_eq!(hopper["ok"], true);
    assert_eq!(hopper["state"]["level"], 300, "{hopper}");
    let coin = ask(
        map["coin-acceptor"]["control"].as_str().unwrap(),
        r#"{"cmd":"insert_coin","value":100}"#,
    );
    assert_eq!(coin["ok"], true, "{coin}");
    let validator = ask(
        map["bill-validator"]["control"].as_str().unwrap(),
        r#"{"cmd":"state"}"#,
    );
    assert_eq!(validator["state"]["serial"], 4242, "{validator}");
}

#[test]
fn a_bad_device_file_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (text, why) in [
        (
            "[[hopper]]\ncoin = 100\n[[hopper]]\ncoin = 100\n",
            "two hoppers",
        ),
        ("[[hopper]]\ncoin = 20\n", "10, 50, 100 or 500"),
        ("[coin_acceptr]\n", "unknown field"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kiosk-sim"))
            .args(["all", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "nothing started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{why}: {err}");
    }
}
