//! The SSP bill validator driver.
//!
//! Start-up: SYNC, HOST_PROTOCOL 6, SETUP_REQUEST (channel values mapped to 1,000 / 5,000 /
//! 10,000 / 50,000 won notes), GET_SERIAL_NUMBER, GET_COUNTERS, SET_INHIBITS, ENABLE or
//! DISABLE, then REJECT once. Each command carries the sequence flag; on a timeout or CRC
//! error the same bytes go again with the same flag and the device answers again without
//! executing twice.
//!
//! The REJECT (at start-up and after every device reset) is there because a restarted host
//! never lets a note it did not decide on go to the stacker: a note left in escrow by the
//! previous host would be stacked by the first plain POLL, as SSP says, and nobody would
//! have booked it. Accepted, it returns the note, reported as usual
//! ([`NoteEvent::Rejecting`], then [`NoteEvent::Returned`]); refused (nothing in escrow), it
//! changes nothing.
//!
//! Device keys: every credit carries the device's stacked counter including that note
//! ([`NoteEvent::Credited`]), the counters read at start-up plus the credits since; with
//! the serial number ([`NoteEvent::Identified`]) it is the note's key, under which the
//! daemon books it exactly once. After a restart, recovery asks
//! [`ValidatorCommand::Settle`]: no note left in motion, and the device's own counters.
//!
//! Escrow: a note read with a channel waits in escrow; the driver sends HOLD instead of
//! POLL until the host decides: [`ValidatorCommand::Stack`] lets it stack (plain POLL) and
//! completes when the device reports the **credit** (0xEE), never on the read;
//! [`ValidatorCommand::Return`] sends REJECT. A note pulled back while stacking is a fraud
//! attempt: an alarm, never a credit.

use std::time::{Duration, Instant};

use kiosk_core::{Note, Won};
use serde::{Deserialize, Serialize};

use super::{
    Counters, Packet, PacketDecoder, ReplyError, Setup, SspDecoded, SspEvent, cmd, encode,
    parse_poll, parse_serial_number, resp,
};
use crate::api::{self, CashUnit, CompletionCode, Ctx, Driver, Outcome, QueueSizes, Spawned};
use crate::link::{LinkError, SerialLink};

/// Settings of the bill validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorConfig {
    /// SSP device id (0 for a validator).
    pub id: u8,
    /// How often POLL (or HOLD) is sent.
    pub poll_interval: Duration,
    /// How long to wait for each reply.
    pub reply_timeout: Duration,
    /// Retransmissions (same bytes, same sequence flag) before giving up.
    pub retries: u8,
    /// Notes to accept; other channels stay inhibited.
    pub accept: Vec<Note>,
    /// A note held this long without a decision is returned.
    pub escrow_timeout: Duration,
    /// Time allowed for a stack or return to finish.
    pub command_timeout: Duration,
    /// Consecutive failed polls before the device is reported offline.
    pub offline_after: u32,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            id: 0,
            poll_interval: Duration::from_millis(150),
            reply_timeout: Duration::from_millis(250),
            retries: 3,
            accept: Note::ALL.to_vec(),
            escrow_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(10),
            offline_after: 3,
        }
    }
}

/// Commands of the bill validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidatorCommand {
    /// Accept notes.
    Enable,
    /// Refuse notes.
    Disable,
    /// Let the note in escrow stack; completes on its credit.
    Stack,
    /// Hand the note in escrow back.
    Return,
    /// The setup read at start-up.
    Setup,
    /// Cash-unit counts (one per note in the stacker).
    CashUnits,
    /// Staff emptied the stacker.
    EmptiedStacker,
    /// Leaves no note in motion and reads the device's counters: returns any note in
    /// escrow (REJECT), polls (bounded by `command_timeout`) until no note is being read,
    /// held, stacked or returned, reporting every event as usual, then answers
    /// [`ValidatorPayload::Counters`] from GET_COUNTERS. Recovery asks this after a restart:
    /// a stacked counter above the last one booked means notes stacked that nobody booked.
    Settle,
    /// Run start-up again.
    Reset,
}

