//! The pure core: all of the board's behaviour as a step function over time, sampled inputs
//! and received bytes. No hardware types, no allocation, no panics.

use kiosk_ioproto::auth::{self, BOOT_ID_LEN, CHALLENGE_LEN, Key, NONCE_LEN};
use kiosk_ioproto::message::{RETIRED_CONFIGURE_WATCHDOG, RETIRED_MAINTENANCE, event_body};
use kiosk_ioproto::{
    Alarm, EventKind, Frame, FrameDecoder, FrameError, Input, InputSet, Lock, LockSet, Message,
    NakReason, PROTOCOL_VERSION, PayloadError, Status, StatusFlags, WireFrame,
};

use crate::config::{Config, MAX_BAD_MAC_LIMIT, valid_watchdog_s};

/// The firmware version reported in the hello.
pub const FIRMWARE_VERSION: [u8; 3] = [0, 2, 0];
/// Capacity of the event queue (one slot is kept for the overflow marker).
pub const EVENT_QUEUE_CAPACITY: usize = 32;
/// Capacity of the transmit buffer one step can fill.
pub const TX_CAPACITY: usize = 512;

/// What the board drives after a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Energised (released) lock solenoids.
    pub locks: LockSet,
    /// The host reset relay.
    pub reset_relay: bool,
    /// Whether the main loop is healthy: the shell feeds the hardware watchdog only then.
    pub feed_watchdog: bool,
}

/// Bytes to send after a step: whole frames only, at most [`TX_CAPACITY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxBuf {
    buf: [u8; TX_CAPACITY],
    len: usize,
}

impl TxBuf {
    const fn new() -> Self {
        TxBuf {
            buf: [0u8; TX_CAPACITY],
            len: 0,
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn room(&self) -> usize {
        TX_CAPACITY - self.len
    }

    /// Appends a whole frame, or nothing when it does not fit.
    fn push(&mut self, frame: &WireFrame) -> bool {
        let bytes = frame.as_bytes();
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
                true
            }
            None => false,
        }
    }
}

/// The result of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Output levels to apply now.
    pub outputs: Outputs,
    /// Frames to send now.
    pub tx: TxBuf,
}

/// Counters for diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames that did not decode (saturating).
    pub bad_frames: u16,
    /// Replies dropped because the transmit buffer was full (saturating).
    pub tx_dropped: u16,
    /// Host reset pulses given (saturating).
    pub host_resets: u16,
}

#[derive(Clone, Copy, Debug)]
struct Debounce {
    stable: bool,
    candidate: bool,
    since: u64,
}

#[derive(Clone, Copy, Debug)]
struct QueuedEvent {
    at_ms: u64,
    kind: EventKind,
}

/// A bounded FIFO of events. The last slot is reserved for an overflow marker, so the host
/// always learns how many events were lost and where.
#[derive(Clone, Debug)]
struct EventQueue {
    slots: [QueuedEvent; EVENT_QUEUE_CAPACITY],
    head: usize,
    len: usize,
}

impl EventQueue {
    const fn new() -> Self {
        EventQueue {
            slots: [QueuedEvent {
                at_ms: 0,
                kind: EventKind::Overflow { lost: 0 },
            }; EVENT_QUEUE_CAPACITY],
            head: 0,
            len: 0,
        }
    }

    fn slot(&mut self, offset: usize) -> Option<&mut QueuedEvent> {
        self.slots
            .get_mut((self.head + offset) % EVENT_QUEUE_CAPACITY)
    }

    fn push(&mut self, at_ms: u64, kind: EventKind) {
        if self.len < EVENT_QUEUE_CAPACITY - 1 {
            let len = self.len;
            if let Some(slot) = self.slot(len) {
                *slot = QueuedEvent { at_ms, kind };
                self.len += 1;
            }
            return;
        }
        let len = self.len;
        let tail_is_overflow = len > 0
            && matches!(
                self.slot(len - 1).map(|s| s.kind),
                Some(EventKind::Overflow { .. })
            );
        if tail_is_overflow {
            if let Some(QueuedEvent {
                kind: EventKind::Overflow { lost },
                ..
            }) = self.slot(len - 1)
            {
                *lost = lost.saturating_add(1);
            }
        } else if let Some(slot) = self.slot(len) {
            *slot = QueuedEvent {
                at_ms,
                kind: EventKind::Overflow { lost: 1 },
            };
            self.len += 1;
        }
    }

