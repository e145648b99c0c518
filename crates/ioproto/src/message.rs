//! The messages carried in frames, and their payload encodings (all integers little-endian,
//! every payload of a fixed length per message kind, every enum byte validated).

use crate::auth::{MAC_LEN, NONCE_LEN};

/// A sensor input of the board. "Active" means: door open, tamper switch tripped, paper low,
/// earphone plug inserted, cashbox present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Input {
    /// The front (citizen-side) service door; active = open.
    FrontDoor = 0,
    /// The rear maintenance door; active = open.
    RearDoor = 1,
    /// The cash cabinet door; active = open.
    CashDoor = 2,
    /// The tamper switch; active = tripped.
    Tamper = 3,
    /// The paper-low sensor of the A4 tray; active = paper low.
    PaperLow = 4,
    /// The earphone jack (voice guidance for blind users); active = plug inserted.
    Earphone = 5,
    /// The cashbox of the bill validator; active = present.
    Cashbox = 6,
}

impl Input {
    /// How many inputs there are.
    pub const COUNT: usize = 7;
    /// Every input, in wire order.
    pub const ALL: [Input; Input::COUNT] = [
        Input::FrontDoor,
        Input::RearDoor,
        Input::CashDoor,
        Input::Tamper,
        Input::PaperLow,
        Input::Earphone,
        Input::Cashbox,
    ];

    /// The wire byte and bit index of this input.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The input with this wire byte, if any.
    pub fn from_u8(byte: u8) -> Option<Input> {
        Input::ALL.get(usize::from(byte)).copied()
    }
}

/// A lock solenoid of the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Lock {
    /// The front service door's lock.
    FrontDoor = 0,
    /// The rear maintenance door's lock.
    RearDoor = 1,
    /// The cash cabinet's lock.
    CashDoor = 2,
}

impl Lock {
    /// How many locks there are.
    pub const COUNT: usize = 3;
    /// Every lock, in wire order.
    pub const ALL: [Lock; Lock::COUNT] = [Lock::FrontDoor, Lock::RearDoor, Lock::CashDoor];

    /// The wire byte and bit index of this lock.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The lock with this wire byte, if any.
    pub fn from_u8(byte: u8) -> Option<Lock> {
        Lock::ALL.get(usize::from(byte)).copied()
    }

    /// The door sensor that belongs to this lock.
    pub const fn door(self) -> Input {
        match self {
            Lock::FrontDoor => Input::FrontDoor,
            Lock::RearDoor => Input::RearDoor,
            Lock::CashDoor => Input::CashDoor,
        }
    }
}

/// A set of inputs (bit n = [`Input`] n active).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InputSet(u8);

impl InputSet {
    /// Bits that may be set.
    pub const MASK: u8 = (1 << Input::COUNT) - 1;
    /// No input active.
    pub const EMPTY: InputSet = InputSet(0);

    /// The set with these bits, or `None` when a bit beyond the last input is set.
    pub const fn from_bits(bits: u8) -> Option<InputSet> {
        if bits & !Self::MASK == 0 {
            Some(InputSet(bits))
        } else {
            None
        }
    }

    /// The set with these bits, ignoring bits beyond the last input.
    pub const fn from_bits_truncate(bits: u8) -> InputSet {
        InputSet(bits & Self::MASK)
    }

    /// The bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether `input` is active.
    pub const fn contains(self, input: Input) -> bool {
        self.0 & (1 << input as u8) != 0
    }

    /// This set with `input` set to `active`.
    #[must_use]
    pub const fn with(self, input: Input, active: bool) -> InputSet {
        if active {
            InputSet(self.0 | (1 << input as u8))
        } else {
            InputSet(self.0 & !(1 << input as u8))
        }
    }
}

/// A set of locks (bit n = [`Lock`] n energised, i.e. released).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LockSet(u8);

impl LockSet {
    /// Bits that may be set.
    pub const MASK: u8 = (1 << Lock::COUNT) - 1;
    /// Every lock locked.
    pub const EMPTY: LockSet = LockSet(0);

