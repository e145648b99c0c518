//! The ccTalk coin acceptor driver (address 2).
//!
//! Credits come only from the buffered-credit poll (header 229), judged by its event
//! counter. Every coin is reported once, as [`AcceptorEvent::CoinCredited`] carrying the
//! counter of **its own** event (the reply lists up to five events, newest first; event `i`
//! of a reply with counter `c` has counter `c - i`, wrapping 255 -> 1): serial number plus
//! that counter is the coin's device key, under which the daemon books it exactly once.
//!
//! Order, for every reply whose counter moved: first the events (coins, rejects, alarms,
//! then [`AcceptorEvent::CounterAdvanced`]), **then** [`CounterStore::save`]. Saving first
//! (as this driver once did) lost the coin when the process died between the save and the
//! booking. The daemon's store has a no-op `save`: its booking of the coin, together with
//! the counter as the resume point, is the save, in one transaction; its `load` returns the
//! resume point it read from its journal. A failed save therefore never holds a credit
//! back: the events were already reported, and a restart before the next good save reports
//! them again under the same counters, which the daemon's keys recognise.
//!
//! A counter jump of more than five means events fell out of the device's buffer: alarm
//! ([`AcceptorEvent::EventsLost`], with the coins still in the buffer so the daemon can book
//! them to a suspense account for staff; they are physically in the machine). A counter
//! back at 0 means the device reset: re-send the inhibits, credit nothing. Fraud codes raise
//! alarms.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_core::Coin;
use serde::{Deserialize, Serialize};

use super::bus::{Bus, BusConfig, TransactError};
use super::{
    BufferedCredit, ErrorClass, Identity, classify_error, counter_before, counter_distance, header,
    parse_coin_id,
};
use crate::api::{self, CashUnit, CompletionCode, Ctx, Driver, Outcome, QueueSizes, Spawned};
use crate::link::SerialLink;

/// Where the resume point (the last event counter handled) survives a restart.
pub trait CounterStore: Send + 'static {
    /// The resume point: the counter up to which every event was reported and booked, if
    /// any. Events after it are reported at start-up; without one the device's counter is
    /// taken as the baseline and nothing before it is reported.
    fn load(&self) -> Option<u8>;
    /// Called with a reply's counter **after** every event up to it was reported, so a
    /// crash between the report and the save repeats a report (same counters, recognised
    /// by the daemon's keys) and never loses one. A store whose reports are booked with
    /// their counter in one transaction (the daemon's) may do nothing here.
    fn save(&mut self, counter: u8) -> Result<(), StoreError>;
}

/// A counter could not be saved.
#[derive(Debug, thiserror::Error)]
#[error("counter store: {0}")]
pub struct StoreError(pub String);

/// A counter kept in memory, shared between clones (tests, and a daemon that keeps it in
/// its ledger through another path).
#[derive(Clone, Debug, Default)]
pub struct MemoryCounterStore(Arc<Mutex<Option<u8>>>);

impl MemoryCounterStore {
    /// An empty store.
    pub fn new() -> MemoryCounterStore {
        MemoryCounterStore::default()
    }
    /// The stored value.
    pub fn get(&self) -> Option<u8> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl CounterStore for MemoryCounterStore {
    fn load(&self) -> Option<u8> {
        self.get()
    }
    fn save(&mut self, counter: u8) -> Result<(), StoreError> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(counter);
        Ok(())
    }
}

/// A counter in a one-byte file, replaced atomically (write, fsync, rename).
#[derive(Clone, Debug)]
pub struct FileCounterStore {
    path: PathBuf,
}

impl FileCounterStore {
    /// A store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileCounterStore {
        FileCounterStore { path: path.into() }
    }
}

impl CounterStore for FileCounterStore {
    fn load(&self) -> Option<u8> {
        match std::fs::read(&self.path) {
            Ok(b) if b.len() == 1 => Some(b[0]),
            _ => None,
        }
    }
    fn save(&mut self, counter: u8) -> Result<(), StoreError> {
        use std::io::Write;
        let tmp = self.path.with_extension("tmp");
        let io = |e: std::io::Error| StoreError(e.to_string());
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&[counter]).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// Settings of the coin acceptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptorConfig {
    /// Bus address (2 by convention).
    pub address: u8,
    /// The port's settings.
    pub bus: BusConfig,
    /// How often header 229 is read (100-200 ms; acceptors stop accepting after about a
    /// second without it).
    pub poll_interval: Duration,
    /// Coins to accept; other positions stay inhibited.
    pub accept: Vec<Coin>,
    /// Consecutive failed polls before the device is reported offline.
    pub offline_after: u32,
    /// Pause between start-up attempts while the device does not answer.
    pub retry_start_every: Duration,
}