    fn front(&self) -> Option<QueuedEvent> {
        if self.len == 0 {
            None
        } else {
            self.slots.get(self.head).copied()
        }
    }

    fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % EVENT_QUEUE_CAPACITY;
            self.len -= 1;
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct LockState {
    /// (energised since, release at)
    energised: Option<(u64, u64)>,
    cool_until: u64,
}

/// The board. Create it once at start-up and call [`Board::step`] from the main loop.
#[derive(Clone, Debug)]
pub struct Board {
    cfg: Config,
    key: Key,
    board_id: u32,
    seed: [u8; NONCE_LEN],
    boot_id: [u8; BOOT_ID_LEN],
    nonce_counter: u64,
    boot_ms: Option<u64>,
    last_ms: u64,
    debounce: [Debounce; Input::COUNT],
    inputs: InputSet,
    events: EventQueue,
    next_event_seq: u64,
    locks: [LockState; Lock::COUNT],
    nonce: Option<([u8; NONCE_LEN], u64)>,
    bad_macs: [u64; MAX_BAD_MAC_LIMIT],
    bad_mac_count: usize,
    lockout_until: Option<u64>,
    last_rx_ms: Option<u64>,
    host_watchdog_ms: u64,
    last_heartbeat_ms: Option<u64>,
    watch_from_ms: u64,
    maintenance_until: Option<u64>,
    relay_until: Option<u64>,
    rx: FrameDecoder,
    tx_seq: u16,
    stats: Stats,
}

impl Board {
    /// A board with this configuration, per-board `key` and `board_id`, a `seed` drawn
    /// from a hardware random source at start-up, and `boot_count`, the counter of starts
    /// the platform keeps in non-volatile memory and advanced (and stored) before this call
    /// (see [`crate::BootCounter`]). Nonces and the boot id derive from key, seed and boot
    /// count, so a repeated seed alone never repeats them.
    pub fn new(
        config: Config,
        key: Key,
        board_id: u32,
        seed: [u8; NONCE_LEN],
        boot_count: u32,
    ) -> Board {
        let cfg = config.sanitised();
        let seed = auth::boot_seed(&key, &seed, boot_count);
        let boot_id = auth::derive_boot_id(&key, &seed);
        Board {
            cfg,
            key,
            board_id,
            seed,
            boot_id,
            nonce_counter: 0,
            boot_ms: None,
            last_ms: 0,
            debounce: [Debounce {
                stable: false,
                candidate: false,
                since: 0,
            }; Input::COUNT],
            inputs: InputSet::EMPTY,
            events: EventQueue::new(),
            next_event_seq: 0,
            locks: [LockState::default(); Lock::COUNT],
            nonce: None,
            bad_macs: [0; MAX_BAD_MAC_LIMIT],
            bad_mac_count: 0,
            lockout_until: None,
            last_rx_ms: None,
            host_watchdog_ms: u64::from(cfg.host_watchdog_s) * 1000,
            last_heartbeat_ms: None,
            watch_from_ms: 0,
            maintenance_until: None,
            relay_until: None,
            rx: FrameDecoder::new(),
            tx_seq: 0,
            stats: Stats::default(),
        }
    }

