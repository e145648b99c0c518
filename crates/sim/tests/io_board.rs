//! Starts the `kiosk-sim io-board` binary and talks to it as the host over the pty, and
//! steers it through the control socket.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiosk_ioproto::host::{HostEncoder, unlock_command};
use kiosk_ioproto::*;

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const BOARD_ID: u32 = 77;
/// Upper bound for any single exchange; a failing test stops here instead of hanging.
const DEADLINE: Duration = Duration::from_secs(10);

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct HostSide {
    port: Box<dyn serialport::SerialPort>,
    enc: HostEncoder,
    dec: FrameDecoder,
    events: Vec<EventKind>,
    replies: Vec<Frame>,
}

impl HostSide {
    fn send(&mut self, msg: Message) -> u16 {
        let (seq, wire) = self.enc.frame(msg);
        self.port.write_all(wire.as_bytes()).unwrap();
        self.port.flush().unwrap();
        seq
    }

    /// Reads frames until `want` matches a reply (not an event) or the deadline passes.
    fn reply_to(&mut self, want: impl Fn(&Message) -> bool) -> Message {
        let start = Instant::now();
        loop {
            if let Some(i) = self.replies.iter().position(|f| want(&f.msg)) {
                return self.replies.remove(i).msg;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no matching reply; got {:?}",
                self.replies
            );
            self.pump();
        }
    }

    fn exchange(&mut self, msg: Message) -> Message {
        let seq = self.send(msg);
        self.reply_to(|m| match m {
            Message::Ack { seq: s } | Message::Nak { seq: s, .. } => *s == seq,
            Message::BoardHello { .. } | Message::Nonce { .. } | Message::Status(_) => true,
            _ => false,
        })
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 256];
        match self.port.read(&mut buf) {
            Ok(n) => {
                for &b in &buf[..n] {
                    if let Some(r) = self.dec.push(b) {
                        let f = r.expect("board frames decode");
                        match f.msg {
                            Message::Event { kind, .. } => self.events.push(kind),
                            _ => self.replies.push(f),
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("reading the pty: {e}"),
        }
    }
}

fn control(path: &str, cmd: &str) -> serde_json::Value {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    writeln!(s, "{cmd}").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

#[test]
fn host_talks_to_the_virtual_board() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = dir.path().join("io.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiosk-sim"))
        .args([
            "io-board",
            "--key-hex",
            KEY_HEX,
            "--board-id",
            "77",
            "--control",
        ])
        .arg(&ctl)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let _sim = Sim(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let info: serde_json::Value = serde_json::from_str(&first).unwrap();
    let port_name = info["port"].as_str().unwrap().to_owned();
    let control_path = info["control"].as_str().unwrap().to_owned();
    assert!(port_name.starts_with("/dev/pts/"), "{port_name}");
    assert_eq!(control_path, ctl.to_str().unwrap());

    let port = serialport::new(&port_name, 115_200)
        .timeout(Duration::from_millis(50))
        .open()
        .unwrap();
    let mut host = HostSide {
        port,
        enc: HostEncoder::new(1),
        dec: FrameDecoder::new(),
        events: Vec::new(),
        replies: Vec::new(),
    };
    let key = Key::from_hex(KEY_HEX).unwrap();

    // Hello and heartbeat.
    match host.exchange(Message::Hello {
        protocol: PROTOCOL_VERSION,
    }) {
        Message::BoardHello {
            board_id, protocol, ..
        } => {
            assert_eq!(board_id, BOARD_ID);
            assert_eq!(protocol, PROTOCOL_VERSION);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        host.exchange(Message::Heartbeat),
        Message::Ack { .. }
    ));

    // Nonce, then an unlock with a good MAC energises the lock.
    let Message::Nonce { nonce, .. } = host.exchange(Message::GetNonce) else {
        panic!("no nonce")
    };
    let unlock = unlock_command(&key, BOARD_ID, Lock::RearDoor, 5, &nonce);
    assert!(matches!(host.exchange(unlock), Message::Ack { .. }));
    let state = control(&control_path, r#"{"cmd":"status"}"#);
    assert_eq!(state["locks"]["rear"], true, "{state}");
    assert_eq!(state["locks"]["front"], false, "{state}");
    let Message::Status(status) = host.exchange(Message::GetStatus) else {
        panic!("no status")
    };
    assert!(status.locks.contains(Lock::RearDoor));

    // The same command replayed is refused.
    assert!(matches!(
        host.exchange(unlock),
        Message::Nak {
            reason: NakReason::StaleNonce,
            ..
        }
    ));

    // A bad MAC on a fresh nonce is refused.
    let Message::Nonce { nonce, .. } = host.exchange(Message::GetNonce) else {
        panic!("no nonce")
    };
    let wrong_key = Key::new([0xEE; 32]);
    let bad = unlock_command(&wrong_key, BOARD_ID, Lock::FrontDoor, 5, &nonce);
    assert!(matches!(
        host.exchange(bad),
        Message::Nak {
            reason: NakReason::BadMac,
            ..
        }
    ));
    let state = control(&control_path, r#"{"cmd":"status"}"#);
    assert_eq!(state["locks"]["front"], false, "{state}");

    // A door opened through the control socket arrives as an input-change frame.
    let reply = control(&control_path, r#"{"cmd":"door","door":"rear","open":true}"#);
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["inputs"]["rear_door_open"], true);
    let want = EventKind::Input {
        input: Input::RearDoor,
        active: true,
    };
    let start = Instant::now();
    while !host.events.contains(&want) {
        assert!(
            start.elapsed() < DEADLINE,
            "events so far: {:?}",
            host.events
        );
        host.send(Message::Heartbeat);
        host.pump();
    }
    assert!(host.events.contains(&EventKind::Alarm(Alarm::BoardStarted)));

    // Closing the door relocks the rear lock.
    control(
        &control_path,
        r#"{"cmd":"door","door":"rear","open":false}"#,
    );
    let start = Instant::now();
    loop {
        host.send(Message::Heartbeat);
        host.pump();
        let state = control(&control_path, r#"{"cmd":"status"}"#);
        if state["locks"]["rear"] == false {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{state}");
    }

    // Bad control input gets an error, not a crash.
    let reply = control(&control_path, r#"{"cmd":"open_sesame"}"#);
    assert_eq!(reply["ok"], false);
    let reply = control(&control_path, r#"{"cmd":"earphone","inserted":true}"#);
    assert_eq!(reply["inputs"]["earphone"], true);

    // The key never shows up in the simulator's output.
    drop(_sim);
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert!(!err.contains(KEY_HEX), "key leaked to stderr");
}
