//! Scenario tests of the pure core.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use common::*;
use kiosk_firmware::{Board, Config, EVENT_QUEUE_CAPACITY};
use kiosk_ioproto::host::unlock_command;
use kiosk_ioproto::*;

#[test]
fn hello_heartbeat_status() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    h.hello(&mut b);
    assert!(is_ack(&h.ask(&mut b, Message::Heartbeat)));
    let s = h.status(&mut b);
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
    let s = h.status(&mut b);
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
    let s = h.status(&mut b);
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
    assert!(is_ack(&h.maintenance(&mut b, 600)));
    h.run(&mut b, 599_000, false);
    assert_eq!(b.stats().host_resets, 0);
    // Window over: the host gets a full timeout from its end.
    h.run(&mut b, 60_990, false);
    assert_eq!(b.stats().host_resets, 0);
    h.run(&mut b, 20, false);
    assert_eq!(b.stats().host_resets, 1);
    assert_eq!(
        nak(&h.maintenance(&mut b, 4 * 3600 + 1)),
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
        assert_eq!(nak(&h.watchdog(&mut b, bad)), Some(NakReason::OutOfRange));
    }
    assert!(is_ack(&h.watchdog(&mut b, 0)));
    h.run(&mut b, 600_000, false);
    assert_eq!(b.stats().host_resets, 0, "off means off");
    assert!(is_ack(&h.watchdog(&mut b, 10)));
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
        assert_eq!(*seq as usize, i, "event sequence numbers are consecutive");
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
    let s = h.status(&mut b);
    assert_eq!(s.bad_frames, 2);
}

#[test]
fn board_state_is_small() {
    let size = core::mem::size_of::<kiosk_firmware::Board>();
    println!("size_of::<Board>() = {size} bytes");
    assert!(size < 4096, "{size}");
}

/// Protocol 1's unauthenticated watchdog and maintenance commands, and protocol 2's with a
/// missing or wrong MAC, are refused and change nothing: the watchdog keeps its timeout, no
/// maintenance window opens, and the host is not reset early.
#[test]
fn unauthenticated_watchdog_and_maintenance_commands_are_refused() {
    let cfg = Config {
        host_boot_grace_ms: 0,
        ..Config::default()
    };
    let mut b = board(cfg);
    let mut h = Host::new();
    assert!(is_ack(&h.ask(&mut b, Message::Heartbeat)));

    // Protocol 1 bytes: kind 0x06 (watchdog) with timeout 10 s, kind 0x07 (maintenance) 4 h.
    let replies = h.step_bytes(&mut b, &raw_frame(40, 0x06, &10u16.to_le_bytes()));
    assert_eq!(
        replies.iter().map(|f| f.msg).collect::<Vec<_>>(),
        vec![Message::Nak {
            seq: 40,
            reason: NakReason::Unauthenticated
        }]
    );
    let replies = h.step_bytes(&mut b, &raw_frame(41, 0x07, &14_400u16.to_le_bytes()));
    assert_eq!(
        replies.iter().map(|f| f.msg).collect::<Vec<_>>(),
        vec![Message::Nak {
            seq: 41,
            reason: NakReason::Unauthenticated
        }]
    );

    // Protocol 2 shape with no nonce and no MAC.
    let bare = Message::ConfigureWatchdog {
        timeout_s: 0,
        nonce: [0; 16],
        mac: [0; 32],
    };
    assert_eq!(nak(&h.ask(&mut b, bare)), Some(NakReason::StaleNonce));
    let bare = Message::Maintenance {
        seconds: 600,
        nonce: [0; 16],
        mac: [0; 32],
    };
    assert_eq!(nak(&h.ask(&mut b, bare)), Some(NakReason::StaleNonce));

    // A fresh nonce but a MAC made without the key.
    let nonce = h.nonce(&mut b);
    let forged = host::watchdog_command(&Key::new([1; 32]), BOARD_ID, 10, &nonce);
    assert_eq!(nak(&h.ask(&mut b, forged)), Some(NakReason::BadMac));
    // A genuine unlock MAC's bytes presented as a watchdog MAC (another domain tag).
    let nonce = h.nonce(&mut b);
    let Message::Unlock { mac, .. } =
        host::unlock_command(&key(), BOARD_ID, Lock::FrontDoor, 10, &nonce)
    else {
        unreachable!()
    };
    let mut wd_mac = [0u8; 32];
    wd_mac.copy_from_slice(&mac);
    let crossed = Message::ConfigureWatchdog {
        timeout_s: 10,
        nonce,
        mac: wd_mac,
    };
    assert_eq!(nak(&h.ask(&mut b, crossed)), Some(NakReason::BadMac));
    // A genuine watchdog MAC presented as a maintenance command.
    let nonce = h.nonce(&mut b);
    let Message::ConfigureWatchdog { mac, .. } =
        host::watchdog_command(&key(), BOARD_ID, 600, &nonce)
    else {
        unreachable!()
    };
    let crossed = Message::Maintenance {
        seconds: 600,
        nonce,
        mac,
    };
    assert_eq!(nak(&h.ask(&mut b, crossed)), Some(NakReason::BadMac));

    // Nothing changed.
    let s = h.status(&mut b);
    assert_eq!(s.watchdog_s, 60);
    assert!(!s.flags.maintenance);
    h.run(&mut b, 30_000, false);
    assert_eq!(b.stats().host_resets, 0, "not reset after 10 s");
    h.run(&mut b, 30_010, false);
    assert_eq!(b.stats().host_resets, 1, "reset after the real 60 s");
}