impl Default for AcceptorConfig {
    fn default() -> Self {
        AcceptorConfig {
            address: 2,
            bus: BusConfig::default(),
            poll_interval: Duration::from_millis(150),
            accept: Coin::ALL.to_vec(),
            offline_after: 3,
            retry_start_every: Duration::from_secs(1),
        }
    }
}

/// Commands of the coin acceptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcceptorCommand {
    /// Accept coins (master inhibit off).
    Enable,
    /// Refuse coins (master inhibit on).
    Disable,
    /// Change which coins are accepted.
    SetAccepted(Vec<Coin>),
    /// Identity and coin map read at start-up.
    Identify,
    /// Cash-unit counts.
    CashUnits,
    /// Run start-up again.
    Reset,
}

/// What acceptor commands produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcceptorPayload {
    /// Nothing beyond success.
    Done,
    /// Identity and the coin in each position (1-based).
    Identity(Identity, Vec<(u8, Coin)>),
    /// One unit per coin, counting coins taken in.
    CashUnits(Vec<CashUnit>),
}

/// Everything the acceptor reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcceptorEvent {
    /// Start-up succeeded.
    Ready {
        /// Who it is.
        identity: Identity,
        /// Positions (1-based) and their coins.
        coins: Vec<(u8, Coin)>,
    },
    /// A coin was accepted: credit it. Reported once per physical coin (again only if the
    /// process restarts before the resume point was saved, with the same `counter`).
    CoinCredited {
        /// The coin.
        coin: Coin,
        /// Its position.
        position: u8,
        /// The ccTalk event counter of this coin's own event (1..=255, wrapping 255 -> 1):
        /// with the device serial, the coin's device key, so a repeated report is booked
        /// once.
        counter: u8,
    },
    /// The event counter moved to `counter` and every event up to it was reported. Emitted
    /// once at the end of every buffered-credit reply whose counter moved (after its coin
    /// events, also after a reset to 0 and when the baseline is taken at a first start), so
    /// the daemon can record the resume point even when only non-money events (rejects,
    /// fraud codes) moved it.
    CounterAdvanced {
        /// The new resume point.
        counter: u8,
    },
    /// A coin was refused and returned (code from the device).
    CoinRejected {
        /// ccTalk error code.
        code: u8,
    },
    /// Alarm: tampering reported by the device. Nothing is credited.
    FraudAttempt {
        /// ccTalk error code.
        code: u8,
    },
    /// The coin path is jammed.
    Jam {
        /// ccTalk error code.
        code: u8,
    },
    /// Alarm: the counter moved by more than five; events fell out of the device's buffer.
    /// Nothing is credited, but the coins among the five events still in the buffer are
    /// listed: they are physically in the machine, so the daemon books them to a suspense
    /// account for staff. [`AcceptorEvent::CounterAdvanced`] with `current` follows.
    EventsLost {
        /// Counter before.
        previous: u8,
        /// Counter now.
        current: u8,
        /// `(counter, coin)` of each coin among the buffered events, oldest first.
        coins: Vec<(u8, Coin)>,
    },
    /// Alarm: a coin in a position with no Korean coin mapped. Not credited.
    UnknownCoin {
        /// The position.
        position: u8,
    },
    /// The device reset (counter back to 0); inhibits were sent again.
    DeviceReset,
    /// Alarm: the resume point could not be saved. The events were already reported (the
    /// save comes after them) and the acceptor keeps working: the daemon's journal is the
    /// real store; a restart before the next good save reports the same events again,
    /// under the same counters.
    CounterStoreFailed {
        /// Why.
        reason: String,
        /// Always empty: no coin is held back by a failed save any more. Kept so that
        /// existing matches on this event still compile.
        uncredited: Vec<Coin>,
    },
    /// Bytes on the line that were not a valid frame were discarded.
    LineNoise {
        /// How many.
        bytes: usize,
    },
    /// The device stopped answering.
    Offline {
        /// Why.
        reason: String,
    },
    /// The device answers again.
    Online,
}

