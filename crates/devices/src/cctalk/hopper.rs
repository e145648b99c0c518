//! The ccTalk hopper driver (addresses 3..10, one hopper per coin).
//!
//! **A dispense (header 167) is never sent twice.** When its reply is lost or corrupt, the
//! driver reads the hopper status (166) and compares the event counter with the one read
//! before the dispense: moved means it started, unchanged means it did not. It then polls
//! the status until no coins remain and settles from the hopper's own paid / unpaid counts.
//! Unpaid coins are a shortfall the host settles another way (an IOU).
//!
//! A dispense larger than 255 coins goes out in batches of at most 255 (one header 167
//! each), and a batch starts only when the previous one paid in full. Recovery relies on
//! this: after a restart, [`HopperCommand::LastDispense`] reads what the *last* batch paid
//! and did not pay (header 166), and because no batch follows a short one, every earlier
//! batch of the same dispense is known to have paid in full.
//!
//! The dispense event counter of header 166 identifies a dispense to the daemon: it is
//! reported at start-up ([`HopperEvent::Ready`]) and in every [`Settlement`]. A hopper keeps
//! paying a dispense when the host dies; after a restart the daemon asks
//! [`HopperCommand::LastDispense`], which waits for that payout to end and answers the
//! hopper's own counts.

use std::time::{Duration, Instant};

use kiosk_core::Coin;
use serde::{Deserialize, Serialize};

use super::bus::{Bus, BusConfig, TransactError};
use super::{HopperFaults, HopperStatus, Identity, LevelStatus, header};
use crate::api::{self, CashUnit, CompletionCode, Ctx, Driver, Outcome, QueueSizes, Spawned};
use crate::link::SerialLink;

/// Which data a dispense carries in front of the coin count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DispenseAuth {
    /// Eight zero bytes where encrypted hoppers expect their cipher.
    #[default]
    NoEncryption,
    /// The hopper's serial number, three bytes LSB first.
    SerialNumber,
}

/// Settings of one hopper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopperConfig {
    /// Bus address (3..10).
    pub address: u8,
    /// The coin it pays.
    pub coin: Coin,
    /// The port's settings.
    pub bus: BusConfig,
    /// Dispense data variant.
    pub auth: DispenseAuth,
    /// Coins loaded at the last replenishment (the cash unit's `initial`).
    pub initial: u32,
    /// How often status is read while paying.
    pub status_interval: Duration,
    /// Time allowed per coin before a payout is stopped (plus one fixed second).
    pub per_coin_timeout: Duration,
    /// How often the level sensors are read while idle.
    pub level_interval: Duration,
}

impl HopperConfig {
    /// Defaults for a hopper of `coin` at `address`.
    pub fn new(address: u8, coin: Coin) -> HopperConfig {
        HopperConfig {
            address,
            coin,
            bus: BusConfig::default(),
            auth: DispenseAuth::NoEncryption,
            initial: 0,
            status_interval: Duration::from_millis(50),
            per_coin_timeout: Duration::from_millis(1000),
            level_interval: Duration::from_secs(1),
        }
    }
}

/// Commands of a hopper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HopperCommand {
    /// Pay `count` coins (sent in batches of at most 255, each never resent). Cancel it to
    /// stop the hopper (emergency stop) and settle what left it.
    Dispense {
        /// Coins.
        count: u32,
    },
    /// Stop paying now (header 172).
    EmergencyStop,
    /// Read the fault register (163).
    Test,
    /// What the last dispense paid and did not pay: polls the status (166) until the hopper
    /// has nothing left to pay (bounded: `per_coin_timeout` x 255 + 1 s), then answers
    /// [`HopperPayload::Status`]. Recovery asks this after a restart, because the hopper
    /// goes on paying a dispense the dead host started. An unreadable status completes
    /// [`CompletionCode::HardwareError`]; a hopper still paying at the bound completes
    /// [`CompletionCode::TimeOut`] with the last status read.
    LastDispense,
    /// Read the level sensors (217).
    Levels,
    /// Cash-unit counts.
    CashUnits,
    /// Staff loaded the hopper: start counting from `initial`.
    Replenish {
        /// Coins now in it.
        initial: u32,
    },
    /// Run start-up again.
    Reset,
}

