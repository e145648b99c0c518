//! ccTalk device simulators: the coin acceptor and a hopper.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_core::{Coin, Won};
use serde::{Deserialize, Serialize};
use serialport::TTYPort;

use super::{LineFaults, Runner, SimCommand, SimError, lock};
use crate::cctalk::frame::{self, ChecksumKind, Decoded, Frame, FrameDecoder, HOST_ADDRESS};
use crate::cctalk::hopper::DispenseAuth;
use crate::cctalk::{HopperFaults, HopperStatus, coin_id, header, next_counter};
use crate::link::{SerialLink, pty_pair};

/// How a simulated ccTalk device sits on its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimLine {
    /// Its bus address.
    pub address: u8,
    /// Checksum kind.
    pub checksum: ChecksumKind,
    /// Echo the host's bytes back, as a single-wire bus does.
    pub echo: bool,
}

enum Reply {
    Ack(Vec<u8>),
    Nak,
    Busy,
}

trait Device: Send + 'static {
    fn handle(&mut self, header: u8, data: &[u8]) -> Reply;
    fn tick(&mut self) {}
    fn identity(&self) -> (&'static str, &'static str, u32);
}

fn serve<D: Device>(
    mut link: SerialLink,
    line: SimLine,
    dev: Arc<Mutex<D>>,
    faults: Arc<Mutex<LineFaults>>,
    stop: Arc<AtomicBool>,
) {
    let mut decoder = FrameDecoder::new(line.checksum, Some(line.address));
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let n = match link.read_some(&mut buf, Duration::from_millis(2)) {
            Ok(n) => n,
            // No host has the line open (between daemon restarts): wait for one.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                lock(&dev).tick();
                continue;
            }
        };
        decoder.push(&buf[..n]);
        while let Some(item) = decoder.next_item() {
            let Decoded::Frame(f) = item else { continue };
            if line.echo {
                if let Ok(bytes) = frame::encode(&f, line.checksum) {
                    let _ = link.write_all(&bytes);
                }
            }
            let reply = {
                let mut d = lock(&dev);
                let (manufacturer, product, serial) = d.identity();
                match f.header {
                    header::SIMPLE_POLL => Reply::Ack(vec![]),
                    header::MANUFACTURER => Reply::Ack(manufacturer.as_bytes().to_vec()),
                    header::PRODUCT => Reply::Ack(product.as_bytes().to_vec()),
                    header::SERIAL => Reply::Ack(serial.to_le_bytes()[..3].to_vec()),
                    h => d.handle(h, &f.data),
                }
            };
            let plan = lock(&faults).plan(f.header);
            let (hdr, data) = match reply {
                Reply::Ack(d) => (header::ACK, d),
                Reply::Nak => (header::NAK, vec![]),
                Reply::Busy => (header::BUSY, vec![]),
            };
            let Ok(mut bytes) = frame::encode(
                &Frame {
                    dest: HOST_ADDRESS,
                    src: line.address,
                    header: hdr,
                    data,
                },
                line.checksum,
            ) else {
                continue;
            };
            if plan.corrupt {
                if let Some(last) = bytes.last_mut() {
                    *last ^= 0x5A;
                }
            }
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
        lock(&dev).tick();
    }
}

type Started<D> = (Arc<Mutex<D>>, Arc<Mutex<LineFaults>>, Runner, TTYPort);

fn start<D: Device>(dev: D, line: SimLine) -> Result<Started<D>, SimError> {
    let (device_side, host_side) = pty_pair().map_err(|e| SimError::Link(e.to_string()))?;
    let dev = Arc::new(Mutex::new(dev));
    let faults = Arc::new(Mutex::new(LineFaults::default()));
    let (d, f) = (dev.clone(), faults.clone());
    let link = SerialLink::new(device_side);
    let runner = Runner::start(move |stop| serve(link, line, d, f, stop));
    Ok((dev, faults, runner, host_side))
}

// ---------------------------------------------------------------- coin acceptor

struct Acceptor {
    positions: [Option<Coin>; 16],
    inhibit: u16,
    master: bool,
    counter: u8,
    events: VecDeque<(u8, u8)>,
    accepted: Vec<Coin>,
    rejected: u32,
    serial: u32,
}

