//! The daemon's side of the I/O board: hello, heartbeats, authenticated unlock, watchdog
//! and maintenance commands, authenticated status and the board's events (doors, tamper,
//! paper-low, earphone jack, cashbox).
//!
//! The protocol is `kiosk_ioproto`'s (version 2). An authenticated command asks the board
//! for a fresh nonce and answers it with an HMAC over the command; the key never leaves
//! this value and is never printed. A status request carries a fresh random challenge and
//! the reply must carry a MAC over it: that is how the client learns the board's boot id,
//! which keys the MAC of every event. An event is accepted only with a valid MAC and a
//! sequence number above the last one accepted, so a shim on the line can neither make up
//! a "door closed" nor replay an old one; refused events are counted
//! ([`IoBoardClient::forged_events`], [`IoBoardClient::replayed_events`]). An event that
//! fails its MAC may come from a board that just restarted: the client then reads the
//! status once, and only what still fails against the board's current boot counts as
//! forged. Accepted events are kept, in order, in a bounded queue; when it is full the
//! oldest are dropped and the loss is counted, so the caller always learns that something
//! was missed.

use crate::link::{LinkError, SerialLink};
use kiosk_ioproto::host::{
    EventGuard, EventRejected, HostEncoder, maintenance_command, unlock_command, verify_status,
    watchdog_command,
};
use kiosk_ioproto::message::{EventKind, Lock, Message, NakReason, Status};
use kiosk_ioproto::{
    BOOT_ID_LEN, CHALLENGE_LEN, EVENT_MAC_LEN, FrameDecoder, Key, PROTOCOL_VERSION,
};
use std::collections::VecDeque;
use std::io::Read as _;
use std::time::{Duration, Instant};

/// Events kept between two [`IoBoardClient::take_events`] calls.
pub const MAX_QUEUED_EVENTS: usize = 64;
/// Events held until they can be checked (before the first status, or after a MAC failure
/// until the status tells whether the board restarted).
pub const MAX_UNVERIFIED_EVENTS: usize = 64;

/// Why an I/O-board exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum IoBoardError {
    /// The serial port failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// No answer of the expected kind in time.
    #[error("no {0} from the I/O board in time")]
    Timeout(&'static str),
    /// The board refused the command.
    #[error("the I/O board refused the command: {0:?}")]
    Refused(NakReason),
    /// The board speaks another protocol version.
    #[error("the I/O board speaks protocol {0}, this program {PROTOCOL_VERSION}")]
    Version(u8),
    /// Status replies came but none verified over the challenge: a wrong key, or a shim on
    /// the line.
    #[error("the I/O board's status did not verify (wrong key, or tampering on the line)")]
    BadStatusMac,
    /// No randomness for a status challenge.
    #[error("no randomness for an I/O-board challenge: {0}")]
    Entropy(#[source] std::io::Error),
    /// The board's (authenticated) status shows another watchdog timeout than the host set.
    #[error("the I/O board's host watchdog is {got} s, the host set {wanted} s")]
    WatchdogMismatch {
        /// What the host asked for.
        wanted: u16,
        /// What the board reports.
        got: u16,
    },
}

/// What the board said about itself at hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardInfo {
    /// Its identity (part of every unlock MAC).
    pub board_id: u32,
    /// Firmware version, major.minor.patch.
    pub firmware: [u8; 3],
    /// Milliseconds since the board started.
    pub uptime_ms: u64,
}

/// One event from the board, in the order the board raised it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardEvent {
    /// The board's event number within its boot (gaps mean loss; the board also reports
    /// overflow).
    pub seq: u64,
    /// Board uptime when it happened.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// A connected I/O board.
pub struct IoBoardClient {
    link: SerialLink,
    encoder: HostEncoder,
    decoder: FrameDecoder,
    key: Key,
    info: BoardInfo,
    reply_timeout: Duration,
    events: VecDeque<BoardEvent>,
    dropped_events: u64,
    bad_frames: u64,
    /// Checks events against the boot learnt from the last verified status.
    guard: Option<EventGuard>,
    /// Events not yet checkable (no verified status yet, or a MAC failure to look into).
    unverified: VecDeque<SignedEvent>,
    /// Whether an event failed its MAC since the last verified status.
    resync: bool,
    forged_events: u64,
    replayed_events: u64,
    forged_statuses: u64,
    board_restarts: u64,
}