/// How a dispense ended: `paid + unpaid == requested`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Settlement {
    /// The hopper's coin.
    pub coin: Coin,
    /// Coins asked for.
    pub requested: u32,
    /// Coins that left the hopper.
    pub paid: u32,
    /// Coins not paid.
    pub unpaid: u32,
    /// The hopper's dispense event counter (header 166) after the dispense's last batch:
    /// the dispense's device key. If the status could not be read after that batch, the
    /// last counter that could be read.
    pub counter: u8,
}

/// What hopper commands produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HopperPayload {
    /// Nothing beyond success.
    Done,
    /// A dispense's settlement.
    Settled(Settlement),
    /// The fault register.
    Faults(HopperFaults),
    /// The level sensors.
    Levels(LevelStatus),
    /// The hopper status (header 166) once nothing is left to pay: the answer to
    /// [`HopperCommand::LastDispense`].
    Status(HopperStatus),
    /// The hopper's cash unit.
    CashUnits(Vec<CashUnit>),
}

/// Everything a hopper reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HopperEvent {
    /// Start-up succeeded.
    Ready {
        /// Who it is.
        identity: Identity,
        /// The status (header 166) read at start-up: its counter is the last dispense's
        /// key, and `remaining` above 0 means a payout the previous host started is still
        /// going on (ask [`HopperCommand::LastDispense`] for its end).
        status: HopperStatus,
    },
    /// The dispense reply was lost; the status counter is being used to learn whether it
    /// started. The dispense is not sent again.
    DispenseReplyLost,
    /// A dispense batch started.
    DispenseStarted {
        /// Coins in the batch.
        count: u8,
    },
    /// Progress while paying.
    Progress {
        /// Paid so far in this batch.
        paid: u8,
        /// Still to pay in this batch.
        remaining: u8,
    },
    /// A dispense finished.
    Settled(Settlement),
    /// The hopper ran empty.
    Empty,
    /// The hopper is jammed.
    Jam,
    /// Alarm: opto fraud bits set.
    FraudAttempt {
        /// The fault register.
        bits: u8,
    },
    /// Level sensors changed.
    Level(LevelStatus),
    /// The hopper reset (its event counter went back to 0).
    DeviceReset,
    /// Line noise was discarded.
    LineNoise {
        /// Bytes.
        bytes: usize,
    },
    /// The hopper stopped answering.
    Offline {
        /// Why.
        reason: String,
    },
    /// It answers again.
    Online,
}

/// The driver; run it with [`spawn`].
pub struct Hopper {
    bus: Bus,
    config: HopperConfig,
    identity: Option<Identity>,
    ready: bool,
    online: bool,
    level: Option<LevelStatus>,
    last_level: Option<Instant>,
    last_start: Option<Instant>,
    /// The last status read (its counter goes into settlements).
    status: Option<HopperStatus>,
    unit: CashUnit,
}

/// Starts a hopper actor on `link`.
pub fn spawn(
    link: SerialLink,
    config: HopperConfig,
    sizes: QueueSizes,
) -> Spawned<HopperCommand, HopperPayload, HopperEvent> {
    api::spawn(Hopper::new(link, config), sizes)
}

enum Started {
    Yes,
    No(String),
}

impl Hopper {
    /// A driver that has not talked to the hopper yet.
    pub fn new(link: SerialLink, config: HopperConfig) -> Hopper {
        let unit = CashUnit::new(
            format!("hopper:{}", config.coin.value().get()),
            config.coin.value(),
            config.initial,
        );
        Hopper {
            bus: Bus::new(link, config.bus),
            config,
            identity: None,
            ready: false,
            online: true,
            level: None,
            last_level: None,
            last_start: None,
            status: None,
            unit,
        }
    }

    fn addr(&self) -> u8 {
        self.config.address
    }

    fn initialise(&mut self, ctx: &Ctx<HopperEvent>) -> Result<(), String> {
        self.last_start = Some(Instant::now());
        let a = self.addr();
        self.bus
            .transact_retry(a, header::SIMPLE_POLL, &[])
            .map_err(|e| format!("simple poll: {e}"))?;
        let identity = self.bus.identify(a)?;
        let status = self.read_status().map_err(|e| format!("status: {e}"))?;
        self.identity = Some(identity.clone());
        self.ready = true;
        ctx.emit(HopperEvent::Ready { identity, status });
        Ok(())
    }