impl Acceptor {
    fn push(&mut self, a: u8, b: u8) {
        self.counter = next_counter(self.counter);
        self.events.push_front((a, b));
        self.events.truncate(5);
    }

    fn insert(&mut self, value: u64) -> Result<(), SimError> {
        let coin = Coin::from_value(Won::new(value))
            .ok_or_else(|| SimError::Invalid(format!("no {value}-won coin")))?;
        match self.positions.iter().position(|p| *p == Some(coin)) {
            None => {
                self.rejected += 1;
                self.push(0, 1)
            }
            Some(i) if !self.master || self.inhibit & (1 << i) == 0 => {
                self.rejected += 1;
                self.push(0, 2)
            }
            Some(i) => {
                self.accepted.push(coin);
                self.push(i as u8 + 1, 1);
            }
        }
        Ok(())
    }
}

impl Device for Acceptor {
    fn identity(&self) -> (&'static str, &'static str, u32) {
        ("KSM", "KSIM-CA", self.serial)
    }

    fn handle(&mut self, h: u8, data: &[u8]) -> Reply {
        match (h, data) {
            (header::CATEGORY, []) => Reply::Ack(b"Coin Acceptor".to_vec()),
            (header::COIN_ID, [pos @ 1..=16]) => Reply::Ack(
                self.positions[usize::from(pos - 1)]
                    .map_or(b"......".to_vec(), |c| coin_id(c).to_vec()),
            ),
            (header::INHIBITS, [lo, hi]) => {
                self.inhibit = u16::from_le_bytes([*lo, *hi]);
                Reply::Ack(vec![])
            }
            (header::MASTER_INHIBIT, [b]) => {
                self.master = b & 1 != 0;
                Reply::Ack(vec![])
            }
            (header::BUFFERED_CREDIT, []) => {
                let mut out = vec![self.counter];
                for i in 0..5 {
                    let (a, b) = self.events.get(i).copied().unwrap_or((0, 0));
                    out.extend_from_slice(&[a, b]);
                }
                Reply::Ack(out)
            }
            (header::RESET, []) => {
                self.reset();
                Reply::Ack(vec![])
            }
            _ => Reply::Nak,
        }
    }
}

impl Acceptor {
    fn reset(&mut self) {
        self.counter = 0;
        self.events.clear();
        self.master = false;
        self.inhibit = 0;
    }
}

/// What the simulated acceptor has done, for assertions and the control socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinAcceptorState {
    /// The event counter.
    pub counter: u8,
    /// Master inhibit off (accepting).
    pub accepting: bool,
    /// Inhibit mask (bit n = position n+1 enabled).
    pub inhibit_mask: u16,
    /// Coins physically accepted, in order.
    pub accepted: Vec<Coin>,
    /// Coins refused and sent back to the return cup (inhibited or unknown), ever.
    #[serde(default)]
    pub rejected: u32,
}

/// A simulated ccTalk coin acceptor with Korean coins in positions 1..=4
/// (10, 50, 100, 500 won).
pub struct CoinAcceptorSim {
    dev: Arc<Mutex<Acceptor>>,
    faults: Arc<Mutex<LineFaults>>,
    _runner: Runner,
}

impl std::fmt::Debug for CoinAcceptorSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoinAcceptorSim").finish_non_exhaustive()
    }
}

impl CoinAcceptorSim {
    /// Starts the simulator on a new pty; returns it and the host's end of the line.
    pub fn spawn(line: SimLine) -> Result<(CoinAcceptorSim, TTYPort), SimError> {
        let mut positions = [None; 16];
        for (i, c) in Coin::ALL.iter().enumerate() {
            positions[i] = Some(*c);
        }
        let dev = Acceptor {
            positions,
            inhibit: 0,
            master: false,
            counter: 0,
            events: VecDeque::new(),
            accepted: Vec::new(),
            rejected: 0,
            serial: 0x0A_1B_2C,
        };
        let (dev, faults, runner, host) = start(dev, line)?;
        Ok((
            CoinAcceptorSim {
                dev,
                faults,
                _runner: runner,
            },
            host,
        ))
    }