/// An event as received, before its MAC and sequence number are checked.
#[derive(Clone, Copy, Debug)]
struct SignedEvent {
    seq: u64,
    at_ms: u64,
    kind: EventKind,
    mac: [u8; EVENT_MAC_LEN],
}

impl std::fmt::Debug for IoBoardClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("IoBoardClient")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// A reply the client waits for.
enum Want {
    Hello,
    Nonce,
    /// A status whose MAC verifies over this challenge.
    Status([u8; CHALLENGE_LEN]),
    AckOf(u16),
}

/// A fresh random challenge: a status reply recorded earlier, even before a restart of the
/// daemon, never answers it.
fn fresh_challenge() -> Result<[u8; CHALLENGE_LEN], IoBoardError> {
    let mut c = [0u8; CHALLENGE_LEN];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut c))
        .map_err(IoBoardError::Entropy)?;
    Ok(c)
}

/// Appends an accepted event; when the queue is full the oldest goes and the loss counts.
fn push_event(events: &mut VecDeque<BoardEvent>, dropped: &mut u64, e: SignedEvent) {
    if events.len() >= MAX_QUEUED_EVENTS {
        events.pop_front();
        *dropped += 1;
    }
    events.push_back(BoardEvent {
        seq: e.seq,
        at_ms: e.at_ms,
        kind: e.kind,
    });
}

impl IoBoardClient {
    /// Says hello over `link`, waits for the board's answer, then reads its authenticated
    /// status (which names the boot whose events the client will accept). A status that
    /// does not verify (a wrong key, or a shim) fails the connection.
    pub fn connect(
        link: SerialLink,
        key: Key,
        reply_timeout: Duration,
    ) -> Result<IoBoardClient, IoBoardError> {
        let mut c = IoBoardClient {
            link,
            encoder: HostEncoder::new(1),
            decoder: FrameDecoder::new(),
            key,
            info: BoardInfo {
                board_id: 0,
                firmware: [0; 3],
                uptime_ms: 0,
            },
            reply_timeout,
            events: VecDeque::new(),
            dropped_events: 0,
            bad_frames: 0,
            guard: None,
            unverified: VecDeque::new(),
            resync: false,
            forged_events: 0,
            replayed_events: 0,
            forged_statuses: 0,
            board_restarts: 0,
        };
        let reply = c.exchange(
            Message::Hello {
                protocol: PROTOCOL_VERSION,
            },
            Want::Hello,
            "hello",
        )?;
        match reply {
            Message::BoardHello {
                protocol,
                firmware,
                board_id,
                uptime_ms,
            } => {
                if protocol != PROTOCOL_VERSION {
                    return Err(IoBoardError::Version(protocol));
                }
                c.info = BoardInfo {
                    board_id,
                    firmware,
                    uptime_ms,
                };
                c.status()?;
                Ok(c)
            }
            Message::Nak {
                reason: NakReason::BadVersion,
                ..
            } => Err(IoBoardError::Version(0)),
            Message::Nak { reason, .. } => Err(IoBoardError::Refused(reason)),
            _ => Err(IoBoardError::Timeout("hello")),
        }
    }

    /// What the board said at hello.
    pub fn info(&self) -> BoardInfo {
        self.info
    }

    /// Tells the board the host is alive (its watchdog resets the PC otherwise).
    pub fn heartbeat(&mut self) -> Result<(), IoBoardError> {
        self.command(Message::Heartbeat, "heartbeat ack")
    }

    /// Releases `lock` for `seconds`: fetches a fresh nonce and answers it with a MAC.
    pub fn unlock(&mut self, lock: Lock, seconds: u8) -> Result<(), IoBoardError> {
        let nonce = self.nonce()?;
        let cmd = unlock_command(&self.key, self.info.board_id, lock, seconds, &nonce);
        self.command(cmd, "unlock ack")
    }

    /// Sets the board's host watchdog (0 = off, else 10..=3600 s) with an authenticated
    /// command. An ack alone proves little (a shim can fake one): use
    /// [`IoBoardClient::assert_watchdog`] to also read the board's authenticated status.
    pub fn configure_watchdog(&mut self, timeout_s: u16) -> Result<(), IoBoardError> {
        let nonce = self.nonce()?;
        let cmd = watchdog_command(&self.key, self.info.board_id, timeout_s, &nonce);
        self.command(cmd, "watchdog ack")
    }