    /// The set with these bits, or `None` when a bit beyond the last lock is set.
    pub const fn from_bits(bits: u8) -> Option<LockSet> {
        if bits & !Self::MASK == 0 {
            Some(LockSet(bits))
        } else {
            None
        }
    }

    /// The bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether `lock` is energised.
    pub const fn contains(self, lock: Lock) -> bool {
        self.0 & (1 << lock as u8) != 0
    }

    /// This set with `lock` set to `energised`.
    #[must_use]
    pub const fn with(self, lock: Lock, energised: bool) -> LockSet {
        if energised {
            LockSet(self.0 | (1 << lock as u8))
        } else {
            LockSet(self.0 & !(1 << lock as u8))
        }
    }
}

/// Something the board reports on its own, besides input changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Alarm {
    /// The board (re)started; the host should read the status.
    BoardStarted = 1,
    /// Too many bad MACs: unlocking is locked out for a while (a tamper event).
    AuthLockout = 2,
    /// The host missed its heartbeats and the board pulsed the host reset relay.
    HostReset = 3,
}

impl Alarm {
    /// The alarm with this wire byte, if any.
    pub fn from_u8(byte: u8) -> Option<Alarm> {
        match byte {
            1 => Some(Alarm::BoardStarted),
            2 => Some(Alarm::AuthLockout),
            3 => Some(Alarm::HostReset),
            _ => None,
        }
    }
}

/// What an event frame reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A debounced input changed.
    Input {
        /// Which input.
        input: Input,
        /// Its new state.
        active: bool,
    },
    /// The board's event queue was full: this many events after the previous one were lost.
    /// The host should read the status to resynchronise.
    Overflow {
        /// Number of events lost (saturating).
        lost: u16,
    },
    /// An alarm.
    Alarm(Alarm),
}

/// Why the board refused a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NakReason {
    /// The MAC did not verify.
    BadMac = 1,
    /// The nonce is not the board's current one (replayed, expired or never issued).
    StaleNonce = 2,
    /// Unlocking is locked out after repeated bad MACs.
    LockedOut = 3,
    /// A parameter is out of range (unlock time, watchdog timeout, ...).
    OutOfRange = 4,
    /// The lock is cooling down after its last release (thermal limit).
    Busy = 5,
    /// The board does not accept this message (a board-to-host message, for one).
    Unsupported = 6,
    /// The host speaks another protocol version.
    BadVersion = 7,
}

impl NakReason {
    /// The reason with this wire byte, if any.
    pub fn from_u8(byte: u8) -> Option<NakReason> {
        match byte {
            1 => Some(NakReason::BadMac),
            2 => Some(NakReason::StaleNonce),
            3 => Some(NakReason::LockedOut),
            4 => Some(NakReason::OutOfRange),
            5 => Some(NakReason::Busy),
            6 => Some(NakReason::Unsupported),
            7 => Some(NakReason::BadVersion),
            _ => None,
        }
    }
}

/// Flags in a [`Message::Status`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatusFlags {
    /// The board hears the host (a valid frame within the link timeout).
    pub link_up: bool,
    /// Unlocking is locked out after repeated bad MACs.
    pub auth_lockout: bool,
    /// A maintenance window is open (the host watchdog will not reset the host).
    pub maintenance: bool,
    /// The host reset relay is pulsed right now.
    pub reset_relay: bool,
}

impl StatusFlags {
    const LINK_UP: u8 = 1;
    const AUTH_LOCKOUT: u8 = 2;
    const MAINTENANCE: u8 = 4;
    const RESET_RELAY: u8 = 8;

    /// The wire byte.
    pub const fn bits(self) -> u8 {
        (if self.link_up { Self::LINK_UP } else { 0 })
            | (if self.auth_lockout {
                Self::AUTH_LOCKOUT
            } else {
                0
            })
            | (if self.maintenance {
                Self::MAINTENANCE
            } else {
                0
            })
            | (if self.reset_relay {
                Self::RESET_RELAY
            } else {
                0
            })
    }

