//! The I/O-board client against the real firmware logic running on the far end of a pty.
#![allow(clippy::unwrap_used)]

use kiosk_devices::ioboard::{IoBoardClient, IoBoardError};
use kiosk_devices::link::{SerialLink, pty_pair};
use kiosk_firmware::{Board, Config};
use kiosk_ioproto::message::{EventKind, Input, InputSet, Lock, Message, NakReason};
use kiosk_ioproto::{Frame, FrameDecoder, Key};
use serialport::SerialPort;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct FakeBoard {
    inputs: Arc<AtomicU8>,
    locks: Arc<Mutex<u8>>,
    /// Everything the board sent (what a shim on the line could record).
    tap: Arc<Mutex<Vec<u8>>>,
    /// Bytes a shim slips onto the board-to-host line.
    inject: Arc<Mutex<Vec<u8>>>,
    /// Set to make the board restart (a new boot, a new seed).
    restart: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FakeBoard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Runs `Board::step` every millisecond over the device side of a pty.
fn board(key: Key) -> (FakeBoard, SerialLink) {
    let (mut device, host) = pty_pair().unwrap();
    device.set_timeout(Duration::from_millis(1)).unwrap();
    let inputs = Arc::new(AtomicU8::new(0));
    let locks = Arc::new(Mutex::new(0u8));
    let tap = Arc::new(Mutex::new(Vec::new()));
    let inject = Arc::new(Mutex::new(Vec::new()));
    let restart = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (i, l, s) = (inputs.clone(), locks.clone(), stop.clone());
    let (t, inj, r) = (tap.clone(), inject.clone(), restart.clone());
    let thread = std::thread::spawn(move || {
        let mut seed = 3u8;
        let mut b = Board::new(Config::default(), key.clone(), 7, [seed; 16], 1);
        let start = Instant::now();
        let mut buf = [0u8; 128];
        while !s.load(Ordering::SeqCst) {
            if r.swap(false, Ordering::SeqCst) {
                seed += 1;
                b = Board::new(Config::default(), key.clone(), 7, [seed; 16], 1);
            }
            let n = device.read(&mut buf).unwrap_or(0);
            let now = start.elapsed().as_millis() as u64;
            let raw = InputSet::from_bits_truncate(i.load(Ordering::SeqCst));
            let step = b.step(now, raw, &buf[..n]);
            *l.lock().unwrap() = step.outputs.locks.bits();
            if !step.tx.as_bytes().is_empty() {
                device.write_all(step.tx.as_bytes()).unwrap();
                t.lock().unwrap().extend_from_slice(step.tx.as_bytes());
            }
            let extra = std::mem::take(&mut *inj.lock().unwrap());
            if !extra.is_empty() {
                device.write_all(&extra).unwrap();
            }
        }
    });
    (
        FakeBoard {
            inputs,
            locks,
            tap,
            inject,
            restart,
            stop,
            thread: Some(thread),
        },
        SerialLink::new(host),
    )
}

fn key(b: u8) -> Key {
    Key::new([b; 32])
}

#[test]
fn hello_heartbeat_and_an_authenticated_unlock() {
    let (fake, link) = board(key(9));
    let mut c = IoBoardClient::connect(link, key(9), Duration::from_secs(2)).unwrap();
    assert_eq!(c.info().board_id, 7);
    c.heartbeat().unwrap();
    c.unlock(Lock::FrontDoor, 5).unwrap();
    let status = c.status().unwrap();
    assert!(status.locks.contains(Lock::FrontDoor), "{status:?}");
    // The solenoid output follows within a few steps.
    let deadline = Instant::now() + Duration::from_secs(2);
    while *fake.locks.lock().unwrap() & (1 << Lock::FrontDoor as u8) == 0 {
        assert!(Instant::now() < deadline, "front lock never energised");
        std::thread::sleep(Duration::from_millis(5));
    }
    c.relock(Lock::FrontDoor).unwrap();
    assert!(!c.status().unwrap().locks.contains(Lock::FrontDoor));
}

#[test]
fn a_wrong_key_never_opens_a_lock() {
    let (fake, link) = board(key(9));
    // The board's signed status does not verify under the wrong key: no connection, so
    // nothing is ever sent in the board's name.
    match IoBoardClient::connect(link, key(1), Duration::from_millis(500)) {
        Err(IoBoardError::BadStatusMac) => {}
        other => panic!("expected BadStatusMac, got {other:?}"),
    }
    assert!(
        tapped(&fake)
            .iter()
            .any(|f| matches!(f.msg, Message::Status { .. }))
    );
    assert_eq!(*fake.locks.lock().unwrap(), 0);
}

#[test]
fn door_changes_arrive_as_events_in_order() {
    let (fake, link) = board(key(9));
    let mut c = IoBoardClient::connect(link, key(9), Duration::from_secs(2)).unwrap();
    c.heartbeat().unwrap();
    let _ = c.take_events().unwrap(); // the board's start-up alarm
    let door = 1u8 << Input::FrontDoor as u8;
    fake.inputs.store(door, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100)); // longer than the 30 ms debounce
    c.heartbeat().unwrap();
    fake.inputs.store(0, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    c.heartbeat().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seen = Vec::new();
    while seen.len() < 2 && Instant::now() < deadline {
        seen.extend(
            c.take_events()
                .unwrap()
                .into_iter()
                .filter_map(|e| match e.kind {
                    EventKind::Input {
                        input: Input::FrontDoor,
                        active,
                    } => Some(active),
                    _ => None,
                }),
        );
    }
    assert_eq!(seen, vec![true, false]);
    assert_eq!(c.dropped_events(), 0);
}

/// The frames the board sent so far, decoded from the tap.
fn tapped(fake: &FakeBoard) -> Vec<Frame> {
    let mut dec = FrameDecoder::new();
    fake.tap
        .lock()
        .unwrap()
        .iter()
        .filter_map(|&b| dec.push(b))
        .map(|r| r.unwrap())
        .collect()
}

fn door_events(c: &mut IoBoardClient, want: usize) -> Vec<bool> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        c.heartbeat().unwrap();
        seen.extend(
            c.take_events()
                .unwrap()
                .into_iter()
                .filter_map(|e| match e.kind {
                    EventKind::Input {
                        input: Input::FrontDoor,
                        active,
                    } => Some(active),
                    _ => None,
                }),
        );
    }
    seen
}