    fn read_status(&mut self) -> Result<HopperStatus, String> {
        let a = self.addr();
        let d = self
            .bus
            .transact_retry(a, header::HOPPER_STATUS, &[])
            .map_err(|e| e.to_string())?;
        let st = HopperStatus::parse(&d).map_err(|e| e.to_string())?;
        self.status = Some(st);
        Ok(st)
    }

    /// Waits until the hopper has nothing left to pay and answers its status: what the
    /// last dispense paid and did not pay.
    fn last_dispense(&mut self) -> Outcome<HopperPayload> {
        let deadline = Instant::now() + self.config.per_coin_timeout * 255 + Duration::from_secs(1);
        loop {
            let st = match self.read_status() {
                Ok(st) => st,
                Err(e) => {
                    return Outcome::fail(CompletionCode::HardwareError, format!("status: {e}"));
                }
            };
            if st.remaining == 0 {
                return Outcome::ok(HopperPayload::Status(st));
            }
            if Instant::now() >= deadline {
                return Outcome::fail_with(
                    CompletionCode::TimeOut,
                    HopperPayload::Status(st),
                    "the hopper is still paying",
                );
            }
            std::thread::sleep(self.config.status_interval);
        }
    }

    fn report_noise(&mut self, ctx: &Ctx<HopperEvent>) {
        let g = self.bus.take_garbage();
        if g > 0 {
            ctx.unsolicited(HopperEvent::LineNoise { bytes: g });
        }
    }

    fn dispense_data(&self, count: u8) -> Vec<u8> {
        match self.config.auth {
            DispenseAuth::NoEncryption => {
                let mut d = vec![0u8; 8];
                d.push(count);
                d
            }
            DispenseAuth::SerialNumber => {
                let s = self.identity.as_ref().map_or(0, |i| i.serial).to_le_bytes();
                vec![s[0], s[1], s[2], count]
            }
        }
    }

    /// Sends one 167 and learns, without resending, whether it started.
    fn start_batch(&mut self, ctx: &Ctx<HopperEvent>, before: u8, count: u8) -> Started {
        let a = self.addr();
        let data = self.dispense_data(count);
        match self.bus.transact(a, header::DISPENSE, &data) {
            Ok(_) => return Started::Yes,
            Err(e) if e.certainly_not_executed() => return Started::No(format!("dispense: {e}")),
            Err(TransactError::Link(e)) => return Started::No(format!("port: {e}")),
            Err(_) => ctx.emit(HopperEvent::DispenseReplyLost),
        }
        // Unknown: ask the status, as often as it takes within the bounded time.
        let deadline = Instant::now() + self.config.per_coin_timeout + Duration::from_secs(1);
        loop {
            match self.read_status() {
                Ok(st) if st.counter != before => return Started::Yes,
                Ok(_) => return Started::No("dispense did not start".into()),
                Err(e) if Instant::now() >= deadline => {
                    return Started::No(format!(
                        "status unreadable after lost dispense reply: {e}"
                    ));
                }
                Err(_) => std::thread::sleep(self.config.status_interval),
            }
        }
    }

