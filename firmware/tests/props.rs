//! Property tests of `Board::step`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;
use kiosk_firmware::{Config, TX_CAPACITY};
use kiosk_ioproto::auth::verify_unlock_mac;
use kiosk_ioproto::host::{maintenance_command, unlock_command, watchdog_command};
use kiosk_ioproto::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Act {
    Heartbeat,
    GetNonce,
    /// Unlock with a correct MAC over the newest nonce the host has seen.
    UnlockGood(Lock, u8),
    /// Unlock with a MAC made with the wrong key.
    UnlockBadMac(Lock, u8),
    /// Unlock with a correct MAC over a nonce the host made up.
    UnlockForgedNonce(Lock, u8, [u8; 16]),
    /// Send the last unlock command again, byte for byte.
    Replay,
    Relock(Lock),
    GetStatus,
}

fn lock() -> impl Strategy<Value = Lock> {
    prop::sample::select(Lock::ALL.to_vec())
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => Just(Act::Heartbeat),
        3 => Just(Act::GetNonce),
        4 => (lock(), 0u8..14).prop_map(|(l, s)| Act::UnlockGood(l, s)),
        1 => (lock(), 1u8..10).prop_map(|(l, s)| Act::UnlockBadMac(l, s)),
        1 => (lock(), 1u8..10, any::<[u8; 16]>()).prop_map(|(l, s, n)| Act::UnlockForgedNonce(l, s, n)),
        2 => Just(Act::Replay),
        1 => lock().prop_map(Act::Relock),
        1 => Just(Act::GetStatus),
    ]
}

