//! The messages carried in frames, and their payload encodings (all integers little-endian,
//! every payload of a fixed length per message kind, every enum byte validated).
//!
//! Protocol 2 changed the payloads of five kinds; it gave them new kind bytes and retired
//! the old ones rather than reuse a byte with another layout ([`PayloadError::Retired`]).

use crate::auth::{BOOT_ID_LEN, CHALLENGE_LEN, EVENT_MAC_LEN, MAC_LEN, NONCE_LEN};

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
    /// Too many bad MACs: authenticated commands (unlock, watchdog, maintenance) are locked
    /// out for a while (a tamper event).
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
    /// The host speaks another protocol version (a protocol-1 kind such as the old
    /// status request, or a hello with another version).
    BadVersion = 7,
    /// The command must carry a MAC: protocol 1's unauthenticated watchdog and maintenance
    /// commands are refused (and count as bad MACs towards the lockout).
    Unauthenticated = 8,
    /// The frame's CRC was good but its payload did not decode (wrong length, a value with
    /// no meaning, an unknown kind is [`NakReason::Unsupported`]).
    Malformed = 9,
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
            8 => Some(NakReason::Unauthenticated),
            9 => Some(NakReason::Malformed),
            _ => None,
        }
    }
}

/// Flags in a [`Message::Status`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatusFlags {
    /// The board hears the host (a valid frame within the link timeout).
    pub link_up: bool,
    /// Authenticated commands are locked out after repeated bad MACs.
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
    /// The sequence number the next event frame will carry. 64 bits: it never wraps, so
    /// "only ever increases" is a sound replay check on the host.
    pub next_event_seq: u64,
    /// Board uptime in milliseconds.
    pub uptime_ms: u64,
    /// Host watchdog timeout in seconds (0 = off).
    pub watchdog_s: u16,
    /// Frames received with a bad CRC, bad COBS or bad content (saturating).
    pub bad_frames: u16,
}

/// Length of a status body (what the status MAC covers besides challenge and boot id).
pub const STATUS_BODY_LEN: usize = 23;

impl Status {
    /// The status fields as on the wire: inputs, locks, flags (u8 each), next_event_seq
    /// (u64), uptime_ms (u64), watchdog_s (u16), bad_frames (u16), all LE. The status MAC
    /// covers exactly these bytes.
    pub fn body(&self) -> [u8; STATUS_BODY_LEN] {
        let mut buf = [0u8; STATUS_BODY_LEN];
        let mut w = Writer {
            buf: &mut buf,
            len: 0,
        };
        w.u8(self.inputs.bits());
        w.u8(self.locks.bits());
        w.u8(self.flags.bits());
        w.u64(self.next_event_seq);
        w.u64(self.uptime_ms);
        w.u16(self.watchdog_s);
        w.u16(self.bad_frames);
        buf
    }

    fn read(r: &mut Reader<'_>) -> Result<Status, PayloadError> {
        Ok(Status {
            inputs: value(InputSet::from_bits(r.u8()?))?,
            locks: value(LockSet::from_bits(r.u8()?))?,
            flags: value(StatusFlags::from_bits(r.u8()?))?,
            next_event_seq: r.u64()?,
            uptime_ms: r.u64()?,
            watchdog_s: r.u16()?,
            bad_frames: r.u16()?,
        })
    }
}

/// Longest event body (what the event MAC covers besides the boot id).
pub const MAX_EVENT_BODY: usize = 8 + 8 + 3;

/// An event's body as on the wire: event_seq (u64 LE), at_ms (u64 LE), the kind's tag byte
/// and its fields. Returns the buffer and its used length. The event MAC covers exactly
/// these bytes, so the host checks the sequence number and what happened in one tag.
pub fn event_body(event_seq: u64, at_ms: u64, kind: EventKind) -> ([u8; MAX_EVENT_BODY], usize) {
    let mut buf = [0u8; MAX_EVENT_BODY];
    let mut w = Writer {
        buf: &mut buf,
        len: 0,
    };
    w.u64(event_seq);
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
    let len = w.len;
    (buf, len)
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
    /// Host → board: set the host watchdog timeout (0 = off, else 10..=3600 s),
    /// authenticated like an unlock (see [`crate::auth::watchdog_mac`]): switching the
    /// watchdog off, or to 10 s, is as dangerous as opening a door.
    ConfigureWatchdog {
        /// Timeout in seconds.
        timeout_s: u16,
        /// The nonce the board issued.
        nonce: [u8; NONCE_LEN],
        /// HMAC-SHA256 tag.
        mac: [u8; MAC_LEN],
    },
    /// Host → board: declare a maintenance window of `seconds` from now (0 ends it); the host
    /// watchdog does not reset the host during it. Authenticated like an unlock (see
    /// [`crate::auth::maintenance_mac`]).
    Maintenance {
        /// Window length in seconds.
        seconds: u16,
        /// The nonce the board issued.
        nonce: [u8; NONCE_LEN],
        /// HMAC-SHA256 tag.
        mac: [u8; MAC_LEN],
    },
    /// Host → board: ask for [`Message::Status`], authenticated over `challenge` (the host
    /// picks it fresh and at random each time).
    GetStatus {
        /// The host's challenge, bound into the reply's MAC.
        challenge: [u8; CHALLENGE_LEN],
    },
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
    /// Board → host: something happened. Event sequence numbers are consecutive within a
    /// boot, so a gap means a frame was lost on the wire; the MAC binds the number, the
    /// event and the boot, so a shim cannot fake or replay one.
    Event {
        /// Event sequence number (from 0 at each boot; never wraps).
        event_seq: u64,
        /// Board uptime when it happened, in milliseconds.
        at_ms: u64,
        /// What happened.
        kind: EventKind,
        /// Truncated HMAC-SHA256 (see [`crate::auth::event_mac`]).
        mac: [u8; EVENT_MAC_LEN],
    },
    /// Board → host: the board's state, authenticated over the host's challenge. It also
    /// tells the host this boot's session value, which keys the event MACs.
    Status {
        /// The state.
        status: Status,
        /// This boot's session value (see [`crate::auth::derive_boot_id`]).
        boot_id: [u8; BOOT_ID_LEN],
        /// Truncated HMAC-SHA256 (see [`crate::auth::status_mac`]).
        mac: [u8; EVENT_MAC_LEN],
    },
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
    /// A kind of protocol 1 whose layout protocol 2 replaced (it got a new kind byte).
    Retired(u8),
}