    /// Applies a control command.
    pub fn apply(&self, cmd: SimCommand) -> Result<(), SimError> {
        let mut d = lock(&self.dev);
        match cmd {
            SimCommand::InsertCoin { value } => d.insert(value),
            SimCommand::InsertCoins { value, count } => {
                for _ in 0..count {
                    d.insert(value)?;
                }
                Ok(())
            }
            SimCommand::ErrorCode { code } => {
                d.push(0, code);
                Ok(())
            }
            SimCommand::Jam => {
                d.push(0, 14);
                Ok(())
            }
            SimCommand::Fraud => {
                d.push(0, 20);
                Ok(())
            }
            SimCommand::Reset => {
                d.reset();
                Ok(())
            }
            SimCommand::Line { fault } => {
                lock(&self.faults).add(fault);
                Ok(())
            }
            _ => Err(SimError::Unsupported),
        }
    }

    /// Drops a coin in.
    pub fn insert_coin(&self, coin: Coin) {
        let _ = self.apply(SimCommand::InsertCoin {
            value: coin.value().get(),
        });
    }

    /// A snapshot of its state.
    pub fn state(&self) -> CoinAcceptorState {
        let d = lock(&self.dev);
        CoinAcceptorState {
            counter: d.counter,
            accepting: d.master,
            inhibit_mask: d.inhibit,
            accepted: d.accepted.clone(),
            rejected: d.rejected,
        }
    }
}

// ---------------------------------------------------------------- hopper

struct HopperDev {
    coin: Coin,
    level: u32,
    counter: u8,
    remaining: u8,
    paid: u8,
    unpaid: u8,
    enabled: bool,
    serial: u32,
    auth: DispenseAuth,
    pay_every: Duration,
    last_pay: Instant,
    faults: u8,
    jammed: bool,
    dispense_commands: u32,
    paid_total: u32,
    low_level: u32,
}

impl HopperDev {
    fn stop_payout(&mut self, fault: u8) {
        self.unpaid = self.unpaid.saturating_add(self.remaining);
        self.remaining = 0;
        self.faults |= fault;
    }
}

impl Device for HopperDev {
    fn identity(&self) -> (&'static str, &'static str, u32) {
        ("KSM", "KSIM-HOPPER", self.serial)
    }

    fn handle(&mut self, h: u8, data: &[u8]) -> Reply {
        match (h, data) {
            (header::CATEGORY, []) => Reply::Ack(b"Payout".to_vec()),
            (header::ENABLE_HOPPER, [b]) => {
                self.enabled = *b == 0xA5;
                Reply::Ack(vec![])
            }
            (header::HOPPER_STATUS, []) => Reply::Ack(
                HopperStatus {
                    counter: self.counter,
                    remaining: self.remaining,
                    paid: self.paid,
                    unpaid: self.unpaid,
                }
                .encode()
                .to_vec(),
            ),
            (header::DISPENSE, d) => {
                let count = match (self.auth, d) {
                    (DispenseAuth::NoEncryption, [_, _, _, _, _, _, _, _, n]) => *n,
                    (DispenseAuth::SerialNumber, [a, b, c, n])
                        if u32::from_le_bytes([*a, *b, *c, 0]) == self.serial =>
                    {
                        *n
                    }
                    _ => return Reply::Nak,
                };
                if !self.enabled || count == 0 {
                    return Reply::Nak;
                }
                if self.remaining > 0 {
                    return Reply::Busy;
                }
                self.dispense_commands += 1;
                self.counter = next_counter(self.counter);
                self.remaining = count;
                self.paid = 0;
                self.unpaid = 0;
                self.faults &= !(HopperFaults::PAYOUT_TIMEOUT | HopperFaults::JAM);
                self.last_pay = Instant::now();
                Reply::Ack(vec![])
            }
            (header::EMERGENCY_STOP, []) => {
                let left = self.remaining;
                self.stop_payout(0);
                self.enabled = false;
                Reply::Ack(vec![left])
            }
            (header::TEST_HOPPER, []) => Reply::Ack(vec![self.faults, 0, 0]),
            (header::LEVEL_STATUS, []) => {
                let low = self.level < self.low_level;
                Reply::Ack(vec![u8::from(low) | 0x10])
            }
            (header::RESET, []) => {
                self.counter = 0;
                self.remaining = 0;
                self.paid = 0;
                self.unpaid = 0;
                self.enabled = false;
                Reply::Ack(vec![])
            }
            _ => Reply::Nak,
        }
    }