fn cfg() -> Config {
    Config {
        max_unlock_s: 8,
        unlock_cooldown_ms: 500,
        nonce_valid_ms: 3_000,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Locks are never energised longer than the thermal limit, and a lock is only ever
    /// energised by an unlock carrying a valid MAC over the board's fresh, unused nonce.
    #[test]
    fn locks_obey_thermal_limit_and_authentication(
        steps in prop::collection::vec(
            (1u64..2_500, 0..=InputSet::MASK, prop::collection::vec(act(), 0..4)),
            1..200,
        )
    ) {
        let cfg = cfg();
        let limit = u64::from(cfg.max_unlock_s) * 1000;
        let mut b = board(cfg);
        let mut h = Host::new();
        let other_key = Key::new([0xA5; 32]);
        let mut fresh: Option<([u8; 16], u64)> = None;
        let mut last_unlock: Option<Message> = None;
        let mut on_since: [Option<u64>; Lock::COUNT] = [None; Lock::COUNT];
        for (dt, bits, acts) in steps {
            h.now += dt;
            h.inputs = InputSet::from_bits(bits).unwrap();
            let mut msgs = Vec::new();
            for a in &acts {
                let m = match a {
                    Act::Heartbeat => Message::Heartbeat,
                    Act::GetNonce => Message::GetNonce,
                    Act::UnlockGood(l, s) => {
                        let nonce = fresh.map(|(n, _)| n).unwrap_or([0; 16]);
                        unlock_command(&key(), BOARD_ID, *l, *s, &nonce)
                    }
                    Act::UnlockBadMac(l, s) => {
                        let nonce = fresh.map(|(n, _)| n).unwrap_or([0; 16]);
                        unlock_command(&other_key, BOARD_ID, *l, *s, &nonce)
                    }
                    Act::UnlockForgedNonce(l, s, n) => unlock_command(&key(), BOARD_ID, *l, *s, n),
                    Act::Replay => match last_unlock {
                        Some(m) => m,
                        None => Message::Heartbeat,
                    },
                    Act::Relock(l) => Message::Relock { lock: *l },
                    Act::GetStatus => Message::GetStatus { challenge: h.challenge() },
                };
                if matches!(m, Message::Unlock { .. }) {
                    last_unlock = Some(m);
                }
                msgs.push(m);
            }
            let replies = h.step(&mut b, &msgs);
            prop_assert_eq!(replies.len(), msgs.len(), "one reply per command");
            // Model: which locks did this step authorise?
            let mut authorised = [false; Lock::COUNT];
            for (m, r) in msgs.iter().zip(&replies) {
                match (m, r.msg) {
                    (Message::GetNonce, Message::Nonce { nonce, .. }) => fresh = Some((nonce, h.now)),
                    (Message::Unlock { lock, seconds, nonce, mac }, reply) => {
                        let valid = fresh.is_some_and(|(n, t)| n == *nonce && h.now < t + 3_000)
                            && verify_unlock_mac(&key(), BOARD_ID, *lock, *seconds, nonce, mac);
                        fresh = None;
                        if matches!(reply, Message::Ack { .. }) {
                            prop_assert!(valid, "acked an unlock without a fresh valid MAC");
                            prop_assert!((1..=8).contains(seconds));
                            authorised[lock.index()] = true;
                        }
                    }
                    _ => {}
                }
            }
            for lock in Lock::ALL {
                let on = h.last.locks.contains(lock);
                match (on, on_since[lock.index()]) {
                    (true, None) => {
                        prop_assert!(authorised[lock.index()], "{:?} energised without authorisation", lock);
                        on_since[lock.index()] = Some(h.now);
                    }
                    (true, Some(since)) => {
                        prop_assert!(h.now - since < limit, "{:?} on for {} ms", lock, h.now - since);
                    }
                    (false, _) => on_since[lock.index()] = None,
                }
            }
        }
    }

    /// Arbitrary received bytes never panic the board, and one step never sends more than
    /// its transmit capacity.
    #[test]
    fn arbitrary_rx_never_panics(chunks in prop::collection::vec(
        (1u64..200, prop::collection::vec(any::<u8>(), 0..300)), 1..40)) {
        let mut b = board(Config::default());
        let mut now = 0;
        for (dt, bytes) in chunks {
            now += dt;
            let step = b.step(now, InputSet::EMPTY, &bytes);
            prop_assert!(step.tx.as_bytes().len() <= TX_CAPACITY);
            prop_assert_eq!(step.outputs.locks, LockSet::EMPTY);
        }
    }
}

/// One stable stretch of input levels, with an optional glitch (shorter than the debounce
/// time) in its middle.
#[derive(Clone, Debug)]
struct Segment {
    bits: u8,
    hold_ms: u64,
    glitch: Option<(u8, u64)>,
}

fn segment() -> impl Strategy<Value = Segment> {
    (
        0..=InputSet::MASK,
        120u64..300,
        prop::option::of((1..=InputSet::MASK, 1u64..25)),
    )
        .prop_map(|(bits, hold_ms, glitch)| Segment {
            bits,
            hold_ms,
            glitch,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every debounced input change is reported exactly once and in order, or an overflow
    /// marker says how many were lost at that point; glitches shorter than the debounce time
    /// are never reported; event sequence numbers are consecutive.
    #[test]
    fn every_input_change_reported_once_in_order(
        segments in prop::collection::vec(segment(), 1..30),
        dt in 1u64..=5,
        link_after in 0usize..30,
    ) {
        let mut b = board(Config::default()); // debounce 30 ms
        let mut h = Host::new();
        let mut expected = Vec::new();
        for pair in segments.windows(2) {
            for input in Input::ALL {
                let before = pair[0].bits & (1 << input.index()) != 0;
                let after = pair[1].bits & (1 << input.index()) != 0;
                if before != after {
                    expected.push(EventKind::Input { input, active: after });
                }
            }
        }
        for (i, seg) in segments.iter().enumerate() {
            let start = h.now;
            let end = start + seg.hold_ms;
            let mut t = start;
            while t < end {
                let mut bits = seg.bits;
                if let Some((mask, len)) = seg.glitch {
                    let g0 = start + seg.hold_ms / 2;
                    if t >= g0 && t < g0 + len {
                        bits ^= mask;
                    }
                }
                h.now = t;
                h.inputs = InputSet::from_bits(bits).unwrap();
                let msgs: &[Message] = if i >= link_after { &[Message::Heartbeat] } else { &[] };
                h.step(&mut b, msgs);
                t += dt;
            }
            h.now = end;
        }
        // Let the last change settle and everything drain.
        for _ in 0..20 {
            h.now += 10;
            h.step(&mut b, &[Message::Heartbeat]);
        }

        let mut cursor = 0usize;
        let mut overflowed = false;
        for (i, (seq, kind)) in h.events.iter().enumerate() {
            prop_assert_eq!(*seq as usize, i);
            match kind {
                EventKind::Alarm(_) => {}
                EventKind::Overflow { lost } => {
                    overflowed = true;
                    cursor += usize::from(*lost);
                }
                EventKind::Input { .. } => {
                    prop_assert!(cursor < expected.len(), "more events than changes");
                    prop_assert_eq!(kind, &expected[cursor]);
                    cursor += 1;
                }
            }
        }
        prop_assert_eq!(cursor, expected.len());
        if link_after == 0 {
            prop_assert!(!overflowed, "the link was up throughout");
        }
        prop_assert_eq!(b.status().inputs.bits(), segments.last().unwrap().bits);
    }
}

#[derive(Clone, Debug)]
enum WdAct {
    GetNonce,
    /// A correct command over the newest nonce the host has seen.
    WatchdogGood(u16),
    MaintenanceGood(u16),
    /// Commands with a MAC made with the wrong key.
    WatchdogBadMac(u16),
    MaintenanceBadMac(u16),
    /// A correct MAC over a nonce the host made up.
    WatchdogForgedNonce(u16, [u8; 16]),
    /// Protocol 1's unauthenticated command bytes (kind 0x06 or 0x07).
    Legacy(bool, u16),
    /// The last authenticated command again, byte for byte.
    Replay,
}

fn timeout() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), 0u16..20, 10u16..=3600, any::<u16>()]
}