#[test]
fn a_replayed_watchdog_or_maintenance_command_is_refused() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    let nonce = h.nonce(&mut b);
    let cmd = host::watchdog_command(&key(), BOARD_ID, 0, &nonce);
    assert!(is_ack(&h.ask(&mut b, cmd)));
    assert_eq!(h.status(&mut b).watchdog_s, 0);
    assert!(is_ack(&h.watchdog(&mut b, 120)));
    // Replaying the recorded "off" command: its nonce is spent.
    assert_eq!(nak(&h.ask(&mut b, cmd)), Some(NakReason::StaleNonce));
    // ... also when a new nonce is out.
    let _fresh = h.nonce(&mut b);
    assert_eq!(nak(&h.ask(&mut b, cmd)), Some(NakReason::StaleNonce));
    assert_eq!(h.status(&mut b).watchdog_s, 120);

    let nonce = h.nonce(&mut b);
    let cmd = host::maintenance_command(&key(), BOARD_ID, 600, &nonce);
    assert!(is_ack(&h.ask(&mut b, cmd)));
    assert!(is_ack(&h.maintenance(&mut b, 0)));
    assert_eq!(nak(&h.ask(&mut b, cmd)), Some(NakReason::StaleNonce));
    assert!(!h.status(&mut b).flags.maintenance);
    // One nonce, one try, whatever the kind: a nonce spent on a failed unlock cannot be
    // used for the watchdog.
    let nonce = h.nonce(&mut b);
    let bad = Message::Unlock {
        lock: Lock::FrontDoor,
        seconds: 1,
        nonce,
        mac: [0; 32],
    };
    assert_eq!(nak(&h.ask(&mut b, bad)), Some(NakReason::BadMac));
    let late = host::watchdog_command(&key(), BOARD_ID, 0, &nonce);
    assert_eq!(nak(&h.ask(&mut b, late)), Some(NakReason::StaleNonce));
}

#[test]
fn unauthenticated_commands_count_towards_the_lockout() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    h.hello(&mut b);
    for seq in 0..4u16 {
        h.step_bytes(&mut b, &raw_frame(seq, 0x06, &0u16.to_le_bytes()));
    }
    let nonce = h.nonce(&mut b);
    let forged = host::maintenance_command(&Key::new([3; 32]), BOARD_ID, 600, &nonce);
    assert_eq!(nak(&h.ask(&mut b, forged)), Some(NakReason::BadMac));
    h.run(&mut b, 100, true);
    assert!(
        h.events
            .iter()
            .any(|(_, k)| *k == EventKind::Alarm(Alarm::AuthLockout))
    );
    // Locked out: even good commands of every authenticated kind.
    assert_eq!(nak(&h.watchdog(&mut b, 0)), Some(NakReason::LockedOut));
    assert_eq!(nak(&h.maintenance(&mut b, 60)), Some(NakReason::LockedOut));
    assert_eq!(
        nak(&h.unlock(&mut b, Lock::FrontDoor, 1)),
        Some(NakReason::LockedOut)
    );
    let s = h.status(&mut b);
    assert!(s.flags.auth_lockout);
    assert_eq!(s.watchdog_s, 60);
}

#[test]
fn frames_that_do_not_decode_are_refused_by_name() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    let cases: [(u8, &[u8], NakReason); 4] = [
        (0x08, &[], NakReason::BadVersion),     // protocol 1's GetStatus
        (0x3F, &[], NakReason::Unsupported),    // no such kind
        (0x09, &[10, 0], NakReason::Malformed), // watchdog without nonce and MAC
        (0x05, &[9], NakReason::Malformed),     // relock of lock 9
    ];
    for (i, (kind, payload, reason)) in cases.into_iter().enumerate() {
        let seq = 100 + i as u16;
        let replies = h.step_bytes(&mut b, &raw_frame(seq, kind, payload));
        assert_eq!(
            replies.iter().map(|f| f.msg).collect::<Vec<_>>(),
            vec![Message::Nak { seq, reason }],
            "kind {kind:#x}"
        );
    }
    assert_eq!(h.status(&mut b).bad_frames, 4);
}