    /// One pass of the main loop at monotonic time `now_ms`, with the raw (undebounced)
    /// input levels and the bytes received since the last step. Returns the outputs to
    /// drive and the frames to send.
    pub fn step(&mut self, now_ms: u64, raw: InputSet, rx: &[u8]) -> Step {
        let mut tx = TxBuf::new();
        let mut healthy = true;
        let now = if now_ms < self.last_ms {
            healthy = false;
            self.last_ms
        } else {
            now_ms
        };
        match self.boot_ms {
            None => self.boot(now, raw),
            Some(_) => {
                if now - self.last_ms > u64::from(self.cfg.max_loop_gap_ms) {
                    healthy = false;
                }
            }
        }
        self.last_ms = now;

        self.expire_timers(now);
        self.debounce_inputs(now, raw);
        for &byte in rx {
            match self.rx.push(byte) {
                None => {}
                Some(Ok(frame)) => self.handle(now, frame, &mut tx),
                Some(Err(e)) => {
                    self.stats.bad_frames = self.stats.bad_frames.saturating_add(1);
                    self.refuse_undecodable(now, e, &mut tx);
                }
            }
        }
        if !self.link_up(now) {
            // Fail secure: without the host nothing stays open.
            for lock in Lock::ALL {
                self.release(now, lock);
            }
        }
        self.host_watchdog(now);
        if self.link_up(now) {
            self.drain_events(&mut tx);
        }

        let outputs = self.outputs();
        // Invariant check: no solenoid beyond its thermal limit.
        let limit = u64::from(self.cfg.max_unlock_s) * 1000;
        if self
            .locks
            .iter()
            .any(|l| l.energised.is_some_and(|(since, _)| now - since >= limit))
        {
            healthy = false;
        }
        Step {
            outputs: Outputs {
                feed_watchdog: healthy,
                ..outputs
            },
            tx,
        }
    }

    /// The outputs as they stand (the reset relay and energised locks).
    pub fn outputs(&self) -> Outputs {
        let mut locks = LockSet::EMPTY;
        for lock in Lock::ALL {
            if self.locks[lock.index()].energised.is_some() {
                locks = locks.with(lock, true);
            }
        }
        Outputs {
            locks,
            reset_relay: self.relay_until.is_some(),
            feed_watchdog: false,
        }
    }

    /// The board's status as of the last step.
    pub fn status(&self) -> Status {
        let now = self.last_ms;
        Status {
            inputs: self.inputs,
            locks: self.outputs().locks,
            flags: StatusFlags {
                link_up: self.link_up(now),
                auth_lockout: self.lockout_until.is_some(),
                maintenance: self.maintenance_until.is_some(),
                reset_relay: self.relay_until.is_some(),
            },
            next_event_seq: self.next_event_seq,
            uptime_ms: self.uptime(now),
            watchdog_s: u16::try_from(self.host_watchdog_ms / 1000).unwrap_or(u16::MAX),
            bad_frames: self.stats.bad_frames,
        }
    }

    /// This boot's session value: it keys the event MACs, and status replies carry it.
    pub fn boot_id(&self) -> &[u8; BOOT_ID_LEN] {
        &self.boot_id
    }

    /// Diagnostic counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn boot(&mut self, now: u64, raw: InputSet) {
        self.boot_ms = Some(now);
        for input in Input::ALL {
            let level = raw.contains(input);
            self.debounce[input.index()] = Debounce {
                stable: level,
                candidate: level,
                since: now,
            };
        }
        self.inputs = raw;
        self.watch_from_ms = now + u64::from(self.cfg.host_boot_grace_ms);
        self.events.push(0, EventKind::Alarm(Alarm::BoardStarted));
    }

    fn uptime(&self, now: u64) -> u64 {
        now - self.boot_ms.unwrap_or(now)
    }

    fn link_up(&self, now: u64) -> bool {
        self.last_rx_ms
            .is_some_and(|t| now - t < u64::from(self.cfg.link_timeout_ms))
    }

    fn release(&mut self, now: u64, lock: Lock) {
        let state = &mut self.locks[lock.index()];
        if state.energised.take().is_some() {
            state.cool_until = now + u64::from(self.cfg.unlock_cooldown_ms);
        }
    }

