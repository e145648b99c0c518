//! Scenario tests of the pure core.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;
use kiosk_firmware::{Config, EVENT_QUEUE_CAPACITY};
use kiosk_ioproto::host::unlock_command;
use kiosk_ioproto::*;

#[test]
fn hello_heartbeat_status() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    h.hello(&mut b);
    assert!(is_ack(&h.ask(&mut b, Message::Heartbeat)));
    let Message::Status(s) = h.ask(&mut b, Message::GetStatus) else {
        panic!("status")
    };
    assert!(s.flags.link_up);
    assert_eq!(s.locks, LockSet::EMPTY);
    assert_eq!(s.watchdog_s, 60);
    // The board announced its start once the link came up.
    assert_eq!(h.events, vec![(0, EventKind::Alarm(Alarm::BoardStarted))]);
    assert_eq!(
        nak(&h.ask(&mut b, Message::Hello { protocol: 99 })),
        Some(NakReason::BadVersion)
    );
}

#[test]
fn board_to_host_messages_are_refused() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    assert_eq!(
        nak(&h.ask(&mut b, Message::Ack { seq: 3 })),
        Some(NakReason::Unsupported)
    );
}

#[test]
fn unlock_with_fresh_mac_then_replay_refused() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    let nonce = h.nonce(&mut b);
    let cmd = unlock_command(&key(), BOARD_ID, Lock::RearDoor, 5, &nonce);
    assert!(is_ack(&h.ask(&mut b, cmd)));
    assert!(h.last.locks.contains(Lock::RearDoor));
    assert!(!h.last.locks.contains(Lock::FrontDoor));
    // The same command again: the nonce is spent.
    assert_eq!(nak(&h.ask(&mut b, cmd)), Some(NakReason::StaleNonce));
    // Released after the requested 5 s, not before.
    h.run(&mut b, 4_990, true);
    assert!(h.last.locks.contains(Lock::RearDoor));
    h.run(&mut b, 10, true);
    assert!(!h.last.locks.contains(Lock::RearDoor));
}

#[test]
fn wrong_key_wrong_lock_and_expired_nonce_are_refused() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    let nonce = h.nonce(&mut b);
    let wrong = unlock_command(&Key::new([1; 32]), BOARD_ID, Lock::FrontDoor, 5, &nonce);
    assert_eq!(nak(&h.ask(&mut b, wrong)), Some(NakReason::BadMac));
    // A MAC for another lock presented for this one.
    let nonce = h.nonce(&mut b);
    let Message::Unlock { mac, .. } = unlock_command(&key(), BOARD_ID, Lock::RearDoor, 5, &nonce)
    else {
        unreachable!()
    };
    let swapped = Message::Unlock {
        lock: Lock::FrontDoor,
        seconds: 5,
        nonce,
        mac,
    };
    assert_eq!(nak(&h.ask(&mut b, swapped)), Some(NakReason::BadMac));
    // A good MAC on a nonce that expired.
    let nonce = h.nonce(&mut b);
    h.run(&mut b, 10_000, true);
    let late = unlock_command(&key(), BOARD_ID, Lock::FrontDoor, 5, &nonce);
    assert_eq!(nak(&h.ask(&mut b, late)), Some(NakReason::StaleNonce));
    // A nonce the board never issued.
    let made_up = unlock_command(&key(), BOARD_ID, Lock::FrontDoor, 5, &[9; 16]);
    assert_eq!(nak(&h.ask(&mut b, made_up)), Some(NakReason::StaleNonce));
    // Only the newest nonce counts.
    let old = h.nonce(&mut b);
    let _new = h.nonce(&mut b);
    let stale = unlock_command(&key(), BOARD_ID, Lock::FrontDoor, 5, &old);
    assert_eq!(nak(&h.ask(&mut b, stale)), Some(NakReason::StaleNonce));
    assert_eq!(h.last.locks, LockSet::EMPTY);
}

