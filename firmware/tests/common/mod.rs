//! A test host that drives a `Board` directly.
#![allow(dead_code)]

use kiosk_firmware::{Board, Config, Outputs};
use kiosk_ioproto::host::{
    EventGuard, HostEncoder, maintenance_command, unlock_command, verify_status, watchdog_command,
};
use kiosk_ioproto::*;

pub const BOARD_ID: u32 = 0x1234_5678;
pub const KEY: [u8; 32] = [0x5A; 32];

pub fn key() -> Key {
    Key::new(KEY)
}

pub fn board(cfg: Config) -> Board {
    Board::new(cfg, key(), BOARD_ID, [7u8; 16], 1)
}

pub struct Host {
    pub enc: HostEncoder,
    pub dec: FrameDecoder,
    pub now: u64,
    pub inputs: InputSet,
    pub last: Outputs,
    pub events: Vec<(u64, EventKind)>,
    /// Checks every event the board sends: a valid MAC over the board's boot and a rising
    /// sequence number. Set from the first verified status, or the board's own boot id.
    pub guard: Option<EventGuard>,
    /// Counts status challenges, so each is fresh.
    pub challenges: u64,
}

impl Host {
    pub fn new() -> Self {
        Host {
            enc: HostEncoder::new(1),
            dec: FrameDecoder::new(),
            now: 1_000,
            inputs: InputSet::EMPTY,
            last: Outputs::default(),
            events: Vec::new(),
            guard: None,
            challenges: 0,
        }
    }

    /// Steps the board once with these host messages; returns the non-event replies.
    /// Events are collected into `self.events`.
    pub fn step(&mut self, b: &mut Board, msgs: &[Message]) -> Vec<Frame> {
        let mut rx = Vec::new();
        for m in msgs {
            rx.extend_from_slice(self.enc.frame(*m).1.as_bytes());
        }
        self.step_bytes(b, &rx)
    }

    pub fn step_bytes(&mut self, b: &mut Board, rx: &[u8]) -> Vec<Frame> {
        let step = b.step(self.now, self.inputs, rx);
        self.last = step.outputs;
        let guard = self
            .guard
            .get_or_insert_with(|| EventGuard::new(BOARD_ID, *b.boot_id()));
        let mut replies = Vec::new();
        for &byte in step.tx.as_bytes() {
            if let Some(r) = self.dec.push(byte) {
                let f = r.expect("board frames decode");
                match f.msg {
                    Message::Event {
                        event_seq,
                        at_ms,
                        kind,
                        mac,
                    } => {
                        guard
                            .check(&key(), event_seq, at_ms, kind, &mac)
                            .expect("every event the board sends verifies, once");
                        self.events.push((event_seq, kind));
                    }
                    _ => replies.push(f),
                }
            }
        }
        replies
    }

    /// Advances time by `ms` in 10 ms steps, sending a heartbeat each second of board time
    /// if `heartbeat` (keeps the link up).
    pub fn run(&mut self, b: &mut Board, ms: u64, heartbeat: bool) {
        let end = self.now + ms;
        while self.now < end {
            let before = self.now;
            self.now = (self.now + 10).min(end);
            let msgs: &[Message] = if heartbeat && before / 1000 != self.now / 1000 {
                &[Message::Heartbeat]
            } else {
                &[]
            };
            self.step(b, msgs);
        }
    }

    /// One message, one reply.
    pub fn ask(&mut self, b: &mut Board, m: Message) -> Message {
        let replies = self.step(b, &[m]);
        assert_eq!(replies.len(), 1, "one reply to {m:?}: {replies:?}");
        replies[0].msg
    }

    pub fn nonce(&mut self, b: &mut Board) -> [u8; 16] {
        match self.ask(b, Message::GetNonce) {
            Message::Nonce { nonce, .. } => nonce,
            other => panic!("expected a nonce, got {other:?}"),
        }
    }

    /// An authenticated watchdog command on a fresh nonce; returns the reply.
    pub fn watchdog(&mut self, b: &mut Board, timeout_s: u16) -> Message {
        let nonce = self.nonce(b);
        self.ask(b, watchdog_command(&key(), BOARD_ID, timeout_s, &nonce))
    }

    /// An authenticated maintenance command on a fresh nonce; returns the reply.
    pub fn maintenance(&mut self, b: &mut Board, seconds: u16) -> Message {
        let nonce = self.nonce(b);
        self.ask(b, maintenance_command(&key(), BOARD_ID, seconds, &nonce))
    }

    /// A fresh challenge (distinct every call).
    pub fn challenge(&mut self) -> [u8; 16] {
        self.challenges += 1;
        let mut c = [0xC5u8; 16];
        c[..8].copy_from_slice(&self.challenges.to_le_bytes());
        c
    }

    /// Asks for the status over a fresh challenge and checks its MAC and boot id.
    pub fn status(&mut self, b: &mut Board) -> Status {
        let challenge = self.challenge();
        let reply = self.ask(b, Message::GetStatus { challenge });
        let (status, boot_id) =
            verify_status(&key(), BOARD_ID, &challenge, &reply).expect("a verified status");
        assert_eq!(&boot_id, b.boot_id());
        status
    }

    pub fn unlock(&mut self, b: &mut Board, lock: Lock, seconds: u8) -> Message {
        let nonce = self.nonce(b);
        self.ask(b, unlock_command(&key(), BOARD_ID, lock, seconds, &nonce))
    }

    pub fn hello(&mut self, b: &mut Board) {
        match self.ask(
            b,
            Message::Hello {
                protocol: PROTOCOL_VERSION,
            },
        ) {
            Message::BoardHello { board_id, .. } => assert_eq!(board_id, BOARD_ID),
            other => panic!("expected a hello, got {other:?}"),
        }
    }
}

pub fn is_ack(m: &Message) -> bool {
    matches!(m, Message::Ack { .. })
}

pub fn nak(m: &Message) -> Option<NakReason> {
    match m {
        Message::Nak { reason, .. } => Some(*reason),
        _ => None,
    }
}

/// A frame with a good CRC around any kind byte and payload (the raw bytes a line attacker,
/// or a protocol-1 host, would send), COBS-encoded with its delimiter.
pub fn raw_frame(seq: u16, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut raw = seq.to_le_bytes().to_vec();
    raw.push(kind);
    raw.extend_from_slice(payload);
    raw.extend_from_slice(&kiosk_ioproto::crc::crc16(&raw).to_le_bytes());
    let mut enc = vec![0u8; raw.len() + raw.len() / 254 + 2];
    let n = kiosk_ioproto::cobs::encode(&raw, &mut enc).unwrap();
    enc.truncate(n);
    enc.push(0);
    enc
}