/// The driver; run it with [`spawn`].
pub struct CoinAcceptor {
    bus: Bus,
    config: AcceptorConfig,
    store: Box<dyn CounterStore>,
    positions: [Option<Coin>; 16],
    identity: Option<Identity>,
    last: Option<u8>,
    enabled: bool,
    ready: bool,
    failures: u32,
    online: bool,
    last_start: Option<Instant>,
    units: Vec<CashUnit>,
}

/// Starts a coin acceptor actor on `link`.
pub fn spawn(
    link: SerialLink,
    config: AcceptorConfig,
    store: Box<dyn CounterStore>,
    sizes: QueueSizes,
) -> Spawned<AcceptorCommand, AcceptorPayload, AcceptorEvent> {
    api::spawn(CoinAcceptor::new(link, config, store), sizes)
}

impl CoinAcceptor {
    /// A driver that has not talked to the device yet.
    pub fn new(
        link: SerialLink,
        config: AcceptorConfig,
        store: Box<dyn CounterStore>,
    ) -> CoinAcceptor {
        let units = Coin::ALL
            .iter()
            .map(|c| CashUnit::new(format!("coin-in:{}", c.value().get()), c.value(), 0))
            .collect();
        CoinAcceptor {
            bus: Bus::new(link, config.bus),
            config,
            store,
            positions: [None; 16],
            identity: None,
            last: None,
            enabled: false,
            ready: false,
            failures: 0,
            online: true,
            last_start: None,
            units,
        }
    }

    fn addr(&self) -> u8 {
        self.config.address
    }