    fn expire_timers(&mut self, now: u64) {
        for lock in Lock::ALL {
            if self.locks[lock.index()]
                .energised
                .is_some_and(|(_, until)| now >= until)
            {
                self.release(now, lock);
            }
        }
        if self.lockout_until.is_some_and(|t| now >= t) {
            self.lockout_until = None;
        }
        if self.nonce.is_some_and(|(_, expires)| now >= expires) {
            self.nonce = None;
        }
        if let Some(until) = self.maintenance_until
            && now >= until
        {
            self.maintenance_until = None;
            self.watch_from_ms = self.watch_from_ms.max(until);
        }
        if let Some(until) = self.relay_until
            && now >= until
        {
            self.relay_until = None;
            self.watch_from_ms = now + u64::from(self.cfg.host_boot_grace_ms);
        }
    }

    fn debounce_inputs(&mut self, now: u64, raw: InputSet) {
        let at = self.uptime(now);
        for input in Input::ALL {
            let level = raw.contains(input);
            let d = &mut self.debounce[input.index()];
            if level != d.candidate {
                d.candidate = level;
                d.since = now;
            }
            if d.candidate != d.stable && now - d.since >= u64::from(self.cfg.debounce_ms) {
                d.stable = d.candidate;
                let active = d.stable;
                self.inputs = self.inputs.with(input, active);
                self.events.push(at, EventKind::Input { input, active });
                if !active {
                    // A door closed: relock it at once.
                    if let Some(lock) = Lock::ALL.into_iter().find(|l| l.door() == input) {
                        self.release(now, lock);
                    }
                }
            }
        }
    }

    fn send(&mut self, tx: &mut TxBuf, msg: Message) -> bool {
        let frame = Frame {
            seq: self.tx_seq,
            msg,
        }
        .encode();
        if tx.push(&frame) {
            self.tx_seq = self.tx_seq.wrapping_add(1);
            true
        } else {
            false
        }
    }

    fn reply(&mut self, tx: &mut TxBuf, msg: Message) {
        if !self.send(tx, msg) {
            self.stats.tx_dropped = self.stats.tx_dropped.saturating_add(1);
        }
    }

    /// A frame whose CRC was good but whose payload did not decode is refused by name, so
    /// the sender learns why; it does not count as hearing the host. Protocol 1's
    /// unauthenticated watchdog and maintenance commands also count as bad MACs: in
    /// protocol 2 only something without the key sends them.
    fn refuse_undecodable(&mut self, now: u64, e: FrameError, tx: &mut TxBuf) {
        let FrameError::Payload { seq, error } = e else {
            return; // line noise: no sequence number to name
        };
        let reason = match error {
            PayloadError::Retired(RETIRED_CONFIGURE_WATCHDOG | RETIRED_MAINTENANCE) => {
                self.bad_mac(now);
                NakReason::Unauthenticated
            }
            PayloadError::Retired(_) => NakReason::BadVersion,
            PayloadError::UnknownKind(_) => NakReason::Unsupported,
            PayloadError::Length | PayloadError::Value => NakReason::Malformed,
        };
        self.reply(tx, Message::Nak { seq, reason });
    }

