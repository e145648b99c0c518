//! The hardware shell on embedded-hal-mock pins, a fake serial port, clock and watchdog.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::cell::Cell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::rc::Rc;

use common::*;
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as T};
use kiosk_firmware::{Clock, Config, Pins, Shell, Watchdog};
use kiosk_ioproto::host::{HostEncoder, decode_stream, unlock_command};
use kiosk_ioproto::*;

#[derive(Default)]
struct FakeSerial {
    rx: VecDeque<u8>,
    tx: Vec<u8>,
}

impl embedded_io::ErrorType for FakeSerial {
    type Error = Infallible;
}

impl embedded_io::Read for FakeSerial {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let n = buf.len().min(self.rx.len());
        for slot in buf.iter_mut().take(n) {
            *slot = self.rx.pop_front().unwrap();
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for FakeSerial {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.rx.is_empty())
    }
}

impl embedded_io::Write for FakeSerial {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.tx.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

#[derive(Clone)]
struct FakeClock(Rc<Cell<u64>>);
impl Clock for FakeClock {
    fn now_ms(&mut self) -> u64 {
        self.0.get()
    }
}

#[derive(Clone, Default)]
struct FakeWatchdog(Rc<Cell<u32>>);
impl Watchdog for FakeWatchdog {
    fn feed(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn gets(states: &[State]) -> Vec<T> {
    states.iter().map(|s| T::get(*s)).collect()
}

type TestShell = Shell<PinMock, PinMock, FakeSerial, FakeClock, FakeWatchdog>;

fn shell(
    inputs: [Vec<T>; 7],
    locks: [Vec<T>; 3],
    relay: Vec<T>,
    active_low: InputSet,
) -> (TestShell, Rc<Cell<u64>>, Rc<Cell<u32>>) {
    let time = Rc::new(Cell::new(1_000));
    let fed = Rc::new(Cell::new(0));
    let pins = Pins {
        inputs: inputs.map(|t| PinMock::new(&t)),
        active_low,
        locks: locks.map(|t| PinMock::new(&t)),
        reset_relay: PinMock::new(&relay),
    };
    let s = Shell::new(
        board(Config::default()),
        pins,
        FakeSerial::default(),
        FakeClock(time.clone()),
        FakeWatchdog(fed.clone()),
    );
    (s, time, fed)
}

fn finish(s: TestShell) -> FakeSerial {
    let (_, mut pins, serial, _, _) = s.release();
    for p in pins.inputs.iter_mut() {
        p.done();
    }
    for p in pins.locks.iter_mut() {
        p.done();
    }
    pins.reset_relay.done();
    serial
}

fn replies(bytes: &[u8]) -> Vec<Message> {
    let mut dec = FrameDecoder::new();
    let mut out = Vec::new();
    decode_stream(&mut dec, bytes, |r| out.push(r.unwrap().msg));
    out
}

#[test]
fn drives_outputs_on_first_poll_then_only_changes_and_unlocks_with_a_mac() {
    use State::{High, Low};
    // Four polls: every input read each time.
    let inputs: [Vec<T>; 7] = std::array::from_fn(|_| gets(&[Low, Low, Low, Low]));
    // Front lock: low at start, high when unlocked; the others only at start.
    let locks = [
        vec![T::set(Low), T::set(High)],
        vec![T::set(Low)],
        vec![T::set(Low)],
    ];
    let relay = vec![T::set(Low)];
    let (mut s, time, fed) = shell(inputs, locks, relay, InputSet::EMPTY);

    let r = s.poll();
    assert!(r.fed);
    assert_eq!(fed.get(), 1);

    // The host asks for a nonce.
    let mut enc = HostEncoder::new(1);
    time.set(1_010);
    s.serial_mut()
        .rx
        .extend(enc.frame(Message::GetNonce).1.as_bytes());
    let r = s.poll();
    assert!(r.fed && r.rx_bytes > 0 && r.tx_bytes > 0);
    let sent = std::mem::take(&mut s.serial_mut().tx);
    let nonce = match replies(&sent)[..] {
        // The board announces its start as soon as the host is heard.
        [
            Message::Nonce { nonce, .. },
            Message::Event {
                kind: EventKind::Alarm(Alarm::BoardStarted),
                ..
            },
        ] => nonce,
        ref other => panic!("{other:?}"),
    };

    // The host unlocks the front door.
    time.set(1_020);
    let cmd = unlock_command(&key(), BOARD_ID, Lock::FrontDoor, 3, &nonce);
    s.serial_mut().rx.extend(enc.frame(cmd).1.as_bytes());
    let r = s.poll();
    assert!(r.fed);
    assert!(r.outputs.locks.contains(Lock::FrontDoor));

    // Nothing changes: no pin is written.
    time.set(1_030);
    let r = s.poll();
    assert!(r.fed);
    assert_eq!(fed.get(), 4);
    let serial = finish(s);
    assert!(matches!(replies(&serial.tx)[..], [Message::Ack { .. }]));
}

#[test]
fn active_low_inputs_and_pin_errors() {
    use State::{High, Low};
    // Poll 1: the tamper pin (active low) reads high = not tripped; earphone reads high =
    // inserted. Poll 2: the tamper pin fails to read. Poll 3: tamper reads low = tripped.
    let mut inputs: [Vec<T>; 7] = std::array::from_fn(|_| gets(&[Low, Low, Low]));
    inputs[Input::Tamper.index()] = vec![
        T::get(High),
        T::get(High).with_error(MockError::Io(std::io::ErrorKind::Other)),
        T::get(Low),
    ];
    inputs[Input::Earphone.index()] = gets(&[High, High, High]);
    let locks = [vec![T::set(Low)], vec![T::set(Low)], vec![T::set(Low)]];
    let relay = vec![T::set(Low)];
    let active_low = InputSet::EMPTY.with(Input::Tamper, true);
    let (mut s, time, fed) = shell(inputs, locks, relay, active_low);

    assert!(s.poll().fed);
    let st = s.board().status();
    assert!(st.inputs.contains(Input::Earphone));
    assert!(!st.inputs.contains(Input::Tamper));

    time.set(1_010);
    let r = s.poll();
    assert_eq!(r.input_errors, 1 << Input::Tamper.index());
    assert!(!r.fed, "a failing pin means an unhealthy loop");
    assert_eq!(fed.get(), 1);

    time.set(1_020);
    assert!(s.poll().fed);
    finish(s);
}

#[test]
fn failed_output_write_is_retried_and_not_fed() {
    use State::Low;
    let inputs: [Vec<T>; 7] = std::array::from_fn(|_| gets(&[Low, Low]));
    let err = MockError::Io(std::io::ErrorKind::Other);
    let locks = [
        vec![T::set(Low), T::set(Low)],
        vec![T::set(Low).with_error(err), T::set(Low)],
        vec![T::set(Low), T::set(Low)],
    ];
    let relay = vec![T::set(Low), T::set(Low)];
    let (mut s, time, fed) = shell(inputs, locks, relay, InputSet::EMPTY);
    let r = s.poll();
    assert!(r.output_error && !r.fed);
    time.set(1_010);
    let r = s.poll();
    assert!(!r.output_error && r.fed);
    assert_eq!(fed.get(), 1);
    finish(s);
}