    fn inhibit_mask(&self) -> u16 {
        self.positions
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some_and(|c| self.config.accept.contains(&c)))
            .fold(0u16, |m, (i, _)| m | 1 << i)
    }

    fn send_inhibits(&mut self) -> Result<(), TransactError> {
        let [lo, hi] = self.inhibit_mask().to_le_bytes();
        let a = self.addr();
        self.bus.transact_retry(a, header::INHIBITS, &[lo, hi])?;
        self.bus
            .transact_retry(a, header::MASTER_INHIBIT, &[u8::from(self.enabled)])?;
        Ok(())
    }

    fn initialise(&mut self, ctx: &mut Ctx<AcceptorEvent>) -> Result<(), String> {
        self.last_start = Some(Instant::now());
        let a = self.addr();
        self.bus
            .transact_retry(a, header::SIMPLE_POLL, &[])
            .map_err(|e| format!("simple poll: {e}"))?;
        let identity = self.bus.identify(a)?;
        for pos in 1..=16u8 {
            let id = self
                .bus
                .transact_retry(a, header::COIN_ID, &[pos])
                .map_err(|e| format!("coin id {pos}: {e}"))?;
            self.positions[usize::from(pos - 1)] = parse_coin_id(&id);
        }
        self.send_inhibits().map_err(|e| format!("inhibits: {e}"))?;
        let reply = self
            .bus
            .transact_retry(a, header::BUFFERED_CREDIT, &[])
            .map_err(|e| format!("buffered credit: {e}"))?;
        let credit = BufferedCredit::parse(&reply).map_err(|e| e.to_string())?;
        self.identity = Some(identity.clone());
        self.ready = true;
        self.failures = 0;
        ctx.emit(AcceptorEvent::Ready {
            identity,
            coins: self.coin_map(),
        });
        match self.store.load() {
            // A resume point from before a restart: report what happened since, once.
            Some(stored) => {
                self.last = Some(stored);
                self.process(ctx, credit);
            }
            // No history: take the device's counter as the baseline and credit nothing, and
            // say so, so that the daemon records the baseline as its resume point (a coin
            // taken in while it is down is then reported at its next start).
            None => {
                self.last = Some(credit.counter);
                self.advanced(ctx, credit.counter);
            }
        }
        Ok(())
    }

    fn coin_map(&self) -> Vec<(u8, Coin)> {
        self.positions
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (i as u8 + 1, c)))
            .collect()
    }

    fn report_noise(&mut self, ctx: &Ctx<AcceptorEvent>) {
        let g = self.bus.take_garbage();
        if g > 0 {
            ctx.unsolicited(AcceptorEvent::LineNoise { bytes: g });
        }
    }

    /// Judges one buffered-credit reply against the last counter: reports its new events,
    /// then the new resume point, then saves it (never the other way round, see the module
    /// doc).
    fn process(&mut self, ctx: &Ctx<AcceptorEvent>, credit: BufferedCredit) {
        let Some(last) = self.last else {
            self.last = Some(credit.counter);
            return;
        };
        let c = credit.counter;
        if c == last {
            return;
        }
        self.last = Some(c);
        if c == 0 {
            // Power-up or reset: whatever was in the buffer is gone; nothing to credit.
            self.resend_inhibits(ctx);
            ctx.unsolicited(AcceptorEvent::DeviceReset);
            self.advanced(ctx, 0);
            return;
        }
        let gap = counter_distance(last, c);
        if gap > 5 {
            // A jump this large is often a reset the poll missed (reset, then an event):
            // the acceptor would sit inhibited, so the inhibits go out again.
            self.resend_inhibits(ctx);
            let coins: Vec<(u8, Coin)> = (0..5u8)
                .rev()
                .filter_map(|i| {
                    let coin = self.position_coin(credit.events[usize::from(i)].0)?;
                    Some((counter_before(c, i), coin))
                })
                .collect();
            for &(_, coin) in &coins {
                self.record_in(coin);
            }
            ctx.unsolicited(AcceptorEvent::EventsLost {
                previous: last,
                current: c,
                coins,
            });
            self.advanced(ctx, c);
            return;
        }
        // Oldest first: event i of the reply (newest first) has counter c - i.
        for i in (0..u8::try_from(gap).unwrap_or(5)).rev() {
            let (a, b) = credit.events[usize::from(i)];
            let ev = match a {
                0 => match classify_error(b) {
                    ErrorClass::Null => continue,
                    ErrorClass::Fraud => AcceptorEvent::FraudAttempt { code: b },
                    ErrorClass::Jam => AcceptorEvent::Jam { code: b },
                    ErrorClass::Rejected => AcceptorEvent::CoinRejected { code: b },
                },
                pos => match self.position_coin(pos) {
                    Some(coin) => {
                        self.record_in(coin);
                        AcceptorEvent::CoinCredited {
                            coin,
                            position: pos,
                            counter: counter_before(c, i),
                        }
                    }
                    None => AcceptorEvent::UnknownCoin { position: pos },
                },
            };
            ctx.unsolicited(ev);
        }
        self.advanced(ctx, c);
    }

    /// Reports the new resume point, then (only then) saves it. A failed save is an alarm,
    /// not a stop: the events are out already, and the daemon books them by their keys.
    fn advanced(&mut self, ctx: &Ctx<AcceptorEvent>, counter: u8) {
        ctx.unsolicited(AcceptorEvent::CounterAdvanced { counter });
        if let Err(e) = self.store.save(counter) {
            ctx.unsolicited(AcceptorEvent::CounterStoreFailed {
                reason: e.to_string(),
                uncredited: Vec::new(),
            });
        }
    }

    fn record_in(&mut self, coin: Coin) {
        if let Some(u) = self.units.iter_mut().find(|u| u.value == coin.value()) {
            u.record_in(1);
        }
    }

    fn resend_inhibits(&mut self, ctx: &Ctx<AcceptorEvent>) {
        if let Err(e) = self.send_inhibits() {
            ctx.unsolicited(AcceptorEvent::Offline {
                reason: format!("re-sending inhibits: {e}"),
            });
        }
    }

    fn position_coin(&self, pos: u8) -> Option<Coin> {
        if (1..=16).contains(&pos) {
            self.positions[usize::from(pos - 1)]
        } else {
            None
        }
    }

    fn set_master(&mut self, on: bool) -> Outcome<AcceptorPayload> {
        let a = self.addr();
        match self
            .bus
            .transact_retry(a, header::MASTER_INHIBIT, &[u8::from(on)])
        {
            Ok(_) => {
                self.enabled = on;
                Outcome::ok(AcceptorPayload::Done)
            }
            Err(e) => fail(e),
        }
    }
}