    fn handle(&mut self, now: u64, frame: Frame, tx: &mut TxBuf) {
        let seq = frame.seq;
        if !frame.msg.is_host_to_board() {
            self.reply(
                tx,
                Message::Nak {
                    seq,
                    reason: NakReason::Unsupported,
                },
            );
            return;
        }
        self.last_rx_ms = Some(now);
        let ack = |r: Result<(), NakReason>| match r {
            Ok(()) => Message::Ack { seq },
            Err(reason) => Message::Nak { seq, reason },
        };
        let reply = match frame.msg {
            Message::Hello { protocol } if protocol == PROTOCOL_VERSION => Message::BoardHello {
                protocol: PROTOCOL_VERSION,
                firmware: FIRMWARE_VERSION,
                board_id: self.board_id,
                uptime_ms: self.uptime(now),
            },
            Message::Hello { .. } => ack(Err(NakReason::BadVersion)),
            Message::Heartbeat => {
                self.last_heartbeat_ms = Some(now);
                ack(Ok(()))
            }
            Message::GetNonce => {
                let nonce = auth::derive_nonce(&self.key, &self.seed, self.nonce_counter);
                self.nonce_counter = self.nonce_counter.wrapping_add(1);
                self.nonce = Some((nonce, now + u64::from(self.cfg.nonce_valid_ms)));
                Message::Nonce {
                    nonce,
                    valid_ms: self.cfg.nonce_valid_ms,
                }
            }
            Message::Unlock {
                lock,
                seconds,
                nonce,
                mac,
            } => ack(self.unlock(now, lock, seconds, &nonce, &mac)),
            Message::Relock { lock } => {
                self.release(now, lock);
                ack(Ok(()))
            }
            Message::ConfigureWatchdog {
                timeout_s,
                nonce,
                mac,
            } => ack(self.configure_watchdog(now, timeout_s, &nonce, &mac)),
            Message::Maintenance {
                seconds,
                nonce,
                mac,
            } => ack(self.maintenance(now, seconds, &nonce, &mac)),
            Message::GetStatus { challenge } => self.signed_status(now, &challenge),
            // Board-to-host kinds were answered above.
            _ => ack(Err(NakReason::Unsupported)),
        };
        self.reply(tx, reply);
    }

    fn status_at(&self, now: u64) -> Status {
        let mut s = self.status();
        s.flags.link_up = self.link_up(now);
        s.uptime_ms = self.uptime(now);
        s
    }

    /// The status, MAC'd over the host's challenge and this boot's id.
    fn signed_status(&self, now: u64, challenge: &[u8; CHALLENGE_LEN]) -> Message {
        let status = self.status_at(now);
        let mac = auth::status_mac(
            &self.key,
            self.board_id,
            challenge,
            &self.boot_id,
            &status.body(),
        );
        Message::Status {
            status,
            boot_id: self.boot_id,
            mac,
        }
    }

    /// The checks every authenticated command passes before it acts: the nonce is spent
    /// whatever happens (one nonce, one try, shared by all authenticated kinds), nothing is
    /// accepted during a lockout, the nonce must be the board's current one and unexpired,
    /// and the MAC (checked by `verify` in constant time) must hold; a bad MAC counts
    /// towards the lockout.
    fn authorise(
        &mut self,
        now: u64,
        nonce: &[u8; NONCE_LEN],
        verify: impl FnOnce(&Key, u32) -> bool,
    ) -> Result<(), NakReason> {
        let issued = self.nonce.take();
        if self.lockout_until.is_some() {
            return Err(NakReason::LockedOut);
        }
        match issued {
            Some((current, expires)) if current == *nonce && now < expires => {}
            _ => return Err(NakReason::StaleNonce),
        }
        if !verify(&self.key, self.board_id) {
            self.bad_mac(now);
            return Err(NakReason::BadMac);
        }
        Ok(())
    }

    fn configure_watchdog(
        &mut self,
        now: u64,
        timeout_s: u16,
        nonce: &[u8; NONCE_LEN],
        mac: &[u8; auth::MAC_LEN],
    ) -> Result<(), NakReason> {
        self.authorise(now, nonce, |key, id| {
            auth::verify_watchdog_mac(key, id, timeout_s, nonce, mac)
        })?;
        if !valid_watchdog_s(timeout_s) {
            return Err(NakReason::OutOfRange);
        }
        self.host_watchdog_ms = u64::from(timeout_s) * 1000;
        self.watch_from_ms = self.watch_from_ms.max(now);
        Ok(())
    }