    /// Sets the host watchdog and checks, in the board's authenticated status, that it took:
    /// the host's configuration is re-asserted rather than trusted to have survived.
    pub fn assert_watchdog(&mut self, timeout_s: u16) -> Result<Status, IoBoardError> {
        self.configure_watchdog(timeout_s)?;
        let status = self.status()?;
        if status.watchdog_s != timeout_s {
            return Err(IoBoardError::WatchdogMismatch {
                wanted: timeout_s,
                got: status.watchdog_s,
            });
        }
        Ok(status)
    }

    /// Declares a maintenance window of `seconds` (0 ends it) with an authenticated command;
    /// the board's host watchdog does not reset the PC during it.
    pub fn maintenance(&mut self, seconds: u16) -> Result<(), IoBoardError> {
        let nonce = self.nonce()?;
        let cmd = maintenance_command(&self.key, self.info.board_id, seconds, &nonce);
        self.command(cmd, "maintenance ack")
    }

    fn nonce(&mut self) -> Result<[u8; kiosk_ioproto::NONCE_LEN], IoBoardError> {
        match self.exchange(Message::GetNonce, Want::Nonce, "nonce")? {
            Message::Nonce { nonce, .. } => Ok(nonce),
            Message::Nak { reason, .. } => Err(IoBoardError::Refused(reason)),
            _ => Err(IoBoardError::Timeout("nonce")),
        }
    }

    /// Locks `lock` again at once (needs no MAC: locking is always safe).
    pub fn relock(&mut self, lock: Lock) -> Result<(), IoBoardError> {
        self.command(Message::Relock { lock }, "relock ack")
    }

    /// The board's inputs, locks and flags now, from a reply MAC'd over a fresh challenge
    /// (status replies that do not verify are ignored and counted, see
    /// [`IoBoardClient::forged_statuses`]). A new boot id means the board restarted: from
    /// then on only events of the new boot are accepted.
    pub fn status(&mut self) -> Result<Status, IoBoardError> {
        let challenge = fresh_challenge()?;
        let forged_before = self.forged_statuses;
        let reply = match self.exchange(
            Message::GetStatus { challenge },
            Want::Status(challenge),
            "status",
        ) {
            Err(IoBoardError::Timeout(_)) if self.forged_statuses > forged_before => {
                return Err(IoBoardError::BadStatusMac);
            }
            other => other?,
        };
        match reply {
            Message::Status {
                status, boot_id, ..
            } => {
                self.adopt_boot(boot_id);
                Ok(status)
            }
            Message::Nak { reason, .. } => Err(IoBoardError::Refused(reason)),
            _ => Err(IoBoardError::Timeout("status")),
        }
    }

    /// Accepts events of the boot `boot_id` from now on (a verified status named it), and
    /// settles the events held back: what passes now is accepted, the rest is forged or
    /// replayed.
    fn adopt_boot(&mut self, boot_id: [u8; BOOT_ID_LEN]) {
        let same = self.guard.as_ref().is_some_and(|g| *g.boot_id() == boot_id);
        if !same {
            if self.guard.is_some() {
                self.board_restarts += 1;
            }
            self.guard = Some(EventGuard::new(self.info.board_id, boot_id));
        }
        self.resync = false;
        let Some(guard) = self.guard.as_mut() else {
            return;
        };
        for e in self.unverified.drain(..) {
            match guard.check(&self.key, e.seq, e.at_ms, e.kind, &e.mac) {
                Ok(()) => push_event(&mut self.events, &mut self.dropped_events, e),
                Err(EventRejected::BadMac) => self.forged_events += 1,
                Err(EventRejected::NotIncreasing) => self.replayed_events += 1,
            }
        }
    }