    /// Pays one batch of at most 255 coins; returns (paid, unpaid, why-not-all).
    fn batch(
        &mut self,
        ctx: &Ctx<HopperEvent>,
        count: u8,
    ) -> (u32, u32, Option<(CompletionCode, String)>) {
        let a = self.addr();
        if let Err(e) = self.bus.transact_retry(a, header::ENABLE_HOPPER, &[0xA5]) {
            return (
                0,
                u32::from(count),
                Some((CompletionCode::HardwareError, format!("enable: {e}"))),
            );
        }
        let before = match self.read_status() {
            Ok(st) if st.remaining != 0 => {
                return (
                    0,
                    u32::from(count),
                    Some((CompletionCode::DeviceNotReady, "hopper still paying".into())),
                );
            }
            Ok(st) => st.counter,
            Err(e) => {
                return (
                    0,
                    u32::from(count),
                    Some((CompletionCode::HardwareError, format!("status: {e}"))),
                );
            }
        };
        if ctx.is_canceled() {
            return (
                0,
                u32::from(count),
                Some((CompletionCode::Canceled, "canceled".into())),
            );
        }
        match self.start_batch(ctx, before, count) {
            Started::No(why) => {
                return (
                    0,
                    u32::from(count),
                    Some((CompletionCode::HardwareError, why)),
                );
            }
            Started::Yes => ctx.emit(HopperEvent::DispenseStarted { count }),
        }
        let deadline = Instant::now()
            + self.config.per_coin_timeout * u32::from(count)
            + Duration::from_secs(1);
        let mut stopped: Option<(CompletionCode, String)> = None;
        let mut last_progress = None;
        let mut not_started = 0;
        let final_status = loop {
            std::thread::sleep(self.config.status_interval);
            if stopped.is_none() && (ctx.is_canceled() || Instant::now() >= deadline) {
                let why = if ctx.is_canceled() {
                    (
                        CompletionCode::Canceled,
                        "canceled: emergency stop".to_string(),
                    )
                } else {
                    (
                        CompletionCode::TimeOut,
                        "payout took too long: emergency stop".to_string(),
                    )
                };
                let _ = self.bus.transact_retry(a, header::EMERGENCY_STOP, &[]);
                stopped = Some(why);
            }
            match self.read_status() {
                Ok(st) if st.counter == 0 && before != 0 => {
                    ctx.unsolicited(HopperEvent::DeviceReset);
                    break st;
                }
                Ok(st) if st.remaining == 0 && st.counter != before => break st,
                Ok(st) if st.remaining == 0 => {
                    // Acknowledged (perhaps by a stale reply) yet the counter never moved:
                    // it did not start. Still never resent.
                    not_started += 1;
                    if not_started >= 3 {
                        return (
                            0,
                            u32::from(count),
                            Some((
                                CompletionCode::HardwareError,
                                "dispense acknowledged but never started".into(),
                            )),
                        );
                    }
                }
                Ok(st) => {
                    if last_progress != Some((st.paid, st.remaining)) {
                        last_progress = Some((st.paid, st.remaining));
                        ctx.emit(HopperEvent::Progress {
                            paid: st.paid,
                            remaining: st.remaining,
                        });
                    }
                }
                Err(_) if Instant::now() >= deadline + Duration::from_secs(2) => {
                    // The hopper cannot be read at all: report what is known (nothing
                    // proven paid) and let staff reconcile the physical count.
                    return (
                        0,
                        u32::from(count),
                        Some((
                            CompletionCode::HardwareError,
                            "status unreadable while paying".into(),
                        )),
                    );
                }
                Err(_) => {}
            }
        };
        let paid = u32::from(final_status.paid).min(u32::from(count));
        let unpaid = u32::from(count) - paid;
        let why = if unpaid > 0 {
            stopped.or(Some((
                CompletionCode::HardwareError,
                "hopper could not pay every coin".into(),
            )))
        } else {
            None
        };
        (paid, unpaid, why)
    }

    fn dispense(&mut self, ctx: &Ctx<HopperEvent>, count: u32) -> Outcome<HopperPayload> {
        let mut paid = 0u32;
        let mut left = count;
        let mut why = None;
        while left > 0 {
            let n = u8::try_from(left.min(255)).unwrap_or(255);
            let (p, _u, w) = self.batch(ctx, n);
            paid += p;
            left -= u32::from(n);
            if w.is_some() {
                why = w;
                break;
            }
        }
        self.unit.record_out(paid);
        let settlement = Settlement {
            coin: self.config.coin,
            requested: count,
            paid,
            unpaid: count - paid,
            counter: self.status.map_or(0, |s| s.counter),
        };
        ctx.emit(HopperEvent::Settled(settlement));
        if settlement.unpaid > 0 {
            self.diagnose(ctx);
        }
        let a = self.addr();
        let _ = self.bus.transact_retry(a, header::ENABLE_HOPPER, &[0]);
        self.report_noise(ctx);
        match why {
            None => Outcome::ok(HopperPayload::Settled(settlement)),
            Some((code, detail)) => {
                Outcome::fail_with(code, HopperPayload::Settled(settlement), detail)
            }
        }
    }

    fn test(&mut self) -> Result<HopperFaults, String> {
        let a = self.addr();
        let d = self
            .bus
            .transact_retry(a, header::TEST_HOPPER, &[])
            .map_err(|e| e.to_string())?;
        HopperFaults::parse(&d).map_err(|e| e.to_string())
    }