    fn maintenance(
        &mut self,
        now: u64,
        seconds: u16,
        nonce: &[u8; NONCE_LEN],
        mac: &[u8; auth::MAC_LEN],
    ) -> Result<(), NakReason> {
        self.authorise(now, nonce, |key, id| {
            auth::verify_maintenance_mac(key, id, seconds, nonce, mac)
        })?;
        if seconds > self.cfg.max_maintenance_s {
            return Err(NakReason::OutOfRange);
        }
        if seconds == 0 {
            if self.maintenance_until.take().is_some() {
                self.watch_from_ms = self.watch_from_ms.max(now);
            }
        } else {
            self.maintenance_until = Some(now + u64::from(seconds) * 1000);
        }
        Ok(())
    }

    fn unlock(
        &mut self,
        now: u64,
        lock: Lock,
        seconds: u8,
        nonce: &[u8; NONCE_LEN],
        mac: &[u8; auth::MAC_LEN],
    ) -> Result<(), NakReason> {
        self.authorise(now, nonce, |key, id| {
            auth::verify_unlock_mac(key, id, lock, seconds, nonce, mac)
        })?;
        if seconds == 0 || seconds > self.cfg.max_unlock_s {
            return Err(NakReason::OutOfRange);
        }
        let limit = u64::from(self.cfg.max_unlock_s) * 1000;
        let wanted = now + u64::from(seconds) * 1000;
        let state = &mut self.locks[lock.index()];
        match state.energised.as_mut() {
            // Already open: extend, but never past the thermal limit of this pulse.
            Some((since, until)) => *until = wanted.min(*since + limit),
            None if now < state.cool_until => return Err(NakReason::Busy),
            None => state.energised = Some((now, wanted)),
        }
        Ok(())
    }

    fn bad_mac(&mut self, now: u64) {
        let limit = usize::from(self.cfg.bad_mac_limit);
        let window = u64::from(self.cfg.bad_mac_window_ms);
        if let Some(slot) = self
            .bad_macs
            .get_mut(self.bad_mac_count % MAX_BAD_MAC_LIMIT)
        {
            *slot = now;
        }
        self.bad_mac_count = self.bad_mac_count.wrapping_add(1);
        let remembered = self.bad_mac_count.min(MAX_BAD_MAC_LIMIT);
        let recent = self
            .bad_macs
            .iter()
            .take(remembered)
            .filter(|&&t| now - t < window)
            .count();
        if recent >= limit {
            self.lockout_until = Some(now + u64::from(self.cfg.auth_lockout_ms));
            self.bad_mac_count = 0;
            self.events
                .push(self.uptime(now), EventKind::Alarm(Alarm::AuthLockout));
        }
    }

    fn host_watchdog(&mut self, now: u64) {
        if self.host_watchdog_ms == 0
            || self.maintenance_until.is_some()
            || self.relay_until.is_some()
        {
            return;
        }
        let from = self.last_heartbeat_ms.unwrap_or(0).max(self.watch_from_ms);
        if now >= from + self.host_watchdog_ms {
            self.relay_until = Some(now + u64::from(self.cfg.reset_pulse_ms).max(1));
            self.stats.host_resets = self.stats.host_resets.saturating_add(1);
            self.events
                .push(self.uptime(now), EventKind::Alarm(Alarm::HostReset));
        }
    }

    fn drain_events(&mut self, tx: &mut TxBuf) {
        while let Some(ev) = self.events.front() {
            if tx.room() < kiosk_ioproto::MAX_WIRE_FRAME {
                break;
            }
            let (body, n) = event_body(self.next_event_seq, ev.at_ms, ev.kind);
            let mac = auth::event_mac(
                &self.key,
                self.board_id,
                &self.boot_id,
                body.get(..n).unwrap_or(&[]),
            );
            let msg = Message::Event {
                event_seq: self.next_event_seq,
                at_ms: ev.at_ms,
                kind: ev.kind,
                mac,
            };
            if !self.send(tx, msg) {
                break;
            }
            // 64 bits never wrap (at one event per debounce time of every input, that
            // takes billions of years); saturating keeps it monotonic regardless.
            self.next_event_seq = self.next_event_seq.saturating_add(1);
            self.events.pop();
        }
    }
}
