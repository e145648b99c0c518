//! Starts the `kiosk-sim io-board` binary and talks to it as the host over the pty, and
//! steers it through the control socket.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiosk_ioproto::host::{
    EventGuard, HostEncoder, maintenance_command, unlock_command, verify_status, watchdog_command,
};
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
    /// Every event as received, MAC included, checked at the end against the boot id of a
    /// verified status.
    signed_events: Vec<(u64, u64, EventKind, [u8; 16])>,
    replies: Vec<Frame>,
    challenges: u8,
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
            Message::BoardHello { .. } | Message::Nonce { .. } | Message::Status { .. } => true,
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
                            Message::Event {
                                event_seq,
                                at_ms,
                                kind,
                                mac,
                            } => {
                                self.events.push(kind);
                                self.signed_events.push((event_seq, at_ms, kind, mac));
                            }
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

impl HostSide {
    /// Writes raw bytes (a frame built by hand) to the board.
    fn send_raw(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).unwrap();
        self.port.flush().unwrap();
    }

    /// The reply naming `seq`.
    fn reply_to_seq(&mut self, seq: u16) -> Message {
        self.reply_to(|m| match m {
            Message::Ack { seq: s } | Message::Nak { seq: s, .. } => *s == seq,
            _ => false,
        })
    }

    fn nonce(&mut self) -> [u8; 16] {
        match self.exchange(Message::GetNonce) {
            Message::Nonce { nonce, .. } => nonce,
            other => panic!("no nonce: {other:?}"),
        }
    }

    /// The status over a fresh challenge, its MAC checked; with the boot id.
    fn status(&mut self, key: &Key) -> (Status, [u8; 16]) {
        self.challenges += 1;
        let challenge = [self.challenges; 16];
        let reply = self.exchange(Message::GetStatus { challenge });
        verify_status(key, BOARD_ID, &challenge, &reply).expect("a verified status")
    }
}

/// Starts `kiosk-sim io-board` and opens its pty as the host; returns the process guard,
/// the host side, the control socket's path and the simulator's stderr.
fn start_sim(dir: &std::path::Path) -> (Sim, HostSide, String, std::process::ChildStderr) {
    let ctl = dir.join("io.sock");
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
    let stderr = child.stderr.take().unwrap();
    let sim = Sim(child);
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
    let host = HostSide {
        port,
        enc: HostEncoder::new(1),
        dec: FrameDecoder::new(),
        events: Vec::new(),
        signed_events: Vec::new(),
        replies: Vec::new(),
        challenges: 0,
    };
    (sim, host, control_path, stderr)
}

/// A frame with a good CRC around any kind and payload, as a line attacker (or a
/// protocol-1 host) would send it.
fn raw_frame(seq: u16, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut raw = seq.to_le_bytes().to_vec();
    raw.push(kind);
    raw.extend_from_slice(payload);
    raw.extend_from_slice(&crc::crc16(&raw).to_le_bytes());
    let mut enc = vec![0u8; raw.len() + 2];
    let n = cobs::encode(&raw, &mut enc).unwrap();
    enc.truncate(n);
    enc.push(0);
    enc
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
    let (sim, mut host, control_path, mut stderr) = start_sim(dir.path());
    let _sim = sim;
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
    let (status, _) = host.status(&key);
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
    // Every event carried a MAC over this boot, in rising order.
    let (_, boot_id) = host.status(&key);
    let mut guard = EventGuard::new(BOARD_ID, boot_id);
    for (seq, at, kind, mac) in &host.signed_events {
        assert_eq!(guard.check(&key, *seq, *at, *kind, mac), Ok(()), "{kind:?}");
    }

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

/// Security issue 13, item 6: on the simulated board, over the pty, an unauthenticated
/// watchdog or maintenance command (protocol 1's bytes, or protocol 2's without a valid MAC)
/// is NAKed and changes nothing; a replayed authenticated one is NAKed too.
#[test]
fn unauthenticated_watchdog_and_maintenance_commands_are_nakd_by_the_virtual_board() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, mut host, control_path, _stderr) = start_sim(dir.path());
    let key = Key::from_hex(KEY_HEX).unwrap();
    assert!(matches!(
        host.exchange(Message::Heartbeat),
        Message::Ack { .. }
    ));

    // What anything on the line could send before: "watchdog 10 s", "maintenance 4 h",
    // with no MAC at all. (Each counts as a bad MAC: this test stays under the five that
    // lock authenticated commands out.)
    for (seq, kind, value) in [(900u16, 0x06u8, 10u16), (901, 0x07, 14_400)] {
        host.send_raw(&raw_frame(seq, kind, &value.to_le_bytes()));
        assert_eq!(
            host.reply_to_seq(seq),
            Message::Nak {
                seq,
                reason: NakReason::Unauthenticated
            },
            "kind {kind:#x}"
        );
    }
    // Protocol 2's shape with a made-up nonce and no MAC.
    let bare = Message::ConfigureWatchdog {
        timeout_s: 10,
        nonce: [0; 16],
        mac: [0; 32],
    };
    assert!(matches!(
        host.exchange(bare),
        Message::Nak {
            reason: NakReason::StaleNonce,
            ..
        }
    ));
    // A fresh nonce, but a MAC made without the key.
    let nonce = host.nonce();
    let forged = watchdog_command(&Key::new([0xEE; 32]), BOARD_ID, 0, &nonce);
    assert!(matches!(
        host.exchange(forged),
        Message::Nak {
            reason: NakReason::BadMac,
            ..
        }
    ));
    let nonce = host.nonce();
    let forged = maintenance_command(&Key::new([0xEE; 32]), BOARD_ID, 600, &nonce);
    assert!(matches!(
        host.exchange(forged),
        Message::Nak {
            reason: NakReason::BadMac,
            ..
        }
    ));
    let (status, _) = host.status(&key);
    assert_eq!(status.watchdog_s, 60, "the watchdog was not touched");
    assert!(!status.flags.maintenance);

    // The host's own authenticated command works once; its replay is refused.
    let nonce = host.nonce();
    let good = watchdog_command(&key, BOARD_ID, 300, &nonce);
    assert!(matches!(host.exchange(good), Message::Ack { .. }));
    assert_eq!(host.status(&key).0.watchdog_s, 300);
    let nonce = host.nonce();
    let again = watchdog_command(&key, BOARD_ID, 60, &nonce);
    assert!(matches!(host.exchange(again), Message::Ack { .. }));
    assert!(matches!(
        host.exchange(good),
        Message::Nak {
            reason: NakReason::StaleNonce,
            ..
        }
    ));
    assert_eq!(host.status(&key).0.watchdog_s, 60);
    let state = control(&control_path, r#"{"cmd":"status"}"#);
    assert_eq!(state["reset_pulses"], 0, "{state}");
}
