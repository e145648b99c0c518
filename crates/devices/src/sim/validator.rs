//! The SSP bill validator simulator: channels 1..4 are 1,000 / 5,000 / 10,000 / 50,000 won.
//!
//! Like a real validator it keeps a serial number and note counters (GET_SERIAL_NUMBER,
//! GET_COUNTERS) that survive resets and host restarts: every credited note counts as
//! stacked, every note handed back as rejected. Drivers take their notes' device keys from
//! them, and recovery compares them with what was booked.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serialport::TTYPort;

use super::{LineFaults, Runner, SimCommand, SimError, lock};
use crate::link::{SerialLink, pty_pair};
use crate::ssp::{
    Counters, Packet, PacketDecoder, Setup, SspDecoded, SspEvent, cmd, encode_poll,
    encode_serial_number, encode_with_crc_xor, resp,
};

/// The serial number of a simulated validator unless another is configured.
pub const DEFAULT_SERIAL: u32 = 0x00C0_FFEE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoteState {
    Idle,
    Escrow(u8),
    Stacking(u8),
}

struct Validator {
    channels: Vec<u32>,
    inhibit: u16,
    enabled: bool,
    protocol: u8,
    batches: VecDeque<Vec<SspEvent>>,
    note: NoteState,
    pull_back_next: bool,
    jammed: bool,
    stacker: u32,
    stacker_capacity: u32,
    cashbox_present: bool,
    stacked: Vec<u64>,
    returned: Vec<u64>,
    serial: u32,
    counters: Counters,
    polls: u32,
    rejects: u32,
    last_seq: Option<bool>,
    cached: Vec<u8>,
}

impl Validator {
    fn value(&self, ch: u8) -> u64 {
        usize::from(ch)
            .checked_sub(1)
            .and_then(|i| self.channels.get(i))
            .map_or(0, |v| u64::from(*v))
    }

    /// A note of `value` won goes back to the citizen: it counts as rejected.
    fn hand_back(&mut self, value: u64) {
        self.returned.push(value);
        self.counters.rejected = self.counters.rejected.wrapping_add(1);
    }

    fn execute(&mut self, data: &[u8]) -> Vec<u8> {
        let ok = vec![resp::OK];
        match data {
            [cmd::SYNC] => ok,
            [cmd::HOST_PROTOCOL, v] => {
                if (6..=8).contains(v) {
                    self.protocol = *v;
                    ok
                } else {
                    vec![resp::FAIL]
                }
            }
            [cmd::SETUP_REQUEST] => Setup {
                unit_type: 0,
                firmware: "0101".into(),
                country: "KRW".into(),
                protocol: self.protocol,
                channels: self.channels.clone(),
            }
            .encode(),
            [cmd::SET_INHIBITS, lo, hi] => {
                self.inhibit = u16::from_le_bytes([*lo, *hi]);
                ok
            }
            [cmd::SET_INHIBITS, ..] => vec![resp::WRONG_LENGTH],
            [cmd::GET_SERIAL_NUMBER] => encode_serial_number(self.serial),
            [cmd::GET_COUNTERS] => self.counters.encode(),
            [cmd::ENABLE] => {
                self.enabled = true;
                ok
            }
            [cmd::DISABLE] => {
                self.enabled = false;
                ok
            }
            [cmd::HOLD] => match self.note {
                NoteState::Escrow(_) => ok,
                _ => vec![resp::CANNOT_PROCESS],
            },
            [cmd::REJECT] => match self.note {
                NoteState::Escrow(ch) => {
                    self.rejects += 1;
                    self.note = NoteState::Idle;
                    self.hand_back(self.value(ch));
                    self.batches.push_back(vec![SspEvent::Rejecting]);
                    self.batches.push_back(vec![SspEvent::Rejected]);
                    ok
                }
                _ => vec![resp::CANNOT_PROCESS],
            },
            [cmd::POLL] => {
                self.polls += 1;
                encode_poll(&self.poll())
            }
            _ => vec![resp::UNKNOWN],
        }
    }