#[test]
fn status_is_signed_over_the_challenge_and_names_the_boot() {
    let mut b = board(Config::default());
    let mut h = Host::new();
    let challenge = [0x42; 16];
    let reply = h.ask(&mut b, Message::GetStatus { challenge });
    let (_, boot) = host::verify_status(&key(), BOARD_ID, &challenge, &reply).unwrap();
    assert_eq!(
        boot,
        auth::derive_boot_id(&key(), &auth::boot_seed(&key(), &[7; 16], 1))
    );
    // A recorded reply does not answer another challenge, another board or another key.
    assert!(host::verify_status(&key(), BOARD_ID, &[0x43; 16], &reply).is_none());
    assert!(host::verify_status(&key(), BOARD_ID + 1, &challenge, &reply).is_none());
    assert!(host::verify_status(&Key::new([1; 32]), BOARD_ID, &challenge, &reply).is_none());
    // Another boot (another seed) has another boot id.
    let other = Board::new(Config::default(), key(), BOARD_ID, [8u8; 16], 1);
    assert_ne!(other.boot_id(), b.boot_id());
    // The same seed again (a random source stuck after power-up) in the next boot: the
    // stored boot count still makes it another boot, with other nonces.
    let mut again = Board::new(Config::default(), key(), BOARD_ID, [7u8; 16], 2);
    assert_ne!(again.boot_id(), b.boot_id());
    let nonce = |b: &mut Board| match Host::new().ask(b, Message::GetNonce) {
        Message::Nonce { nonce, .. } => nonce,
        other => panic!("{other:?}"),
    };
    assert_ne!(nonce(&mut again), nonce(&mut b));
}

/// Events carry a MAC over the boot and the sequence number: a "door closed" made up by a
/// shim, a genuine one replayed, and one from another boot of the board are all refused.
#[test]
fn events_are_authenticated_per_boot_and_never_accepted_twice() {
    let mut b = board(Config::default());
    let mut enc = host::HostEncoder::new(1);
    let mut dec = FrameDecoder::new();
    let mut events = Vec::new();
    let mut collect = |tx: &[u8], events: &mut Vec<_>| {
        for &byte in tx {
            if let Some(Ok(Frame {
                msg:
                    Message::Event {
                        event_seq,
                        at_ms,
                        kind,
                        mac,
                    },
                ..
            })) = dec.push(byte)
            {
                events.push((event_seq, at_ms, kind, mac));
            }
        }
    };
    let hello = enc.frame(Message::Hello {
        protocol: PROTOCOL_VERSION,
    });
    let step = b.step(1_000, InputSet::EMPTY, hello.1.as_bytes());
    collect(step.tx.as_bytes(), &mut events);
    let open = InputSet::EMPTY.with(Input::FrontDoor, true);
    let mut now = 1_000;
    for raw in [open, InputSet::EMPTY] {
        for _ in 0..10 {
            now += 10;
            let beat = enc.frame(Message::Heartbeat);
            let step = b.step(now, raw, beat.1.as_bytes());
            collect(step.tx.as_bytes(), &mut events);
        }
    }
    let kinds: Vec<_> = events.iter().map(|e| (e.0, e.2)).collect();
    let door = |active| EventKind::Input {
        input: Input::FrontDoor,
        active,
    };
    assert_eq!(
        kinds,
        vec![
            (0, EventKind::Alarm(Alarm::BoardStarted)),
            (1, door(true)),
            (2, door(false))
        ]
    );

    let mut guard = host::EventGuard::new(BOARD_ID, *b.boot_id());
    for &(seq, at, kind, mac) in &events {
        // A shim's made-up "door closed" right before it: refused, and it does not move
        // the sequence number.
        assert_eq!(
            guard.check(&key(), seq, at, door(false), &[0; 16]),
            Err(host::EventRejected::BadMac)
        );
        assert_eq!(guard.check(&key(), seq, at, kind, &mac), Ok(()));
    }
    // The genuine "door closed" again, say while the door stands open: a replay.
    let (seq, at, kind, mac) = events[2];
    assert_eq!(
        guard.check(&key(), seq, at, kind, &mac),
        Err(host::EventRejected::NotIncreasing)
    );
    // With its number moved forward: the MAC no longer holds.
    assert_eq!(
        guard.check(&key(), seq + 1, at, kind, &mac),
        Err(host::EventRejected::BadMac)
    );
    // Another boot of the board (another seed) has another boot id: its host refuses it.
    let other = Board::new(Config::default(), key(), BOARD_ID, [8u8; 16], 1);
    let mut theirs = host::EventGuard::new(BOARD_ID, *other.boot_id());
    let (seq, at, kind, mac) = events[0];
    assert_eq!(
        theirs.check(&key(), seq, at, kind, &mac),
        Err(host::EventRejected::BadMac)
    );
}