    /// The flags of a wire byte, or `None` when an unknown bit is set.
    pub const fn from_bits(bits: u8) -> Option<StatusFlags> {
        if bits & !0x0F != 0 {
            return None;
        }
        Some(StatusFlags {
            link_up: bits & Self::LINK_UP != 0,
            auth_lockout: bits & Self::AUTH_LOCKOUT != 0,
            maintenance: bits & Self::MAINTENANCE != 0,
            reset_relay: bits & Self::RESET_RELAY != 0,
        })
    }
}

/// The board's state as reported by [`Message::Status`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Status {
    /// Debounced inputs.
    pub inputs: InputSet,
    /// Energised locks.
    pub locks: LockSet,
    /// Flags.
    pub flags: StatusFlags,
    /// The sequence number the next event frame will carry.
    pub next_event_seq: u16,
    /// Board uptime in milliseconds.
    pub uptime_ms: u64,
    /// Host watchdog timeout in seconds (0 = off).
    pub watchdog_s: u16,
    /// Frames received with a bad CRC, bad COBS or bad content (saturating).
    pub bad_frames: u16,
}

/// A protocol message. Kinds below 0x80 go from host to board, kinds from 0x80 board to host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Host → board: open the conversation; the board answers [`Message::BoardHello`].
    Hello {
        /// The host's protocol version.
        protocol: u8,
    },
    /// Host → board: the host is alive; the board answers [`Message::Ack`].
    Heartbeat,
    /// Host → board: ask for a fresh nonce; the board answers [`Message::Nonce`].
    GetNonce,
    /// Host → board: energise `lock` for `seconds`, authenticated with a MAC over the
    /// command and the board's current nonce (see [`crate::auth::unlock_mac`]).
    Unlock {
        /// Which lock.
        lock: Lock,
        /// For how long (1..=the board's thermal limit).
        seconds: u8,
        /// The nonce the board issued.
        nonce: [u8; NONCE_LEN],
        /// HMAC-SHA256 tag.
        mac: [u8; MAC_LEN],
    },
    /// Host → board: de-energise `lock` now (needs no authentication: locking is safe).
    Relock {
        /// Which lock.
        lock: Lock,
    },
    /// Host → board: set the host watchdog timeout (0 = off, else 10..=3600 s).
    ConfigureWatchdog {
        /// Timeout in seconds.
        timeout_s: u16,
    },
    /// Host → board: declare a maintenance window of `seconds` from now (0 ends it); the host
    /// watchdog does not reset the host during it.
    Maintenance {
        /// Window length in seconds.
        seconds: u16,
    },
    /// Host → board: ask for [`Message::Status`].
    GetStatus,
    /// Board → host: answer to [`Message::Hello`].
    BoardHello {
        /// The board's protocol version.
        protocol: u8,
        /// Firmware version: major, minor, patch.
        firmware: [u8; 3],
        /// The board's identity (part of every MAC).
        board_id: u32,
        /// Board uptime in milliseconds.
        uptime_ms: u64,
    },
    /// Board → host: a fresh nonce, valid once and for `valid_ms` milliseconds.
    Nonce {
        /// The nonce.
        nonce: [u8; NONCE_LEN],
        /// How long it stays valid.
        valid_ms: u32,
    },
    /// Board → host: something happened. Event sequence numbers are consecutive, so a gap
    /// means a frame was lost on the wire.
    Event {
        /// Event sequence number.
        event_seq: u16,
        /// Board uptime when it happened, in milliseconds.
        at_ms: u64,
        /// What happened.
        kind: EventKind,
    },
    /// Board → host: the board's state.
    Status(Status),
    /// Board → host: the command with this frame sequence number was carried out.
    Ack {
        /// The command frame's sequence number.
        seq: u16,
    },
    /// Board → host: the command with this frame sequence number was refused.
    Nak {
        /// The command frame's sequence number.
        seq: u16,
        /// Why.
        reason: NakReason,
    },
}