    /// Reads what the board sent since the last call and returns the accepted events. If
    /// an event failed its MAC, the status is read first to tell a restarted board from a
    /// forgery (when that read fails, the events stay held, bounded, for the next call).
    pub fn take_events(&mut self) -> Result<Vec<BoardEvent>, IoBoardError> {
        let mut buf = [0u8; 256];
        loop {
            let n = self.link.read_some(&mut buf, Duration::from_millis(5))?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                if let Some(frame) = self.decoder.push(b) {
                    match frame {
                        Ok(f) => {
                            let _ = self.route(f.msg, None);
                        }
                        Err(_) => self.bad_frames += 1,
                    }
                }
            }
        }
        if self.resync {
            // A failure here (say, the line is down) leaves the events held for next time.
            let _ = self.status();
        }
        Ok(self.events.drain(..).collect())
    }

    /// Events dropped because the caller did not take them in time, or held unverified
    /// for too long.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Events refused because their MAC did not verify against the board's current boot:
    /// made up or altered on the line (a security incident).
    pub fn forged_events(&self) -> u64 {
        self.forged_events
    }

    /// Genuine events refused because their sequence number was not above the last one
    /// accepted: replayed on the line (a security incident).
    pub fn replayed_events(&self) -> u64 {
        self.replayed_events
    }

    /// Status replies ignored because their MAC did not verify over the challenge sent.
    pub fn forged_statuses(&self) -> u64 {
        self.forged_statuses
    }

    /// Board restarts noticed (a verified status named a new boot).
    pub fn board_restarts(&self) -> u64 {
        self.board_restarts
    }

    /// Frames that failed their CRC or framing (line noise).
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames
    }

    fn command(&mut self, msg: Message, what: &'static str) -> Result<(), IoBoardError> {
        let seq = self.send(msg)?;
        match self.wait(Want::AckOf(seq), what)? {
            Message::Ack { .. } => Ok(()),
            Message::Nak { reason, .. } => Err(IoBoardError::Refused(reason)),
            _ => Err(IoBoardError::Timeout(what)),
        }
    }

    /// Queues an event, or returns a message that answers `want`.
    fn route(&mut self, msg: Message, want: Option<&Want>) -> Option<Message> {
        if let Message::Event {
            event_seq,
            at_ms,
            kind,
            mac,
        } = msg
        {
            self.receive_event(SignedEvent {
                seq: event_seq,
                at_ms,
                kind,
                mac,
            });
            return None;
        }
        let answers = match (want?, &msg) {
            (Want::Hello, Message::BoardHello { .. }) => true,
            (Want::Nonce, Message::Nonce { .. }) => true,
            (Want::Status(challenge), Message::Status { .. }) => {
                let genuine =
                    verify_status(&self.key, self.info.board_id, challenge, &msg).is_some();
                if !genuine {
                    self.forged_statuses += 1;
                }
                genuine
            }
            (Want::AckOf(s), Message::Ack { seq } | Message::Nak { seq, .. }) => s == seq,
            // A refusal of a hello, nonce or status request names that request.
            (_, Message::Nak { .. }) => true,
            _ => false,
        };
        answers.then_some(msg)
    }

    /// Checks an event against the current boot, or holds it (bounded) until a verified
    /// status says which boot is current.
    fn receive_event(&mut self, e: SignedEvent) {
        if let Some(guard) = self.guard.as_mut() {
            match guard.check(&self.key, e.seq, e.at_ms, e.kind, &e.mac) {
                Ok(()) => return push_event(&mut self.events, &mut self.dropped_events, e),
                Err(EventRejected::NotIncreasing) => {
                    self.replayed_events += 1;
                    return;
                }
                // Forged, or the board restarted: the next status tells.
                Err(EventRejected::BadMac) => self.resync = true,
            }
        }
        if self.unverified.len() >= MAX_UNVERIFIED_EVENTS {
            self.unverified.pop_front();
            self.dropped_events += 1;
        }
        self.unverified.push_back(e);
    }

    fn exchange(
        &mut self,
        msg: Message,
        want: Want,
        what: &'static str,
    ) -> Result<Message, IoBoardError> {
        self.send(msg)?;
        self.wait(want, what)
    }

    /// Sends one command; returns its sequence number (acks name it).
    fn send(&mut self, msg: Message) -> Result<u16, IoBoardError> {
        let (seq, wire) = self.encoder.frame(msg);
        self.link.write_all(wire.as_bytes())?;
        Ok(seq)
    }

    /// Reads until the reply `want` arrives, queueing events on the way; bounded by the
    /// reply timeout.
    /// The bytes read after the reply in the same read are still decoded (the board sends
    /// its events right after a reply, often in one burst), so no event is lost.
    fn wait(&mut self, want: Want, what: &'static str) -> Result<Message, IoBoardError> {
        let deadline = Instant::now() + self.reply_timeout;
        let mut buf = [0u8; 256];
        let mut reply = None;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let n = self
                .link
                .read_some(&mut buf, left.min(Duration::from_millis(50)))?;
            for &b in &buf[..n] {
                if let Some(frame) = self.decoder.push(b) {
                    match frame {
                        Ok(f) => {
                            let want = if reply.is_none() { Some(&want) } else { None };
                            if let Some(r) = self.route(f.msg, want) {
                                reply = Some(r);
                            }
                        }
                        Err(_) => self.bad_frames += 1,
                    }
                }
            }
            if let Some(r) = reply {
                return Ok(r);
            }
        }
        Err(IoBoardError::Timeout(what))
    }
}