fn wd_act() -> impl Strategy<Value = WdAct> {
    prop_oneof![
        3 => Just(WdAct::GetNonce),
        3 => timeout().prop_map(WdAct::WatchdogGood),
        2 => (0u16..20_000).prop_map(WdAct::MaintenanceGood),
        1 => timeout().prop_map(WdAct::WatchdogBadMac),
        1 => any::<u16>().prop_map(WdAct::MaintenanceBadMac),
        1 => (timeout(), any::<[u8; 16]>()).prop_map(|(t, n)| WdAct::WatchdogForgedNonce(t, n)),
        2 => (any::<bool>(), any::<u16>()).prop_map(|(w, v)| WdAct::Legacy(w, v)),
        2 => Just(WdAct::Replay),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The host watchdog's timeout and the maintenance window change only through a command
    /// with a valid MAC over the board's fresh, unused nonce; everything else is NAKed.
    #[test]
    fn watchdog_and_maintenance_change_only_when_authenticated(
        steps in prop::collection::vec((1u64..2_000, prop::collection::vec(wd_act(), 0..4)), 1..80)
    ) {
        let cfg = Config { nonce_valid_ms: 3_000, ..Config::default() };
        let mut b = board(cfg);
        let mut h = Host::new();
        let other_key = Key::new([0xA5; 32]);
        let mut fresh: Option<([u8; 16], u64)> = None;
        let mut last_auth: Option<Message> = None;
        let mut watchdog_s = 60u16;
        let mut maintenance_until: Option<u64> = None;
        for (dt, acts) in steps {
            h.now += dt;
            if maintenance_until.is_some_and(|t| h.now >= t) {
                maintenance_until = None;
            }
            let nonce = fresh.map(|(n, _)| n).unwrap_or([0; 16]);
            let mut rx = Vec::new();
            let mut sent = Vec::new();
            for a in &acts {
                let m = match a {
                    WdAct::GetNonce => Some(Message::GetNonce),
                    WdAct::WatchdogGood(t) => Some(watchdog_command(&key(), BOARD_ID, *t, &nonce)),
                    WdAct::MaintenanceGood(s) => Some(maintenance_command(&key(), BOARD_ID, *s, &nonce)),
                    WdAct::WatchdogBadMac(t) => Some(watchdog_command(&other_key, BOARD_ID, *t, &nonce)),
                    WdAct::MaintenanceBadMac(s) => Some(maintenance_command(&other_key, BOARD_ID, *s, &nonce)),
                    WdAct::WatchdogForgedNonce(t, n) => Some(watchdog_command(&key(), BOARD_ID, *t, n)),
                    WdAct::Legacy(wd, v) => {
                        let seq = h.enc.frame(Message::Heartbeat).0; // reserve a number
                        rx.extend(raw_frame(seq, if *wd { 0x06 } else { 0x07 }, &v.to_le_bytes()));
                        sent.push(None);
                        None
                    }
                    WdAct::Replay => Some(last_auth.unwrap_or(Message::Heartbeat)),
                };
                if let Some(m) = m {
                    if matches!(m, Message::ConfigureWatchdog { .. } | Message::Maintenance { .. }) {
                        last_auth = Some(m);
                    }
                    rx.extend_from_slice(h.enc.frame(m).1.as_bytes());
                    sent.push(Some(m));
                }
            }
            let replies = h.step_bytes(&mut b, &rx);
            prop_assert_eq!(replies.len(), sent.len(), "one reply per command");
            for (m, r) in sent.iter().zip(&replies) {
                let acked = matches!(r.msg, Message::Ack { .. });
                match (m, r.msg) {
                    (None, reply) => prop_assert!(
                        matches!(reply, Message::Nak { reason: NakReason::Unauthenticated, .. }),
                        "protocol-1 command answered {:?}", reply
                    ),
                    (Some(Message::GetNonce), Message::Nonce { nonce, .. }) => fresh = Some((nonce, h.now)),
                    (Some(Message::ConfigureWatchdog { timeout_s, nonce, mac }), _) => {
                        let valid = fresh.is_some_and(|(n, t)| n == *nonce && h.now < t + 3_000)
                            && auth::verify_watchdog_mac(&key(), BOARD_ID, *timeout_s, nonce, mac);
                        fresh = None;
                        if acked {
                            prop_assert!(valid, "acked a watchdog command without a fresh valid MAC");
                            watchdog_s = *timeout_s;
                        }
                    }
                    (Some(Message::Maintenance { seconds, nonce, mac }), _) => {
                        let valid = fresh.is_some_and(|(n, t)| n == *nonce && h.now < t + 3_000)
                            && auth::verify_maintenance_mac(&key(), BOARD_ID, *seconds, nonce, mac);
                        fresh = None;
                        if acked {
                            prop_assert!(valid, "acked a maintenance command without a fresh valid MAC");
                            maintenance_until = (*seconds > 0).then(|| h.now + u64::from(*seconds) * 1000);
                        }
                    }
                    _ => {}
                }
            }
            let s = h.status(&mut b);
            prop_assert_eq!(s.watchdog_s, watchdog_s);
            prop_assert_eq!(s.flags.maintenance, maintenance_until.is_some());
        }
    }
}