    fn diagnose(&mut self, ctx: &Ctx<HopperEvent>) {
        if let Ok(f) = self.test() {
            if f.empty() {
                ctx.unsolicited(HopperEvent::Empty);
            }
            if f.jammed() {
                ctx.unsolicited(HopperEvent::Jam);
            }
            if f.fraud() {
                ctx.unsolicited(HopperEvent::FraudAttempt { bits: f.bits });
            }
        }
    }

    fn read_levels(&mut self) -> Result<LevelStatus, String> {
        let a = self.addr();
        let d = self
            .bus
            .transact_retry(a, header::LEVEL_STATUS, &[])
            .map_err(|e| e.to_string())?;
        LevelStatus::parse(&d).map_err(|e| e.to_string())
    }
}

impl Driver for Hopper {
    type Command = HopperCommand;
    type Payload = HopperPayload;
    type Event = HopperEvent;

    fn start(&mut self, ctx: &mut Ctx<HopperEvent>) {
        if let Err(reason) = self.initialise(ctx) {
            self.online = false;
            ctx.unsolicited(HopperEvent::Offline { reason });
        }
        self.report_noise(ctx);
    }

    fn execute(
        &mut self,
        ctx: &mut Ctx<HopperEvent>,
        command: HopperCommand,
    ) -> Outcome<HopperPayload> {
        let needs_device = !matches!(
            command,
            HopperCommand::Reset | HopperCommand::CashUnits | HopperCommand::Replenish { .. }
        );
        if needs_device && !self.ready {
            return Outcome::fail(CompletionCode::DeviceNotReady, "not initialised");
        }
        let out = match command {
            HopperCommand::Dispense { count: 0 } => {
                Outcome::fail(CompletionCode::InvalidData, "zero coins")
            }
            HopperCommand::Dispense { count } => self.dispense(ctx, count),
            HopperCommand::EmergencyStop => {
                let a = self.addr();
                match self.bus.transact_retry(a, header::EMERGENCY_STOP, &[]) {
                    Ok(_) => Outcome::ok(HopperPayload::Done),
                    Err(e) => Outcome::fail(CompletionCode::HardwareError, e.to_string()),
                }
            }
            HopperCommand::Test => match self.test() {
                Ok(f) => Outcome::ok(HopperPayload::Faults(f)),
                Err(e) => Outcome::fail(CompletionCode::HardwareError, e),
            },
            HopperCommand::LastDispense => self.last_dispense(),
            HopperCommand::Levels => match self.read_levels() {
                Ok(l) => Outcome::ok(HopperPayload::Levels(l)),
                Err(e) => Outcome::fail(CompletionCode::HardwareError, e),
            },
            HopperCommand::CashUnits => {
                Outcome::ok(HopperPayload::CashUnits(vec![self.unit.clone()]))
            }
            HopperCommand::Replenish { initial } => {
                self.unit.replenish(initial);
                Outcome::ok(HopperPayload::Done)
            }
            HopperCommand::Reset => {
                let a = self.addr();
                let _ = self.bus.transact_retry(a, header::RESET, &[]);
                self.ready = false;
                match self.initialise(ctx) {
                    Ok(()) => Outcome::ok(HopperPayload::Done),
                    Err(e) => Outcome::fail(CompletionCode::HardwareError, e),
                }
            }
        };
        self.report_noise(ctx);
        out
    }

    fn poll(&mut self, ctx: &mut Ctx<HopperEvent>) {
        if !self.ready {
            if self
                .last_start
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            {
                if self.initialise(ctx).is_ok() && !self.online {
                    self.online = true;
                    ctx.unsolicited(HopperEvent::Online);
                }
                self.report_noise(ctx);
            }
            return;
        }
        if self
            .last_level
            .is_some_and(|t| t.elapsed() < self.config.level_interval)
        {
            return;
        }
        self.last_level = Some(Instant::now());
        match self.read_levels() {
            Ok(l) => {
                if !self.online {
                    self.online = true;
                    ctx.unsolicited(HopperEvent::Online);
                }
                if self.level != Some(l) {
                    self.level = Some(l);
                    ctx.unsolicited(HopperEvent::Level(l));
                }
            }
            Err(reason) => {
                if self.online {
                    self.online = false;
                    ctx.unsolicited(HopperEvent::Offline { reason });
                }
            }
        }
        self.report_noise(ctx);
    }

    fn poll_interval(&self) -> Duration {
        self.config.status_interval.max(Duration::from_millis(20))
    }
}