    fn poll(&mut self) -> Vec<SspEvent> {
        if let Some(b) = self.batches.pop_front() {
            return b;
        }
        match self.note {
            // A POLL while a note waits in escrow lets it stack.
            NoteState::Escrow(ch) => {
                self.note = NoteState::Stacking(ch);
                vec![SspEvent::Stacking]
            }
            NoteState::Stacking(ch) => {
                self.note = NoteState::Idle;
                if std::mem::take(&mut self.pull_back_next) {
                    return vec![SspEvent::FraudAttempt(ch)];
                }
                self.stacker += 1;
                self.stacked.push(self.value(ch));
                self.counters.stacked = self.counters.stacked.wrapping_add(1);
                self.batches.push_back(vec![SspEvent::Stacked]);
                vec![SspEvent::Credit(ch), SspEvent::Stacking]
            }
            NoteState::Idle if self.jammed => vec![SspEvent::UnsafeJam],
            NoteState::Idle if !self.enabled => vec![SspEvent::Disabled],
            NoteState::Idle => vec![],
        }
    }

    fn insert(&mut self, value: u64) -> Result<(), SimError> {
        let ch = self
            .channels
            .iter()
            .position(|&v| u64::from(v) == value)
            .ok_or_else(|| SimError::Invalid(format!("no {value}-won channel")))?
            as u8
            + 1;
        if self.note != NoteState::Idle {
            return Err(SimError::Invalid(
                "a note is already in the validator".into(),
            ));
        }
        let refused = !self.enabled
            || self.inhibit & (1 << (ch - 1)) == 0
            || self.stacker >= self.stacker_capacity
            || !self.cashbox_present
            || self.jammed;
        self.batches.push_back(vec![SspEvent::Read(0)]);
        if refused {
            self.hand_back(value);
            self.batches.push_back(vec![SspEvent::Rejecting]);
            self.batches.push_back(vec![SspEvent::Rejected]);
        } else {
            self.batches.push_back(vec![SspEvent::Read(ch)]);
            self.note = NoteState::Escrow(ch);
        }
        Ok(())
    }

    fn reset(&mut self) {
        let mut batch = vec![SspEvent::SlaveReset];
        if let NoteState::Escrow(ch) | NoteState::Stacking(ch) = self.note {
            self.hand_back(self.value(ch));
            batch.push(SspEvent::ClearedFromFront(ch));
        }
        self.note = NoteState::Idle;
        self.batches.clear();
        self.batches.push_back(batch);
        self.enabled = false;
        self.inhibit = 0;
        self.last_seq = None;
        self.jammed = false;
    }
}

fn serve(
    mut link: SerialLink,
    id: u8,
    dev: Arc<Mutex<Validator>>,
    faults: Arc<Mutex<LineFaults>>,
    stop: Arc<AtomicBool>,
) {
    let mut decoder = PacketDecoder::new();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let n = match link.read_some(&mut buf, Duration::from_millis(2)) {
            Ok(n) => n,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        for item in decoder.push_all(&buf[..n]) {
            let SspDecoded::Packet(p) = item else {
                continue;
            };
            if p.id != id {
                continue;
            }
            let reply = {
                let mut d = lock(&dev);
                if p.data != [cmd::SYNC] && d.last_seq == Some(p.seq) {
                    // A retransmission: answer again, do not execute again.
                    d.cached.clone()
                } else {
                    let r = d.execute(&p.data);
                    d.last_seq = Some(p.seq);
                    d.cached = r.clone();
                    r
                }
            };
            let plan = lock(&faults).plan(p.data.first().copied().unwrap_or(0));
            let xor = if plan.corrupt { 0x5555 } else { 0 };
            let Ok(bytes) = encode_with_crc_xor(
                &Packet {
                    seq: p.seq,
                    id,
                    data: reply,
                },
                xor,
            ) else {
                continue;
            };
            if let Some(d) = plan.delay {
                std::thread::sleep(d);
            }
            if !plan.garbage.is_empty() {
                let _ = link.write_all(&plan.garbage);
            }
            if !plan.drop {
                let _ = link.write_all(&bytes);
            }
        }
    }
}

/// What the simulated validator has done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSimState {
    /// Accepting notes.
    pub enabled: bool,
    /// Channel inhibit mask (bit n = channel n+1 enabled).
    pub inhibit_mask: u16,
    /// The value of the note in escrow, if any.
    pub escrow: Option<u64>,
    /// Values of notes that physically reached the stacker, in order.
    pub stacked: Vec<u64>,
    /// Values of notes handed back, in order.
    pub returned: Vec<u64>,
    /// Its serial number (GET_SERIAL_NUMBER).
    pub serial: u32,
    /// Its stacked counter (GET_COUNTERS): notes credited, ever.
    pub stacked_counter: u32,
    /// Its rejected counter (GET_COUNTERS): notes handed back, ever.
    pub rejected_counter: u32,
    /// POLL commands executed (retransmissions not counted).
    pub polls: u32,
    /// REJECT commands executed.
    pub rejects: u32,
}