#[test]
fn thermal_limit_and_cooldown() {
    let cfg = Config {
        max_unlock_s: 8,
        ..Config::default()
    };
    let mut b = board(cfg);
    let mut h = Host::new();
    assert_eq!(
        nak(&h.unlock(&mut b, Lock::CashDoor, 9)),
        Some(NakReason::OutOfRange)
    );
    assert_eq!(
        nak(&h.unlock(&mut b, Lock::CashDoor, 0)),
        Some(NakReason::OutOfRange)
    );
    assert!(is_ack(&h.unlock(&mut b, Lock::CashDoor, 8)));
    h.run(&mut b, 6_000, true);
    // Extending asks for 8 more seconds; the pulse still ends 8 s after it began.
    assert!(is_ack(&h.unlock(&mut b, Lock::CashDoor, 8)));
    h.run(&mut b, 1_990, true);
    assert!(h.last.locks.contains(Lock::CashDoor));
    h.run(&mut b, 10, true);
    assert!(!h.last.locks.contains(Lock::CashDoor));
    // Cooling down.
    assert_eq!(
        nak(&h.unlock(&mut b, Lock::CashDoor, 2)),
        Some(NakReason::Busy)
    );
    h.run(&mut b, 2_000, true);
    assert!(is_ack(&h.unlock(&mut b, Lock::CashDoor, 2)));
}

#[test]
fn relocks_when_the_door_closes_and_on_command() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    assert!(is_ack(&h.unlock(&mut b, Lock::FrontDoor, 10)));
    h.inputs = h.inputs.with(Input::FrontDoor, true);
    h.run(&mut b, 100, true);
    assert!(
        h.last.locks.contains(Lock::FrontDoor),
        "open door keeps it released"
    );
    h.inputs = h.inputs.with(Input::FrontDoor, false);
    h.run(&mut b, 20, true);
    assert!(
        h.last.locks.contains(Lock::FrontDoor),
        "closing not yet debounced"
    );
    h.run(&mut b, 20, true);
    assert!(!h.last.locks.contains(Lock::FrontDoor), "relocked on close");

    h.run(&mut b, 2_000, true);
    assert!(is_ack(&h.unlock(&mut b, Lock::RearDoor, 10)));
    assert!(is_ack(&h.ask(
        &mut b,
        Message::Relock {
            lock: Lock::RearDoor
        }
    )));
    assert_eq!(h.last.locks, LockSet::EMPTY);
}

#[test]
fn fail_secure_when_the_link_is_lost() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    assert!(is_ack(&h.unlock(&mut b, Lock::FrontDoor, 10)));
    h.run(&mut b, 4_990, false);
    assert!(h.last.locks.contains(Lock::FrontDoor));
    h.run(&mut b, 10, false);
    assert_eq!(
        h.last.locks,
        LockSet::EMPTY,
        "relocked when the link is lost"
    );
    let Message::Status(s) = h.ask(&mut b, Message::GetStatus) else {
        panic!()
    };
    assert_eq!(s.locks, LockSet::EMPTY);
}

#[test]
fn bad_macs_lock_unlocking_out_and_raise_an_alarm() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    for _ in 0..4 {
        let nonce = h.nonce(&mut b);
        let bad = Message::Unlock {
            lock: Lock::CashDoor,
            seconds: 5,
            nonce,
            mac: [0; 32],
        };
        assert_eq!(nak(&h.ask(&mut b, bad)), Some(NakReason::BadMac));
        h.run(&mut b, 10_000, true);
    }
    // Four in 40 s: not yet. Good MACs still work.
    assert!(is_ack(&h.unlock(&mut b, Lock::FrontDoor, 1)));
    let nonce = h.nonce(&mut b);
    let bad = Message::Unlock {
        lock: Lock::CashDoor,
        seconds: 5,
        nonce,
        mac: [1; 32],
    };
    assert_eq!(nak(&h.ask(&mut b, bad)), Some(NakReason::BadMac));
    assert!(
        h.events
            .iter()
            .any(|(_, k)| *k == EventKind::Alarm(Alarm::AuthLockout))
    );
    h.run(&mut b, 2_000, true);
    assert_eq!(
        nak(&h.unlock(&mut b, Lock::FrontDoor, 1)),
        Some(NakReason::LockedOut)
    );
    let Message::Status(s) = h.ask(&mut b, Message::GetStatus) else {
        panic!()
    };
    assert!(s.flags.auth_lockout);
    h.run(&mut b, 300_000, true);
    assert!(is_ack(&h.unlock(&mut b, Lock::FrontDoor, 1)));
}