/// Why a payload did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Unknown message kind.
    UnknownKind(u8),
    /// The payload length does not fit the kind.
    Length,
    /// An enum or flag byte has no meaning.
    Value,
}

/// The longest payload of any message (an [`Message::Unlock`]).
pub const MAX_PAYLOAD: usize = 2 + NONCE_LEN + MAC_LEN;

mod kind {
    pub const HELLO: u8 = 0x01;
    pub const HEARTBEAT: u8 = 0x02;
    pub const GET_NONCE: u8 = 0x03;
    pub const UNLOCK: u8 = 0x04;
    pub const RELOCK: u8 = 0x05;
    pub const CONFIGURE_WATCHDOG: u8 = 0x06;
    pub const MAINTENANCE: u8 = 0x07;
    pub const GET_STATUS: u8 = 0x08;
    pub const BOARD_HELLO: u8 = 0x81;
    pub const NONCE: u8 = 0x82;
    pub const EVENT: u8 = 0x83;
    pub const STATUS: u8 = 0x84;
    pub const ACK: u8 = 0x85;
    pub const NAK: u8 = 0x86;
}

struct Writer<'a> {
    buf: &'a mut [u8; MAX_PAYLOAD],
    len: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        // Every payload is at most MAX_PAYLOAD long (checked by tests), so this never
        // truncates; `get_mut` keeps it panic-free regardless.
        if let Some(dst) = self.buf.get_mut(self.len..self.len + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], PayloadError> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(PayloadError::Length)?;
        self.rest = tail;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, PayloadError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, PayloadError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, PayloadError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, PayloadError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn bool(&mut self) -> Result<bool, PayloadError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(PayloadError::Value),
        }
    }
    fn finish(self) -> Result<(), PayloadError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(PayloadError::Length)
        }
    }
}

fn value<T>(v: Option<T>) -> Result<T, PayloadError> {
    v.ok_or(PayloadError::Value)
}

impl Message {
    /// The kind byte of this message.
    pub const fn kind(&self) -> u8 {
        match self {
            Message::Hello { .. } => kind::HELLO,
            Message::Heartbeat => kind::HEARTBEAT,
            Message::GetNonce => kind::GET_NONCE,
            Message::Unlock { .. } => kind::UNLOCK,
            Message::Relock { .. } => kind::RELOCK,
            Message::ConfigureWatchdog { .. } => kind::CONFIGURE_WATCHDOG,
            Message::Maintenance { .. } => kind::MAINTENANCE,
            Message::GetStatus => kind::GET_STATUS,
            Message::BoardHello { .. } => kind::BOARD_HELLO,
            Message::Nonce { .. } => kind::NONCE,
            Message::Event { .. } => kind::EVENT,
            Message::Status(_) => kind::STATUS,
            Message::Ack { .. } => kind::ACK,
            Message::Nak { .. } => kind::NAK,
        }
    }

    /// Whether this message goes from host to board.
    pub const fn is_host_to_board(&self) -> bool {
        self.kind() < 0x80
    }