/// A simulated SSP bill validator.
pub struct ValidatorSim {
    dev: Arc<Mutex<Validator>>,
    faults: Arc<Mutex<LineFaults>>,
    _runner: Runner,
}

impl std::fmt::Debug for ValidatorSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorSim").finish_non_exhaustive()
    }
}

impl ValidatorSim {
    /// Starts a validator with SSP id `id` and serial number [`DEFAULT_SERIAL`] on a new
    /// pty; returns it and the host's end.
    pub fn spawn(id: u8) -> Result<(ValidatorSim, TTYPort), SimError> {
        ValidatorSim::spawn_with_serial(id, DEFAULT_SERIAL)
    }

    /// Starts a validator with SSP id `id` and serial number `serial` (two simulated
    /// kiosks must not share device keys) on a new pty; returns it and the host's end.
    pub fn spawn_with_serial(id: u8, serial: u32) -> Result<(ValidatorSim, TTYPort), SimError> {
        let (device_side, host_side) = pty_pair().map_err(|e| SimError::Link(e.to_string()))?;
        let dev = Arc::new(Mutex::new(Validator {
            channels: vec![1_000, 5_000, 10_000, 50_000],
            inhibit: 0,
            enabled: false,
            protocol: 6,
            batches: VecDeque::new(),
            note: NoteState::Idle,
            pull_back_next: false,
            jammed: false,
            stacker: 0,
            stacker_capacity: 500,
            cashbox_present: true,
            stacked: Vec::new(),
            returned: Vec::new(),
            serial,
            counters: Counters::default(),
            polls: 0,
            rejects: 0,
            last_seq: None,
            cached: Vec::new(),
        }));
        let faults = Arc::new(Mutex::new(LineFaults::default()));
        let (d, f) = (dev.clone(), faults.clone());
        let link = SerialLink::new(device_side);
        let runner = Runner::start(move |stop| serve(link, id, d, f, stop));
        Ok((
            ValidatorSim {
                dev,
                faults,
                _runner: runner,
            },
            host_side,
        ))
    }

    /// Applies a control command.
    pub fn apply(&self, cmd: SimCommand) -> Result<(), SimError> {
        let mut d = lock(&self.dev);
        match cmd {
            SimCommand::InsertNote { value } => return d.insert(value),
            SimCommand::PullBackNextNote => d.pull_back_next = true,
            SimCommand::Jam => {
                d.jammed = true;
                if let NoteState::Escrow(_) | NoteState::Stacking(_) = d.note {
                    d.note = NoteState::Idle;
                }
            }
            SimCommand::ClearJam => d.jammed = false,
            SimCommand::FillStacker => {
                d.stacker = d.stacker_capacity;
                d.batches.push_back(vec![SspEvent::StackerFull]);
            }
            SimCommand::EmptyStacker => d.stacker = 0,
            SimCommand::RemoveCashbox => {
                d.cashbox_present = false;
                d.batches.push_back(vec![SspEvent::CashboxRemoved]);
            }
            SimCommand::ReplaceCashbox => {
                d.cashbox_present = true;
                d.stacker = 0;
                d.batches.push_back(vec![SspEvent::CashboxReplaced]);
            }
            SimCommand::Fraud => d.batches.push_back(vec![SspEvent::FraudAttempt(0)]),
            SimCommand::Reset => d.reset(),
            SimCommand::Line { fault } => lock(&self.faults).add(fault),
            _ => return Err(SimError::Unsupported),
        }
        Ok(())
    }

    /// Feeds a note of `value` won.
    pub fn insert_note(&self, value: u64) -> Result<(), SimError> {
        self.apply(SimCommand::InsertNote { value })
    }

    /// A snapshot of its state.
    pub fn state(&self) -> ValidatorSimState {
        let d = lock(&self.dev);
        ValidatorSimState {
            enabled: d.enabled,
            inhibit_mask: d.inhibit,
            escrow: match d.note {
                NoteState::Escrow(ch) => Some(d.value(ch)),
                _ => None,
            },
            stacked: d.stacked.clone(),
            returned: d.returned.clone(),
            serial: d.serial,
            stacked_counter: d.counters.stacked,
            rejected_counter: d.counters.rejected,
            polls: d.polls,
            rejects: d.rejects,
        }
    }
}
