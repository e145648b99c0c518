//! The I/O-board client against the real firmware logic running on the far end of a pty.
#![allow(clippy::unwrap_used)]

use kiosk_devices::ioboard::{IoBoardClient, IoBoardError};
use kiosk_devices::link::{SerialLink, pty_pair};
use kiosk_firmware::{Board, Config};
use kiosk_ioproto::Key;
use kiosk_ioproto::message::{EventKind, Input, InputSet, Lock, NakReason};
use serialport::SerialPort;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct FakeBoard {
    inputs: Arc<AtomicU8>,
    locks: Arc<Mutex<u8>>,
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
    let stop = Arc::new(AtomicBool::new(false));
    let (i, l, s) = (inputs.clone(), locks.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        let mut b = Board::new(Config::default(), key, 7, [3; 16]);
        let start = Instant::now();
        let mut buf = [0u8; 128];
        while !s.load(Ordering::SeqCst) {
            let n = device.read(&mut buf).unwrap_or(0);
            let now = start.elapsed().as_millis() as u64;
            let raw = InputSet::from_bits_truncate(i.load(Ordering::SeqCst));
            let step = b.step(now, raw, &buf[..n]);
            *l.lock().unwrap() = step.outputs.locks.bits();
            if !step.tx.as_bytes().is_empty() {
                device.write_all(step.tx.as_bytes()).unwrap();
            }
        }
    });
    (
        FakeBoard {
            inputs,
            locks,
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
    let mut c = IoBoardClient::connect(link, key(1), Duration::from_secs(2)).unwrap();
    c.heartbeat().unwrap();
    match c.unlock(Lock::CashDoor, 5) {
        Err(IoBoardError::Refused(NakReason::BadMac)) => {}
        other => panic!("expected BadMac, got {other:?}"),
    }
    assert!(!c.status().unwrap().locks.contains(Lock::CashDoor));
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