    /// Writes the payload into `buf` and returns its length.
    pub fn encode_payload(&self, buf: &mut [u8; MAX_PAYLOAD]) -> usize {
        let mut w = Writer { buf, len: 0 };
        match *self {
            Message::Hello { protocol } => w.u8(protocol),
            Message::Heartbeat | Message::GetNonce | Message::GetStatus => {}
            Message::Unlock {
                lock,
                seconds,
                ref nonce,
                ref mac,
            } => {
                w.u8(lock as u8);
                w.u8(seconds);
                w.bytes(nonce);
                w.bytes(mac);
            }
            Message::Relock { lock } => w.u8(lock as u8),
            Message::ConfigureWatchdog { timeout_s } => w.u16(timeout_s),
            Message::Maintenance { seconds } => w.u16(seconds),
            Message::BoardHello {
                protocol,
                firmware,
                board_id,
                uptime_ms,
            } => {
                w.u8(protocol);
                w.bytes(&firmware);
                w.u32(board_id);
                w.u64(uptime_ms);
            }
            Message::Nonce {
                ref nonce,
                valid_ms,
            } => {
                w.bytes(nonce);
                w.u32(valid_ms);
            }
            Message::Event {
                event_seq,
                at_ms,
                kind,
            } => {
                w.u16(event_seq);
                w.u64(at_ms);
                match kind {
                    EventKind::Input { input, active } => {
                        w.u8(0);
                        w.u8(input as u8);
                        w.u8(u8::from(active));
                    }
                    EventKind::Overflow { lost } => {
                        w.u8(1);
                        w.u16(lost);
                    }
                    EventKind::Alarm(alarm) => {
                        w.u8(2);
                        w.u8(alarm as u8);
                    }
                }
            }
            Message::Status(s) => {
                w.u8(s.inputs.bits());
                w.u8(s.locks.bits());
                w.u8(s.flags.bits());
                w.u16(s.next_event_seq);
                w.u64(s.uptime_ms);
                w.u16(s.watchdog_s);
                w.u16(s.bad_frames);
            }
            Message::Ack { seq } => w.u16(seq),
            Message::Nak { seq, reason } => {
                w.u16(seq);
                w.u8(reason as u8);
            }
        }
        w.len
    }

    /// Decodes a payload of message kind `kind`. Never panics; trailing bytes are an error.
    pub fn decode(kind: u8, payload: &[u8]) -> Result<Message, PayloadError> {
        let mut r = Reader { rest: payload };
        let msg = match kind {
            kind::HELLO => Message::Hello { protocol: r.u8()? },
            kind::HEARTBEAT => Message::Heartbeat,
            kind::GET_NONCE => Message::GetNonce,
            kind::UNLOCK => Message::Unlock {
                lock: value(Lock::from_u8(r.u8()?))?,
                seconds: r.u8()?,
                nonce: r.array()?,
                mac: r.array()?,
            },
            kind::RELOCK => Message::Relock {
                lock: value(Lock::from_u8(r.u8()?))?,
            },
            kind::CONFIGURE_WATCHDOG => Message::ConfigureWatchdog {
                timeout_s: r.u16()?,
            },
            kind::MAINTENANCE => Message::Maintenance { seconds: r.u16()? },
            kind::GET_STATUS => Message::GetStatus,
            kind::BOARD_HELLO => Message::BoardHello {
                protocol: r.u8()?,
                firmware: r.array()?,
                board_id: r.u32()?,
                uptime_ms: r.u64()?,
            },
            kind::NONCE => Message::Nonce {
                nonce: r.array()?,
                valid_ms: r.u32()?,
            },
            kind::EVENT => {
                let event_seq = r.u16()?;
                let at_ms = r.u64()?;
                let kind = match r.u8()? {
                    0 => EventKind::Input {
                        input: value(Input::from_u8(r.u8()?))?,
                        active: r.bool()?,
                    },
                    1 => EventKind::Overflow { lost: r.u16()? },
                    2 => EventKind::Alarm(value(Alarm::from_u8(r.u8()?))?),
                    _ => return Err(PayloadError::Value),
                };
                Message::Event {
                    event_seq,
                    at_ms,
                    kind,
                }
            }
            kind::STATUS => Message::Status(Status {
                inputs: value(InputSet::from_bits(r.u8()?))?,
                locks: value(LockSet::from_bits(r.u8()?))?,
                flags: value(StatusFlags::from_bits(r.u8()?))?,
                next_event_seq: r.u16()?,
                uptime_ms: r.u64()?,
                watchdog_s: r.u16()?,
                bad_frames: r.u16()?,
            }),
            kind::ACK => Message::Ack { seq: r.u16()? },
            kind::NAK => Message::Nak {
                seq: r.u16()?,
                reason: value(NakReason::from_u8(r.u8()?))?,
            },
            other => return Err(PayloadError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(msg)
    }
}