/// What validator commands produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidatorPayload {
    /// Nothing beyond success.
    Done,
    /// The device's setup.
    Setup(Setup),
    /// The note stacked and was credited.
    Stacked {
        /// The note.
        note: Note,
        /// The device's stacked counter including this note (its device key).
        stacked: u32,
    },
    /// The note was handed back.
    Returned(Note),
    /// Stacker counts.
    CashUnits(Vec<CashUnit>),
    /// The device's own counters, read once no note was in motion (the answer to
    /// [`ValidatorCommand::Settle`]).
    Counters {
        /// The device's serial number.
        serial: u32,
        /// Notes it ever stacked.
        stacked: u32,
        /// Notes it ever rejected (handed back).
        rejected: u32,
    },
}

/// Everything the validator reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoteEvent {
    /// Start-up succeeded.
    Ready(Setup),
    /// Emitted right after every [`NoteEvent::Ready`]: who the device is and where its
    /// stacked counter stands, the basis of the notes' device keys.
    Identified {
        /// The device's serial number (GET_SERIAL_NUMBER).
        serial: u32,
        /// Its stacked counter (GET_COUNTERS) at start-up.
        stacked: u32,
    },
    /// A note is being read.
    Reading,
    /// A note waits in escrow for the host's decision. Not a credit.
    Escrowed(Note),
    /// A note is credited (device credit event 0xEE). The only event that is money in.
    Credited {
        /// The note.
        note: Note,
        /// The device's stacked counter including this note (the counters read at start
        /// plus the credits since): with the serial, the note's device key.
        stacked: u32,
    },
    /// A note is being stacked.
    Stacking,
    /// A note reached the stacker.
    Stacked,
    /// A note is being returned.
    Rejecting,
    /// A note was returned to the citizen.
    Returned,
    /// Alarm: fraud attempt (e.g. a note pulled back while stacking). Never a credit.
    FraudAttempt {
        /// The note, if its channel is known.
        note: Option<Note>,
    },
    /// The note path is jammed.
    Jam {
        /// Safe jam (note out of reach) or unsafe (reachable from the front).
        safe: bool,
    },
    /// The stacker is full.
    StackerFull,
    /// The cashbox was taken out.
    CashboxRemoved,
    /// The cashbox was put back.
    CashboxReplaced,
    /// The device reports itself disabled.
    Disabled,
    /// The device reset; start-up ran again.
    DeviceReset,
    /// A note was cleared to the front at reset.
    ClearedToFront,
    /// Alarm: a note went into the cashbox at reset without a credit; staff reconcile it.
    ClearedIntoCashbox {
        /// The note, if known.
        note: Option<Note>,
    },
    /// Alarm: a channel with no Korean note mapped. Not credited.
    UnknownChannel {
        /// The channel.
        channel: u8,
    },
    /// A held note waited too long and is being returned.
    EscrowTimeout,
    /// A reply could not be fully understood (an unknown event code); the events before
    /// it were reported, the rest of that reply is lost.
    ProtocolError {
        /// What was wrong.
        reason: String,
    },
    /// A reply was lost or corrupt and the command was sent again with the same flag.
    Retransmitted,
    /// Line noise was discarded.
    LineNoise {
        /// Bytes.
        bytes: usize,
    },
    /// The device stopped answering.
    Offline {
        /// Why.
        reason: String,
    },
    /// It answers again.
    Online,
}