#[test]
fn bad_macs_spread_out_do_not_lock_out() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    for _ in 0..10 {
        let nonce = h.nonce(&mut b);
        let bad = Message::Unlock {
            lock: Lock::CashDoor,
            seconds: 5,
            nonce,
            mac: [0; 32],
        };
        assert_eq!(nak(&h.ask(&mut b, bad)), Some(NakReason::BadMac));
        h.run(&mut b, 15_000, true);
    }
    assert!(is_ack(&h.unlock(&mut b, Lock::FrontDoor, 1)));
}

#[test]
fn host_watchdog_pulses_the_reset_relay() {
    let cfg = Config {
        host_boot_grace_ms: 10_000,
        ..Config::default()
    };
    let mut b = board(cfg);
    let mut h = Host::new();
    h.hello(&mut b);
    // Heartbeats keep the host alive well past the timeout.
    h.run(&mut b, 120_000, true);
    assert!(!h.last.reset_relay);
    assert_eq!(b.stats().host_resets, 0);
    // Silence: reset 60 s after the last heartbeat.
    h.run(&mut b, 59_990, false);
    assert!(!h.last.reset_relay);
    h.run(&mut b, 10, false);
    assert!(h.last.reset_relay);
    h.run(&mut b, 500, false);
    assert!(!h.last.reset_relay, "a pulse, not a latch");
    assert_eq!(b.stats().host_resets, 1);
    // Next reset only after boot grace + timeout.
    h.run(&mut b, 69_000, false);
    assert_eq!(b.stats().host_resets, 1);
    h.run(&mut b, 1_500, false);
    assert_eq!(b.stats().host_resets, 2);
    // The host comes back and hears about the resets.
    h.run(&mut b, 1_000, true);
    let resets = h
        .events
        .iter()
        .filter(|(_, k)| *k == EventKind::Alarm(Alarm::HostReset))
        .count();
    assert_eq!(resets, 2);
}

#[test]
fn no_host_reset_during_maintenance() {
    let cfg = Config {
        host_boot_grace_ms: 0,
        ..Config::default()
    };
    let mut b = board(cfg);
    let mut h = Host::new();
    assert!(is_ack(&h.ask(&mut b, Message::Heartbeat)));
    assert!(is_ack(
        &h.ask(&mut b, Message::Maintenance { seconds: 600 })
    ));
    h.run(&mut b, 599_000, false);
    assert_eq!(b.stats().host_resets, 0);
    // Window over: the host gets a full timeout from its end.
    h.run(&mut b, 60_990, false);
    assert_eq!(b.stats().host_resets, 0);
    h.run(&mut b, 20, false);
    assert_eq!(b.stats().host_resets, 1);
    assert_eq!(
        nak(&h.ask(
            &mut b,
            Message::Maintenance {
                seconds: 4 * 3600 + 1
            }
        )),
        Some(NakReason::OutOfRange)
    );
}

#[test]
fn watchdog_configuration() {
    let cfg = Config {
        host_boot_grace_ms: 0,
        ..Config::default()
    };
    let mut b = board(cfg);
    let mut h = Host::new();
    for bad in [1, 9, 3601] {
        assert_eq!(
            nak(&h.ask(&mut b, Message::ConfigureWatchdog { timeout_s: bad })),
            Some(NakReason::OutOfRange)
        );
    }
    assert!(is_ack(
        &h.ask(&mut b, Message::ConfigureWatchdog { timeout_s: 0 })
    ));
    h.run(&mut b, 600_000, false);
    assert_eq!(b.stats().host_resets, 0, "off means off");
    assert!(is_ack(
        &h.ask(&mut b, Message::ConfigureWatchdog { timeout_s: 10 })
    ));
    h.run(&mut b, 9_990, false);
    assert_eq!(b.stats().host_resets, 0);
    h.run(&mut b, 20, false);
    assert_eq!(b.stats().host_resets, 1);
}