/// The longest payload of any message (a [`Message::Status`]).
pub const MAX_PAYLOAD: usize = STATUS_BODY_LEN + BOOT_ID_LEN + EVENT_MAC_LEN;

mod kind {
    pub const HELLO: u8 = 0x01;
    pub const HEARTBEAT: u8 = 0x02;
    pub const GET_NONCE: u8 = 0x03;
    pub const UNLOCK: u8 = 0x04;
    pub const RELOCK: u8 = 0x05;
    pub const CONFIGURE_WATCHDOG: u8 = 0x09;
    pub const MAINTENANCE: u8 = 0x0A;
    pub const GET_STATUS: u8 = 0x0B;
    pub const BOARD_HELLO: u8 = 0x81;
    pub const NONCE: u8 = 0x82;
    pub const ACK: u8 = 0x85;
    pub const NAK: u8 = 0x86;
    pub const EVENT: u8 = 0x87;
    pub const STATUS: u8 = 0x88;
}

/// Protocol 1's unauthenticated watchdog command (2-byte payload); now retired.
pub const RETIRED_CONFIGURE_WATCHDOG: u8 = 0x06;
/// Protocol 1's unauthenticated maintenance command (2-byte payload); now retired.
pub const RETIRED_MAINTENANCE: u8 = 0x07;
/// Kinds of protocol 1 that protocol 2 retired: the unauthenticated watchdog and
/// maintenance commands, the status request without challenge, and the event and status
/// replies without MAC. No later version reuses them with another layout.
pub const RETIRED_KINDS: [u8; 5] = [
    RETIRED_CONFIGURE_WATCHDOG,
    RETIRED_MAINTENANCE,
    0x08,
    0x83,
    0x84,
];

struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        // Every payload is at most MAX_PAYLOAD long and every body at most its buffer
        // (checked by tests), so this never truncates; `get_mut` keeps it panic-free.
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
            Message::GetStatus { .. } => kind::GET_STATUS,
            Message::BoardHello { .. } => kind::BOARD_HELLO,
            Message::Nonce { .. } => kind::NONCE,
            Message::Event { .. } => kind::EVENT,
            Message::Status { .. } => kind::STATUS,
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
            Message::Heartbeat | Message::GetNonce => {}
            Message::GetStatus { ref challenge } => w.bytes(challenge),
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
            Message::ConfigureWatchdog {
                timeout_s,
                ref nonce,
                ref mac,
            } => {
                w.u16(timeout_s);
                w.bytes(nonce);
                w.bytes(mac);
            }
            Message::Maintenance {
                seconds,
                ref nonce,
                ref mac,
            } => {
                w.u16(seconds);
                w.bytes(nonce);
                w.bytes(mac);
            }
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
                ref mac,
            } => {
                let (body, n) = event_body(event_seq, at_ms, kind);
                w.bytes(body.get(..n).unwrap_or(&[]));
                w.bytes(mac);
            }
            Message::Status {
                ref status,
                ref boot_id,
                ref mac,
            } => {
                w.bytes(&status.body());
                w.bytes(boot_id);
                w.bytes(mac);
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
    /// A kind of [`RETIRED_KINDS`] is [`PayloadError::Retired`], whatever its payload.
    pub fn decode(kind: u8, payload: &[u8]) -> Result<Message, PayloadError> {
        if RETIRED_KINDS.contains(&kind) {
            return Err(PayloadError::Retired(kind));
        }
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
                nonce: r.array()?,
                mac: r.array()?,
            },
            kind::MAINTENANCE => Message::Maintenance {
                seconds: r.u16()?,
                nonce: r.array()?,
                mac: r.array()?,
            },
            kind::GET_STATUS => Message::GetStatus {
                challenge: r.array()?,
            },
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
                let event_seq = r.u64()?;
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
                    mac: r.array()?,
                }
            }
            kind::STATUS => Message::Status {
                status: Status::read(&mut r)?,
                boot_id: r.array()?,
                mac: r.array()?,
            },
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