/// Why an SSP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum SspTransactError {
    /// No valid reply after every retransmission.
    #[error("no valid reply after retransmissions")]
    NoReply,
    /// The device answered with a code other than OK.
    #[error("device answered 0x{0:02X}")]
    Response(u8),
    /// The reply does not parse.
    #[error("{0}")]
    Reply(#[from] ReplyError),
    /// The packet could not be built.
    #[error("{0}")]
    Packet(#[from] super::SspError),
    /// The port failed.
    #[error("{0}")]
    Link(#[from] LinkError),
}

struct Port {
    link: SerialLink,
    decoder: PacketDecoder,
    id: u8,
    seq: bool,
    need_sync: bool,
    timeout: Duration,
    retries: u8,
    garbage: usize,
    retransmits: usize,
}

impl Port {
    fn sync(&mut self) -> Result<(), SspTransactError> {
        self.seq = true;
        self.need_sync = false;
        self.exchange(&[cmd::SYNC]).map(|_| ())
    }

    /// One command with retransmission; returns the reply data (leading OK checked).
    fn command(&mut self, data: &[u8]) -> Result<Vec<u8>, SspTransactError> {
        if self.need_sync {
            self.sync()?;
        }
        let reply = self.exchange(data)?;
        match reply.first() {
            Some(&resp::OK) => Ok(reply),
            Some(&c) => Err(SspTransactError::Response(c)),
            None => Err(SspTransactError::Reply(ReplyError::Empty)),
        }
    }

    fn exchange(&mut self, data: &[u8]) -> Result<Vec<u8>, SspTransactError> {
        let bytes = encode(&Packet {
            seq: self.seq,
            id: self.id,
            data: data.to_vec(),
        })?;
        for attempt in 0..=self.retries {
            if attempt > 0 {
                self.retransmits += 1;
            }
            self.garbage += self.link.drain()?;
            self.decoder.reset();
            self.link.write_all(&bytes)?;
            if let Some(reply) = self.read_reply()? {
                self.seq = !self.seq;
                return Ok(reply);
            }
        }
        // The device's state is unknown: re-synchronise the sequence before the next one.
        self.need_sync = true;
        Err(SspTransactError::NoReply)
    }

    /// The reply to the packet just sent, or `None` on timeout or CRC error.
    fn read_reply(&mut self) -> Result<Option<Vec<u8>>, SspTransactError> {
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 512];
        loop {
            let now = Instant::now();
            if now >= deadline {
                self.decoder.reset();
                self.garbage += self.decoder.take_garbage();
                return Ok(None);
            }
            let n = self.link.read_some(&mut buf, deadline - now)?;
            for &b in &buf[..n] {
                match self.decoder.push(b) {
                    Some(SspDecoded::Packet(p)) if p.id == self.id && p.seq == self.seq => {
                        self.garbage += self.decoder.take_garbage();
                        return Ok(Some(p.data));
                    }
                    // A stale reply to an earlier packet: ignore it.
                    Some(SspDecoded::Packet(_)) => {}
                    Some(SspDecoded::BadCrc) => {
                        self.garbage += self.decoder.take_garbage();
                        return Ok(None);
                    }
                    None => {}
                }
            }
        }
    }
}

/// The driver; run it with [`spawn`].
pub struct BillValidator {
    port: Port,
    config: ValidatorConfig,
    setup: Option<Setup>,
    enabled: bool,
    ready: bool,
    online: bool,
    failures: u32,
    last_start: Option<Instant>,
    escrow: Option<(u8, Instant)>,
    serial: u32,
    stacked: u32,
    jammed: bool,
    disabled_seen: bool,
    units: Vec<CashUnit>,
}

#[derive(Default)]
struct Seen {
    credited: Option<(Note, u32)>,
    /// A note was being read, held, stacked or returned.
    busy: bool,
    returned: bool,
    fraud: bool,
    reset: bool,
}

/// Starts a validator actor on `link`.
pub fn spawn(
    link: SerialLink,
    config: ValidatorConfig,
    sizes: QueueSizes,
) -> Spawned<ValidatorCommand, ValidatorPayload, NoteEvent> {
    api::spawn(BillValidator::new(link, config), sizes)
}

fn fail<T>(e: SspTransactError) -> Outcome<T> {
    let code = match e {
        SspTransactError::NoReply => CompletionCode::TimeOut,
        _ => CompletionCode::HardwareError,
    };
    Outcome::fail(code, e.to_string())
}

impl BillValidator {
    /// A driver that has not talked to the device yet.
    pub fn new(link: SerialLink, config: ValidatorConfig) -> BillValidator {
        let units = Note::ALL
            .iter()
            .map(|n| CashUnit::new(format!("stacker:{}", n.value().get()), n.value(), 0))
            .collect();
        BillValidator {
            port: Port {
                link,
                decoder: PacketDecoder::new(),
                id: config.id & 0x7F,
                seq: true,
                need_sync: true,
                timeout: config.reply_timeout,
                retries: config.retries,
                garbage: 0,
                retransmits: 0,
            },
            config,
            setup: None,
            enabled: false,
            ready: false,
            online: true,
            failures: 0,
            last_start: None,
            escrow: None,
            serial: 0,
            stacked: 0,
            jammed: false,
            disabled_seen: false,
            units,
        }
    }

    fn note_of(&self, channel: u8) -> Option<Note> {
        let v = self
            .setup
            .as_ref()?
            .channels
            .get(usize::from(channel).checked_sub(1)?)?;
        Note::from_value(Won::new(u64::from(*v)))
    }

    fn inhibit_mask(&self) -> u16 {
        let n = self.setup.as_ref().map_or(0, |s| s.channels.len().min(16));
        (1..=n as u8)
            .filter(|&ch| {
                self.note_of(ch)
                    .is_some_and(|n| self.config.accept.contains(&n))
            })
            .fold(0u16, |m, ch| m | 1 << (ch - 1))
    }

    fn initialise(&mut self, ctx: &Ctx<NoteEvent>) -> Result<(), String> {
        self.last_start = Some(Instant::now());
        self.escrow = None;
        let p = &mut self.port;
        p.sync().map_err(|e| format!("sync: {e}"))?;
        p.command(&[cmd::HOST_PROTOCOL, 6])
            .map_err(|e| format!("host protocol: {e}"))?;
        let setup = p
            .command(&[cmd::SETUP_REQUEST])
            .map_err(|e| e.to_string())
            .and_then(|d| Setup::parse(&d).map_err(|e| e.to_string()))
            .map_err(|e| format!("setup request: {e}"))?;
        self.setup = Some(setup.clone());
        let serial = self
            .port
            .command(&[cmd::GET_SERIAL_NUMBER])
            .map_err(|e| e.to_string())
            .and_then(|d| parse_serial_number(&d).map_err(|e| e.to_string()))
            .map_err(|e| format!("serial number: {e}"))?;
        let counters = self.read_counters()?;
        let [lo, hi] = self.inhibit_mask().to_le_bytes();
        self.port
            .command(&[cmd::SET_INHIBITS, lo, hi])
            .map_err(|e| format!("set inhibits: {e}"))?;
        let c = if self.enabled {
            cmd::ENABLE
        } else {
            cmd::DISABLE
        };
        self.port
            .command(&[c])
            .map_err(|e| format!("enable: {e}"))?;
        // A note still in escrow was left by a host that is gone: hand it back before the
        // first plain POLL stacks it. A refusal means there is none; no answer at all means
        // start-up failed (and runs again, REJECT included, before any POLL).
        match self.port.command(&[cmd::REJECT]) {
            Ok(_) | Err(SspTransactError::Response(_)) => {}
            Err(e) => return Err(format!("reject: {e}")),
        }
        self.serial = serial;
        self.stacked = counters.stacked;
        self.ready = true;
        self.failures = 0;
        ctx.emit(NoteEvent::Ready(setup));
        ctx.emit(NoteEvent::Identified {
            serial,
            stacked: counters.stacked,
        });
        Ok(())
    }

    fn read_counters(&mut self) -> Result<Counters, String> {
        self.port
            .command(&[cmd::GET_COUNTERS])
            .map_err(|e| e.to_string())
            .and_then(|d| Counters::parse(&d).map_err(|e| e.to_string()))
            .map_err(|e| format!("counters: {e}"))
    }

    /// Hands back a note in escrow; `Ok` also when the device has none to hand back.
    fn reject_escrow(&mut self) -> Result<(), SspTransactError> {
        match self.port.command(&[cmd::REJECT]) {
            Ok(_) | Err(SspTransactError::Response(_)) => {
                self.escrow = None;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// [`ValidatorCommand::Settle`]: no note left in motion, then the device's counters.
    fn settle(&mut self, ctx: &Ctx<NoteEvent>) -> Outcome<ValidatorPayload> {
        if let Err(e) = self.reject_escrow() {
            return fail(e);
        }
        let deadline = Instant::now() + self.config.command_timeout;
        // Two quiet polls in a row: a device may answer one empty poll before it reports
        // the return it just started.
        let mut quiet = 0;
        while quiet < 2 {
            if Instant::now() >= deadline {
                return Outcome::fail(CompletionCode::TimeOut, "a note is still in motion");
            }
            if self.escrow.is_some() {
                // A note reached escrow meanwhile: a plain POLL would stack it.
                if let Err(e) = self.reject_escrow() {
                    return fail(e);
                }
            }
            std::thread::sleep(self.config.poll_interval);
            match self.poll_once(ctx, false) {
                Ok(seen) if !seen.busy && self.escrow.is_none() => quiet += 1,
                _ => quiet = 0,
            }
        }
        match self.read_counters() {
            Ok(c) => {
                // The device's count is the truth: later keys continue from it.
                self.stacked = c.stacked;
                Outcome::ok(ValidatorPayload::Counters {
                    serial: self.serial,
                    stacked: c.stacked,
                    rejected: c.rejected,
                })
            }
            Err(e) => Outcome::fail(CompletionCode::HardwareError, e),
        }
    }

    fn report_line(&mut self, ctx: &Ctx<NoteEvent>) {
        let g = std::mem::take(&mut self.port.garbage);
        if g > 0 {
            ctx.unsolicited(NoteEvent::LineNoise { bytes: g });
        }
        for _ in 0..std::mem::take(&mut self.port.retransmits) {
            ctx.unsolicited(NoteEvent::Retransmitted);
        }
    }

    /// One POLL (or HOLD while a note waits for a decision), its events reported.
    fn poll_once(&mut self, ctx: &Ctx<NoteEvent>, hold: bool) -> Result<Seen, SspTransactError> {
        let result = if hold {
            self.port.command(&[cmd::HOLD]).map(|_| Vec::new())
        } else {
            self.port.command(&[cmd::POLL]).and_then(|d| {
                let (events, err) = parse_poll(&d)?;
                if let Some(e) = err {
                    // Events before the unknown one stand; the rest of this reply is lost.
                    ctx.unsolicited(NoteEvent::ProtocolError {
                        reason: format!("poll reply: {e}"),
                    });
                }
                Ok(events)
            })
        };
        self.report_line(ctx);
        let events = match result {
            Ok(e) => e,
            Err(SspTransactError::Response(code)) if hold => {
                // The device holds no note (it reset, or the citizen took it): poll
                // next time to learn what happened.
                self.escrow = None;
                return Err(SspTransactError::Response(code));
            }
            Err(e) => {
                self.failures += 1;
                if self.failures == self.config.offline_after && self.online {
                    self.online = false;
                    ctx.unsolicited(NoteEvent::Offline {
                        reason: e.to_string(),
                    });
                }
                return Err(e);
            }
        };
        self.failures = 0;
        if !self.online {
            self.online = true;
            ctx.unsolicited(NoteEvent::Online);
        }
        Ok(self.process(ctx, &events))
    }

    fn process(&mut self, ctx: &Ctx<NoteEvent>, events: &[SspEvent]) -> Seen {
        let mut seen = Seen::default();
        let mut jam_now = false;
        let mut disabled_now = false;
        for &e in events {
            if matches!(
                e,
                SspEvent::Read(_) | SspEvent::Stacking | SspEvent::Rejecting
            ) {
                seen.busy = true;
            }
            let ev = match e {
                SspEvent::Read(0) => NoteEvent::Reading,
                SspEvent::Read(ch) => match self.note_of(ch) {
                    Some(n) => {
                        self.escrow = Some((ch, Instant::now()));
                        NoteEvent::Escrowed(n)
                    }
                    None => {
                        let _ = self.port.command(&[cmd::REJECT]);
                        NoteEvent::UnknownChannel { channel: ch }
                    }
                },
                SspEvent::Credit(ch) => {
                    self.escrow = None;
                    // The device counts every note it stacks, mapped or not.
                    self.stacked = self.stacked.wrapping_add(1);
                    match self.note_of(ch) {
                        Some(n) => {
                            if let Some(u) = self.units.iter_mut().find(|u| u.value == n.value()) {
                                u.record_in(1);
                            }
                            seen.credited = Some((n, self.stacked));
                            NoteEvent::Credited {
                                note: n,
                                stacked: self.stacked,
                            }
                        }
                        None => NoteEvent::UnknownChannel { channel: ch },
                    }
                }
                SspEvent::Stacking => NoteEvent::Stacking,
                SspEvent::Stacked => NoteEvent::Stacked,
                SspEvent::Rejecting => NoteEvent::Rejecting,
                SspEvent::Rejected => {
                    self.escrow = None;
                    seen.returned = true;
                    NoteEvent::Returned
                }
                SspEvent::FraudAttempt(ch) => {
                    self.escrow = None;
                    seen.fraud = true;
                    NoteEvent::FraudAttempt {
                        note: self.note_of(ch),
                    }
                }
                SspEvent::SafeJam | SspEvent::UnsafeJam => {
                    jam_now = true;
                    if self.jammed {
                        continue;
                    }
                    NoteEvent::Jam {
                        safe: e == SspEvent::SafeJam,
                    }
                }
                SspEvent::Disabled => {
                    disabled_now = true;
                    if self.disabled_seen {
                        continue;
                    }
                    NoteEvent::Disabled
                }
                SspEvent::StackerFull => NoteEvent::StackerFull,
                SspEvent::CashboxRemoved => NoteEvent::CashboxRemoved,
                SspEvent::CashboxReplaced => NoteEvent::CashboxReplaced,
                SspEvent::SlaveReset => {
                    self.escrow = None;
                    seen.reset = true;
                    NoteEvent::DeviceReset
                }
                SspEvent::ClearedFromFront(_) => NoteEvent::ClearedToFront,
                SspEvent::ClearedIntoCashbox(ch) => NoteEvent::ClearedIntoCashbox {
                    note: self.note_of(ch),
                },
                SspEvent::ChannelDisable => continue,
            };
            ctx.unsolicited(ev);
        }
        self.jammed = jam_now;
        self.disabled_seen = disabled_now;
        if seen.reset {
            if let Err(reason) = self.initialise(ctx) {
                self.ready = false;
                ctx.unsolicited(NoteEvent::Offline { reason });
            }
        }
        seen
    }

    /// Polls until `done` says the command has ended, within the command timeout.
    fn finish(
        &mut self,
        ctx: &Ctx<NoteEvent>,
        note: Note,
        on: fn(&Seen, Note) -> Option<Outcome<ValidatorPayload>>,
    ) -> Outcome<ValidatorPayload> {
        let deadline = Instant::now() + self.config.command_timeout;
        while Instant::now() < deadline {
            std::thread::sleep(self.config.poll_interval);
            if let Ok(seen) = self.poll_once(ctx, false) {
                if let Some(out) = on(&seen, note) {
                    return out;
                }
                if seen.reset {
                    return Outcome::fail(CompletionCode::HardwareError, "device reset");
                }
            }
        }
        Outcome::fail(CompletionCode::TimeOut, "note did not settle in time")
    }

    fn escrowed_note(&self) -> Option<Note> {
        self.escrow.and_then(|(ch, _)| self.note_of(ch))
    }

    fn set_enabled(&mut self, on: bool) -> Outcome<ValidatorPayload> {
        let c = if on { cmd::ENABLE } else { cmd::DISABLE };
        match self.port.command(&[c]) {
            Ok(_) => {
                self.enabled = on;
                Outcome::ok(ValidatorPayload::Done)
            }
            Err(e) => fail(e),
        }
    }
}

fn on_stack(seen: &Seen, note: Note) -> Option<Outcome<ValidatorPayload>> {
    if let Some((note, stacked)) = seen.credited {
        return Some(Outcome::ok(ValidatorPayload::Stacked { note, stacked }));
    }
    if seen.fraud {
        return Some(Outcome::fail(
            CompletionCode::FraudAttempt,
            format!("{} note pulled back while stacking", note.value()),
        ));
    }
    if seen.returned {
        return Some(Outcome::fail_with(
            CompletionCode::HardwareError,
            ValidatorPayload::Returned(note),
            "the device returned the note",
        ));
    }
    None
}

fn on_return(seen: &Seen, note: Note) -> Option<Outcome<ValidatorPayload>> {
    if seen.returned {
        return Some(Outcome::ok(ValidatorPayload::Returned(note)));
    }
    if seen.fraud {
        return Some(Outcome::fail(
            CompletionCode::FraudAttempt,
            "fraud while returning",
        ));
    }
    if let Some((note, stacked)) = seen.credited {
        // The note went past the point of no return before the REJECT: it is money in.
        return Some(Outcome::fail_with(
            CompletionCode::HardwareError,
            ValidatorPayload::Stacked { note, stacked },
            "the note stacked before it could be returned",
        ));
    }
    None
}

impl Driver for BillValidator {
    type Command = ValidatorCommand;
    type Payload = ValidatorPayload;
    type Event = NoteEvent;

    fn start(&mut self, ctx: &mut Ctx<NoteEvent>) {
        if let Err(reason) = self.initialise(ctx) {
            self.online = false;
            ctx.unsolicited(NoteEvent::Offline { reason });
        }
        self.report_line(ctx);
    }

    fn execute(
        &mut self,
        ctx: &mut Ctx<NoteEvent>,
        command: ValidatorCommand,
    ) -> Outcome<ValidatorPayload> {
        let needs_device = !matches!(
            command,
            ValidatorCommand::Reset
                | ValidatorCommand::CashUnits
                | ValidatorCommand::EmptiedStacker
        );
        if needs_device && !self.ready {
            return Outcome::fail(CompletionCode::DeviceNotReady, "not initialised");
        }
        let out = match command {
            ValidatorCommand::Enable => self.set_enabled(true),
            ValidatorCommand::Disable => self.set_enabled(false),
            ValidatorCommand::Stack => match self.escrowed_note() {
                None => Outcome::fail(CompletionCode::SequenceError, "no note in escrow"),
                Some(note) => self.finish(ctx, note, on_stack),
            },
            ValidatorCommand::Return => match self.escrowed_note() {
                None => Outcome::fail(CompletionCode::SequenceError, "no note in escrow"),
                Some(note) => match self.port.command(&[cmd::REJECT]) {
                    Ok(_) => self.finish(ctx, note, on_return),
                    Err(e) => fail(e),
                },
            },
            ValidatorCommand::Setup => match &self.setup {
                Some(s) => Outcome::ok(ValidatorPayload::Setup(s.clone())),
                None => Outcome::fail(CompletionCode::DeviceNotReady, "no setup"),
            },
            ValidatorCommand::CashUnits => {
                Outcome::ok(ValidatorPayload::CashUnits(self.units.clone()))
            }
            ValidatorCommand::Settle => self.settle(ctx),
            ValidatorCommand::EmptiedStacker => {
                for u in &mut self.units {
                    u.replenish(0);
                }
                Outcome::ok(ValidatorPayload::Done)
            }
            ValidatorCommand::Reset => {
                self.ready = false;
                match self.initialise(ctx) {
                    Ok(()) => Outcome::ok(ValidatorPayload::Done),
                    Err(e) => Outcome::fail(CompletionCode::HardwareError, e),
                }
            }
        };
        self.report_line(ctx);
        out
    }

    fn poll(&mut self, ctx: &mut Ctx<NoteEvent>) {
        if !self.ready {
            if self
                .last_start
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            {
                if self.initialise(ctx).is_ok() && !self.online {
                    self.online = true;
                    ctx.unsolicited(NoteEvent::Online);
                }
                self.report_line(ctx);
            }
            return;
        }
        if ctx.room() < 16 {
            return;
        }
        if let Some((_, since)) = self.escrow {
            if since.elapsed() >= self.config.escrow_timeout {
                ctx.unsolicited(NoteEvent::EscrowTimeout);
                if self.port.command(&[cmd::REJECT]).is_ok() {
                    self.escrow = None;
                }
                self.report_line(ctx);
                return;
            }
            let _ = self.poll_once(ctx, true);
            return;
        }
        let _ = self.poll_once(ctx, false);
    }

    fn poll_interval(&self) -> Duration {
        self.config.poll_interval
    }
}
