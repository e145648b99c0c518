//! The daemon's side of the I/O board: hello, heartbeats, authenticated unlocks, status
//! and the board's events (doors, tamper, paper-low, earphone jack, cashbox).
//!
//! The protocol is `kiosk_ioproto`'s. An unlock asks the board for a fresh nonce and
//! answers it with an HMAC over the command; the key never leaves this value and is never
//! printed. Events that arrive while the client waits for a reply are kept, in order, in a
//! bounded queue; when it is full the oldest are dropped and the loss is counted, so the
//! caller always learns that something was missed.

use crate::link::{LinkError, SerialLink};
use kiosk_ioproto::host::{HostEncoder, unlock_command};
use kiosk_ioproto::message::{EventKind, Lock, Message, NakReason, Status};
use kiosk_ioproto::{FrameDecoder, Key, PROTOCOL_VERSION};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Events kept between two [`IoBoardClient::take_events`] calls.
pub const MAX_QUEUED_EVENTS: usize = 64;

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
    /// The board's event number (gaps mean loss; the board also reports overflow).
    pub seq: u16,
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
    Status,
    AckOf(u16),
}

impl IoBoardClient {
    /// Says hello over `link` and waits for the board's answer.
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
        let nonce = match self.exchange(Message::GetNonce, Want::Nonce, "nonce")? {
            Message::Nonce { nonce, .. } => nonce,
            Message::Nak { reason, .. } => return Err(IoBoardError::Refused(reason)),
            _ => return Err(IoBoardError::Timeout("nonce")),
        };
        let cmd = unlock_command(&self.key, self.info.board_id, lock, seconds, &nonce);
        self.command(cmd, "unlock ack")
    }

    /// Locks `lock` again at once (needs no MAC: locking is always safe).
    pub fn relock(&mut self, lock: Lock) -> Result<(), IoBoardError> {
        self.command(Message::Relock { lock }, "relock ack")
    }

    /// The board's inputs, locks and flags now.
    pub fn status(&mut self) -> Result<Status, IoBoardError> {
        match self.exchange(Message::GetStatus, Want::Status, "status")? {
            Message::Status(s) => Ok(s),
            Message::Nak { reason, .. } => Err(IoBoardError::Refused(reason)),
            _ => Err(IoBoardError::Timeout("status")),
        }
    }

    /// Reads what the board sent since the last call and returns the queued events.
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
        Ok(self.events.drain(..).collect())
    }

    /// Events dropped because the caller did not take them in time.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
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
        } = msg
        {
            if self.events.len() == MAX_QUEUED_EVENTS {
                self.events.pop_front();
                self.dropped_events += 1;
            }
            self.events.push_back(BoardEvent {
                seq: event_seq,
                at_ms,
                kind,
            });
            return None;
        }
        let answers = match (want?, &msg) {
            (Want::Hello, Message::BoardHello { .. }) => true,
            (Want::Nonce, Message::Nonce { .. }) => true,
            (Want::Status, Message::Status(_)) => true,
            (Want::AckOf(s), Message::Ack { seq } | Message::Nak { seq, .. }) => s == seq,
            // A refusal of a hello, nonce or status request names that request.
            (_, Message::Nak { .. }) => true,
            _ => false,
        };
        answers.then_some(msg)
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
    fn wait(&mut self, want: Want, what: &'static str) -> Result<Message, IoBoardError> {
        let deadline = Instant::now() + self.reply_timeout;
        let mut buf = [0u8; 256];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let n = self
                .link
                .read_some(&mut buf, left.min(Duration::from_millis(50)))?;
            for &b in &buf[..n] {
                if let Some(frame) = self.decoder.push(b) {
                    match frame {
                        Ok(f) => {
                            if let Some(reply) = self.route(f.msg, Some(&want)) {
                                return Ok(reply);
                            }
                        }
                        Err(_) => self.bad_frames += 1,
                    }
                }
            }
        }
        Err(IoBoardError::Timeout(what))
    }
}