#[test]
fn debounce_filters_bounces() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    h.hello(&mut b);
    h.events.clear();
    // Bounce for 20 ms, then settle open.
    for level in [true, false, true, false, true] {
        h.inputs = h.inputs.with(Input::Tamper, level);
        h.run(&mut b, 4, true);
    }
    assert!(h.events.is_empty());
    h.run(&mut b, 30, true);
    assert_eq!(
        h.events,
        vec![(
            1,
            EventKind::Input {
                input: Input::Tamper,
                active: true
            }
        )]
    );
    // A 20 ms glitch back is ignored.
    h.inputs = h.inputs.with(Input::Tamper, false);
    h.run(&mut b, 20, true);
    h.inputs = h.inputs.with(Input::Tamper, true);
    h.run(&mut b, 100, true);
    assert_eq!(h.events.len(), 1);
}

#[test]
fn queue_overflow_is_reported() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    h.run(&mut b, 10, false); // boot with every input inactive
    // Link down: events pile up. 40 changes of the earphone jack.
    for i in 0..40 {
        h.inputs = h.inputs.with(Input::Earphone, i % 2 == 0);
        h.run(&mut b, 50, false);
    }
    // The link comes up; a step sends what fits in its transmit buffer, the next the rest.
    h.step(&mut b, &[Message::Heartbeat]);
    assert!(!h.events.is_empty() && h.events.len() < EVENT_QUEUE_CAPACITY);
    h.run(&mut b, 20, true);
    // BoardStarted + 40 changes did not fit in 32 slots (one kept for the marker).
    let kept = EVENT_QUEUE_CAPACITY - 1;
    assert_eq!(h.events.len(), EVENT_QUEUE_CAPACITY);
    assert_eq!(h.events[0].1, EventKind::Alarm(Alarm::BoardStarted));
    let lost = (41 - kept) as u16;
    assert_eq!(h.events[kept].1, EventKind::Overflow { lost });
    for (i, (seq, _)) in h.events.iter().enumerate() {
        assert_eq!(
            usize::from(*seq),
            i,
            "event sequence numbers are consecutive"
        );
    }
}

#[test]
fn hardware_watchdog_fed_only_when_healthy() {
    let mut b = board(Config::default());
    assert!(b.step(1_000, InputSet::EMPTY, &[]).outputs.feed_watchdog);
    assert!(b.step(1_050, InputSet::EMPTY, &[]).outputs.feed_watchdog);
    // A stalled loop (gap over 100 ms).
    assert!(!b.step(1_300, InputSet::EMPTY, &[]).outputs.feed_watchdog);
    assert!(b.step(1_310, InputSet::EMPTY, &[]).outputs.feed_watchdog);
    // A clock that went backwards.
    assert!(!b.step(1_200, InputSet::EMPTY, &[]).outputs.feed_watchdog);
    assert!(b.step(1_320, InputSet::EMPTY, &[]).outputs.feed_watchdog);
}

#[test]
fn garbage_is_counted_not_fatal() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    h.step_bytes(&mut b, &[0x05, 0x11, 0x22, 0x00, 0xFF, 0xFF, 0x00]);
    let Message::Status(s) = h.ask(&mut b, Message::GetStatus) else {
        panic!()
    };
    assert_eq!(s.bad_frames, 2);
}

#[test]
fn board_state_is_small() {
    let size = core::mem::size_of::<kiosk_firmware::Board>();
    println!("size_of::<Board>() = {size} bytes");
    assert!(size < 4096, "{size}");
}