fn fail<T>(e: TransactError) -> Outcome<T> {
    let code = match e {
        TransactError::Timeout => CompletionCode::TimeOut,
        _ => CompletionCode::HardwareError,
    };
    Outcome::fail(code, e.to_string())
}

impl Driver for CoinAcceptor {
    type Command = AcceptorCommand;
    type Payload = AcceptorPayload;
    type Event = AcceptorEvent;

    fn start(&mut self, ctx: &mut Ctx<AcceptorEvent>) {
        if let Err(reason) = self.initialise(ctx) {
            self.online = false;
            ctx.unsolicited(AcceptorEvent::Offline { reason });
        }
        self.report_noise(ctx);
    }

    fn execute(
        &mut self,
        ctx: &mut Ctx<AcceptorEvent>,
        command: AcceptorCommand,
    ) -> Outcome<AcceptorPayload> {
        if !self.ready && !matches!(command, AcceptorCommand::Reset | AcceptorCommand::CashUnits) {
            return Outcome::fail(CompletionCode::DeviceNotReady, "not initialised");
        }
        let out = match command {
            AcceptorCommand::Enable => self.set_master(true),
            AcceptorCommand::Disable => self.set_master(false),
            AcceptorCommand::SetAccepted(coins) => {
                self.config.accept = coins;
                match self.send_inhibits() {
                    Ok(()) => Outcome::ok(AcceptorPayload::Done),
                    Err(e) => fail(e),
                }
            }
            AcceptorCommand::Identify => Outcome::ok(AcceptorPayload::Identity(
                self.identity.clone().unwrap_or_default(),
                self.coin_map(),
            )),
            AcceptorCommand::CashUnits => {
                Outcome::ok(AcceptorPayload::CashUnits(self.units.clone()))
            }
            AcceptorCommand::Reset => {
                let a = self.addr();
                let _ = self.bus.transact_retry(a, header::RESET, &[]);
                self.enabled = false;
                self.ready = false;
                match self.initialise(ctx) {
                    Ok(()) => Outcome::ok(AcceptorPayload::Done),
                    Err(e) => Outcome::fail(CompletionCode::HardwareError, e),
                }
            }
        };
        self.report_noise(ctx);
        out
    }

    fn poll(&mut self, ctx: &mut Ctx<AcceptorEvent>) {
        if !self.ready {
            let due = self
                .last_start
                .is_none_or(|t| t.elapsed() >= self.config.retry_start_every);
            if due {
                match self.initialise(ctx) {
                    Ok(()) => {
                        if !self.online {
                            self.online = true;
                            ctx.unsolicited(AcceptorEvent::Online);
                        }
                    }
                    Err(_) => self.ready = false,
                }
                self.report_noise(ctx);
            }
            return;
        }
        if ctx.room() < 8 {
            // The host is not reading events: do not take in credits it cannot see.
            return;
        }
        let a = self.addr();
        let result = self
            .bus
            .transact(a, header::BUFFERED_CREDIT, &[])
            .map_err(|e| e.to_string())
            .and_then(|d| BufferedCredit::parse(&d).map_err(|e| e.to_string()));
        self.report_noise(ctx);
        match result {
            Ok(credit) => {
                self.failures = 0;
                if !self.online {
                    self.online = true;
                    ctx.unsolicited(AcceptorEvent::Online);
                }
                self.process(ctx, credit);
            }
            Err(reason) => {
                self.failures += 1;
                if self.failures == self.config.offline_after && self.online {
                    self.online = false;
                    ctx.unsolicited(AcceptorEvent::Offline { reason });
                }
            }
        }
    }

    fn poll_interval(&self) -> Duration {
        self.config.poll_interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_counter_store_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coin-counter");
        let mut s = FileCounterStore::new(&path);
        assert_eq!(s.load(), None);
        s.save(17).unwrap();
        s.save(255).unwrap();
        assert_eq!(FileCounterStore::new(&path).load(), Some(255));
        std::fs::write(&path, b"garbage").unwrap();
        assert_eq!(FileCounterStore::new(&path).load(), None);
        let mut bad = FileCounterStore::new(dir.path().join("missing-dir/counter"));
        assert!(bad.save(1).is_err());
    }
}