    fn tick(&mut self) {
        while self.remaining > 0 && self.last_pay.elapsed() >= self.pay_every {
            self.last_pay += self.pay_every;
            if self.jammed {
                self.stop_payout(HopperFaults::JAM);
            } else if self.level == 0 {
                self.stop_payout(HopperFaults::PAYOUT_TIMEOUT);
            } else {
                self.level -= 1;
                self.paid = self.paid.saturating_add(1);
                self.remaining -= 1;
                self.paid_total += 1;
            }
        }
    }
}

/// What the simulated hopper has done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopperSimState {
    /// Its coin.
    pub coin: Coin,
    /// Coins in it now.
    pub level: u32,
    /// Coins that physically left it.
    pub paid_total: u32,
    /// Dispense commands it accepted and executed.
    pub dispense_commands: u32,
    /// Its event counter.
    pub counter: u8,
    /// Coins still being paid.
    pub remaining: u8,
    /// Coins the last payout paid so far (status 166's third byte): what a host that died
    /// during the payout learns after its restart.
    pub paid: u8,
    /// Coins the last payout could not pay (status 166's fourth byte).
    pub unpaid: u8,
}

/// A simulated ccTalk hopper that pays one coin every `pay_every`.
pub struct HopperSim {
    dev: Arc<Mutex<HopperDev>>,
    faults: Arc<Mutex<LineFaults>>,
    _runner: Runner,
}

impl std::fmt::Debug for HopperSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HopperSim").finish_non_exhaustive()
    }
}

impl HopperSim {
    /// Starts a hopper of `coin` holding `level` coins on a new pty; returns it and the
    /// host's end.
    pub fn spawn(
        line: SimLine,
        coin: Coin,
        level: u32,
        auth: DispenseAuth,
        pay_every: Duration,
    ) -> Result<(HopperSim, TTYPort), SimError> {
        let dev = HopperDev {
            coin,
            level,
            counter: 0,
            remaining: 0,
            paid: 0,
            unpaid: 0,
            enabled: false,
            serial: 0x12_34_56 + u32::from(line.address),
            auth,
            pay_every,
            last_pay: Instant::now(),
            faults: HopperFaults::POWER_UP,
            jammed: false,
            dispense_commands: 0,
            paid_total: 0,
            low_level: 20,
        };
        let (dev, faults, runner, host) = start(dev, line)?;
        Ok((
            HopperSim {
                dev,
                faults,
                _runner: runner,
            },
            host,
        ))
    }

    /// Applies a control command.
    pub fn apply(&self, cmd: SimCommand) -> Result<(), SimError> {
        let mut d = lock(&self.dev);
        match cmd {
            SimCommand::EmptyHopper => d.level = 0,
            SimCommand::RefillHopper { coins } => d.level = coins,
            SimCommand::Jam => d.jammed = true,
            SimCommand::ClearJam => d.jammed = false,
            SimCommand::Fraud => d.faults |= HopperFaults::OPTO_FRAUD_BLOCKED,
            SimCommand::Reset => {
                let _ = d.handle(header::RESET, &[]);
            }
            SimCommand::Line { fault } => lock(&self.faults).add(fault),
            _ => return Err(SimError::Unsupported),
        }
        Ok(())
    }

    /// A snapshot of its state.
    pub fn state(&self) -> HopperSimState {
        let d = lock(&self.dev);
        HopperSimState {
            coin: d.coin,
            level: d.level,
            paid_total: d.paid_total,
            dispense_commands: d.dispense_commands,
            counter: d.counter,
            remaining: d.remaining,
            paid: d.paid,
            unpaid: d.unpaid,
        }
    }
}