#[test]
fn the_watchdog_is_set_with_a_mac_and_checked_in_the_signed_status() {
    let (_fake, link) = board(key(9));
    let mut c = IoBoardClient::connect(link, key(9), Duration::from_secs(2)).unwrap();
    assert_eq!(c.status().unwrap().watchdog_s, 60);
    let s = c.assert_watchdog(30).unwrap();
    assert_eq!(s.watchdog_s, 30);
    match c.assert_watchdog(5) {
        Err(IoBoardError::Refused(NakReason::OutOfRange)) => {}
        other => panic!("expected OutOfRange, got {other:?}"),
    }
    c.maintenance(600).unwrap();
    assert!(c.status().unwrap().flags.maintenance);
    c.maintenance(0).unwrap();
    assert!(!c.status().unwrap().flags.maintenance);
    assert_eq!(c.forged_statuses(), 0);
}

/// A shim on the board-to-host line replays a genuine "door closed" and makes one up: the
/// client drops both and counts them.
#[test]
fn forged_and_replayed_events_are_dropped_and_counted() {
    let (fake, link) = board(key(9));
    let mut c = IoBoardClient::connect(link, key(9), Duration::from_secs(2)).unwrap();
    c.heartbeat().unwrap();
    let _ = c.take_events().unwrap();
    let door = 1u8 << Input::FrontDoor as u8;
    fake.inputs.store(door, Ordering::SeqCst);
    assert_eq!(door_events(&mut c, 1), vec![true]);
    fake.inputs.store(0, Ordering::SeqCst);
    assert_eq!(door_events(&mut c, 1), vec![false]);
    // The door opens again; the shim hides that by replaying the recorded "closed".
    fake.inputs.store(door, Ordering::SeqCst);
    assert_eq!(door_events(&mut c, 1), vec![true]);
    let closed = tapped(&fake)
        .into_iter()
        .find(|f| {
            matches!(
                f.msg,
                Message::Event {
                    kind: EventKind::Input {
                        input: Input::FrontDoor,
                        active: false
                    },
                    ..
                }
            )
        })
        .expect("the board sent a door-closed event");
    fake.inject
        .lock()
        .unwrap()
        .extend_from_slice(closed.encode().as_bytes());
    let Message::Event {
        event_seq, at_ms, ..
    } = closed.msg
    else {
        unreachable!()
    };
    // ... and makes one up with the next number.
    let forged = Frame {
        seq: closed.seq,
        msg: Message::Event {
            event_seq: event_seq + 100,
            at_ms: at_ms + 1_000,
            kind: EventKind::Input {
                input: Input::FrontDoor,
                active: false,
            },
            mac: [0x17; 16],
        },
    };
    fake.inject
        .lock()
        .unwrap()
        .extend_from_slice(forged.encode().as_bytes());
    let deadline = Instant::now() + Duration::from_secs(2);
    while c.replayed_events() + c.forged_events() < 2 {
        assert!(
            Instant::now() < deadline,
            "the injected events never arrived"
        );
        c.heartbeat().unwrap();
        let got = c.take_events().unwrap();
        assert!(
            got.iter().all(|e| !matches!(
                e.kind,
                EventKind::Input {
                    input: Input::FrontDoor,
                    active: false
                }
            )),
            "a fake door-closed got through: {got:?}"
        );
    }
    assert_eq!((c.replayed_events(), c.forged_events()), (1, 1));
    assert_eq!(c.board_restarts(), 0);
    // A made-up status ("all closed") is not taken for the board's: the truth is still
    // the board's signed one, the door is open.
    let fake_status = Frame {
        seq: 0,
        msg: Message::Status {
            status: kiosk_ioproto::Status::default(),
            boot_id: [0; 16],
            mac: [0; 16],
        },
    };
    fake.inject
        .lock()
        .unwrap()
        .extend_from_slice(fake_status.encode().as_bytes());
    std::thread::sleep(Duration::from_millis(5));
    assert!(c.status().unwrap().inputs.contains(Input::FrontDoor));
}

/// Events of a board that restarted fail the old boot's MAC; the client reads the signed
/// status, learns the new boot and accepts them, counting nothing as forged.
#[test]
fn a_restarted_board_is_followed_not_reported_as_forged() {
    let (fake, link) = board(key(9));
    let mut c = IoBoardClient::connect(link, key(9), Duration::from_secs(2)).unwrap();
    c.heartbeat().unwrap();
    let _ = c.take_events().unwrap();
    fake.restart.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut started = false;
    while !started {
        assert!(
            Instant::now() < deadline,
            "no BoardStarted from the new boot: restarts {} forged {} replayed {} dropped {}",
            c.board_restarts(),
            c.forged_events(),
            c.replayed_events(),
            c.dropped_events()
        );
        let _ = c.heartbeat();
        started = c
            .take_events()
            .unwrap()
            .iter()
            .any(|e| e.kind == EventKind::Alarm(kiosk_ioproto::Alarm::BoardStarted));
    }
    assert_eq!(c.board_restarts(), 1);
    assert_eq!(c.forged_events(), 0);
    assert_eq!(c.assert_watchdog(60).unwrap().watchdog_s, 60);
}
