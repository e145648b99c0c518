//! Property tests: every message and frame survives encode → decode unchanged, every
//! payload fits the bounds, and decoding arbitrary bytes never panics.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use kiosk_ioproto::frame::{MAX_COBS_FRAME, MAX_RAW_FRAME};
use kiosk_ioproto::host::{
    EventGuard, EventRejected, HostEncoder, decode_stream, maintenance_command, unlock_command,
    verify_status, watchdog_command,
};
use kiosk_ioproto::message::event_body;
use kiosk_ioproto::*;
use proptest::prelude::*;

fn input() -> impl Strategy<Value = Input> {
    prop::sample::select(Input::ALL.to_vec())
}

fn lock() -> impl Strategy<Value = Lock> {
    prop::sample::select(Lock::ALL.to_vec())
}

fn alarm() -> impl Strategy<Value = Alarm> {
    prop::sample::select(vec![
        Alarm::BoardStarted,
        Alarm::AuthLockout,
        Alarm::HostReset,
    ])
}

fn reason() -> impl Strategy<Value = NakReason> {
    (1u8..=9).prop_map(|b| NakReason::from_u8(b).unwrap())
}

fn event_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        (input(), any::<bool>()).prop_map(|(input, active)| EventKind::Input { input, active }),
        any::<u16>().prop_map(|lost| EventKind::Overflow { lost }),
        alarm().prop_map(EventKind::Alarm),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    (
        0..=InputSet::MASK,
        0..=LockSet::MASK,
        0u8..16,
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(i, l, f, seq, up, wd, bad)| Status {
            inputs: InputSet::from_bits(i).unwrap(),
            locks: LockSet::from_bits(l).unwrap(),
            flags: StatusFlags::from_bits(f).unwrap(),
            next_event_seq: seq,
            uptime_ms: up,
            watchdog_s: wd,
            bad_frames: bad,
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<u8>().prop_map(|protocol| Message::Hello { protocol }),
        Just(Message::Heartbeat),
        Just(Message::GetNonce),
        (lock(), any::<u8>(), any::<[u8; 16]>(), any::<[u8; 32]>()).prop_map(
            |(lock, seconds, nonce, mac)| Message::Unlock {
                lock,
                seconds,
                nonce,
                mac
            }
        ),
        lock().prop_map(|lock| Message::Relock { lock }),
        (any::<u16>(), any::<[u8; 16]>(), any::<[u8; 32]>()).prop_map(|(timeout_s, nonce, mac)| {
            Message::ConfigureWatchdog {
                timeout_s,
                nonce,
                mac,
            }
        }),
        (any::<u16>(), any::<[u8; 16]>(), any::<[u8; 32]>()).prop_map(|(seconds, nonce, mac)| {
            Message::Maintenance {
                seconds,
                nonce,
                mac,
            }
        }),
        any::<[u8; 16]>().prop_map(|challenge| Message::GetStatus { challenge }),
        (any::<u8>(), any::<[u8; 3]>(), any::<u32>(), any::<u64>()).prop_map(
            |(protocol, firmware, board_id, uptime_ms)| Message::BoardHello {
                protocol,
                firmware,
                board_id,
                uptime_ms
            }
        ),
        (any::<[u8; 16]>(), any::<u32>())
            .prop_map(|(nonce, valid_ms)| Message::Nonce { nonce, valid_ms }),
        (any::<u64>(), any::<u64>(), event_kind(), any::<[u8; 16]>()).prop_map(
            |(event_seq, at_ms, kind, mac)| Message::Event {
                event_seq,
                at_ms,
                kind,
                mac,
            }
        ),
        (status(), any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(status, boot_id, mac)| {
            Message::Status {
                status,
                boot_id,
                mac,
            }
        }),
        any::<u16>().prop_map(|seq| Message::Ack { seq }),
        (any::<u16>(), reason()).prop_map(|(seq, reason)| Message::Nak { seq, reason }),
    ]
}

proptest! {
    #[test]
    fn payload_round_trip(msg in message()) {
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = msg.encode_payload(&mut buf);
        prop_assert!(n <= MAX_PAYLOAD);
        prop_assert_eq!(Message::decode(msg.kind(), &buf[..n]), Ok(msg));
        // One byte short or one byte long never decodes.
        if n > 0 {
            prop_assert!(Message::decode(msg.kind(), &buf[..n - 1]).is_err());
        }
        let mut long = [0u8; MAX_PAYLOAD + 1];
        long[..n].copy_from_slice(&buf[..n]);
        prop_assert_eq!(Message::decode(msg.kind(), &long[..n + 1]), Err(PayloadError::Length));
    }

    #[test]
    fn frame_round_trip(seq in any::<u16>(), msg in message()) {
        let frame = Frame { seq, msg };
        let wire = frame.encode();
        let bytes = wire.as_bytes();
        prop_assert!(bytes.len() <= MAX_WIRE_FRAME);
        prop_assert_eq!(bytes.last(), Some(&0));
        prop_assert!(!bytes[..bytes.len() - 1].contains(&0));
        prop_assert_eq!(Frame::decode(&bytes[..bytes.len() - 1]), Ok(frame));
    }

    #[test]
    fn stream_round_trip(frames in prop::collection::vec((any::<u16>(), message()), 0..20),
                         noise in prop::collection::vec(0xC0u8..=0xFF, 0..100),
                         chunk in 1usize..40) {
        // Noise (its first COBS code points past its end, so it never decodes), then a
        // delimiter, then frames back to back, fed in chunks.
        let mut stream = noise.clone();
        stream.push(0);
        for (seq, msg) in &frames {
            stream.extend_from_slice(Frame { seq: *seq, msg: *msg }.encode().as_bytes());
        }
        let mut decoder = FrameDecoder::new();
        let mut got = Vec::new();
        let mut errors = 0;
        for part in stream.chunks(chunk) {
            decode_stream(&mut decoder, part, |r| match r {
                Ok(f) => got.push(f),
                Err(_) => errors += 1,
            });
            prop_assert!(decoder.pending() <= MAX_COBS_FRAME);
        }
        let want: Vec<Frame> = frames.iter().map(|(seq, msg)| Frame { seq: *seq, msg: *msg }).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(errors, usize::from(!noise.is_empty()), "only the noise fails");
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Frame::decode(&bytes);
        let mut decoder = FrameDecoder::new();
        for &b in &bytes {
            if let Some(Ok(frame)) = decoder.push(b) {
                // Whatever decodes re-encodes to something that decodes the same.
                let wire = frame.encode();
                let again = Frame::decode(&wire.as_bytes()[..wire.as_bytes().len() - 1]);
                prop_assert_eq!(again, Ok(frame));
            }
            prop_assert!(decoder.pending() <= MAX_COBS_FRAME);
        }
        if let Some((&kind, payload)) = bytes.split_first() {
            let _ = Message::decode(kind, payload);
        }
    }

    #[test]
    fn valid_crc_arbitrary_body_never_panics(body in prop::collection::vec(any::<u8>(), 3..MAX_RAW_FRAME - 2)) {
        // Bodies with a correct CRC reach the payload decoder: it must refuse or accept, not panic.
        let mut raw = body.clone();
        raw.extend_from_slice(&kiosk_ioproto::crc::crc16(&body).to_le_bytes());
        let mut enc = [0u8; MAX_COBS_FRAME];
        let n = kiosk_ioproto::cobs::encode(&raw, &mut enc).unwrap();
        match Frame::decode(&enc[..n]) {
            Ok(frame) => {
                let wire = frame.encode();
                prop_assert_eq!(&wire.as_bytes()[..n], &enc[..n]);
            }
            Err(e) => prop_assert!(matches!(e, FrameError::Payload { .. }), "{:?}", e),
        }
    }

    #[test]
    fn host_unlock_command_verifies(key in any::<[u8; 32]>(), board in any::<u32>(), l in lock(),
                                    secs in any::<u8>(), nonce in any::<[u8; 16]>()) {
        let key = Key::new(key);
        let Message::Unlock { lock, seconds, nonce: n, mac } = unlock_command(&key, board, l, secs, &nonce) else {
            panic!("unlock_command builds an Unlock");
        };
        prop_assert!(auth::verify_unlock_mac(&key, board, lock, seconds, &n, &mac));
    }

    #[test]
    fn retired_kinds_never_decode(k in prop::sample::select(RETIRED_KINDS.to_vec()),
                                  payload in prop::collection::vec(any::<u8>(), 0..60)) {
        prop_assert_eq!(Message::decode(k, &payload), Err(PayloadError::Retired(k)));
    }

    #[test]
    fn host_watchdog_and_maintenance_commands_verify(key in any::<[u8; 32]>(), board in any::<u32>(),
                                                     v in any::<u16>(), nonce in any::<[u8; 16]>(),
                                                     flip in 0usize..32) {
        let key = Key::new(key);
        let Message::ConfigureWatchdog { timeout_s, nonce: n, mut mac } = watchdog_command(&key, board, v, &nonce) else {
            panic!("watchdog_command builds a ConfigureWatchdog");
        };
        prop_assert!(auth::verify_watchdog_mac(&key, board, timeout_s, &n, &mac));
        // A MAC made for one kind never passes for the other.
        prop_assert!(!auth::verify_maintenance_mac(&key, board, timeout_s, &n, &mac));
        mac[flip] ^= 1;
        prop_assert!(!auth::verify_watchdog_mac(&key, board, timeout_s, &n, &mac));
        let Message::Maintenance { seconds, nonce: n, mac } = maintenance_command(&key, board, v, &nonce) else {
            panic!("maintenance_command builds a Maintenance");
        };
        prop_assert!(auth::verify_maintenance_mac(&key, board, seconds, &n, &mac));
        prop_assert!(!auth::verify_watchdog_mac(&key, board, seconds, &n, &mac));
    }

    /// A status verifies only for the challenge it answers, and any change to it fails.
    #[test]
    fn status_verifies_only_for_its_challenge(key in any::<[u8; 32]>(), board in any::<u32>(),
                                              s in status(), boot in any::<[u8; 16]>(),
                                              ch in any::<[u8; 16]>(), other in any::<[u8; 16]>(),
                                              flip in 0usize..(kiosk_ioproto::message::STATUS_BODY_LEN * 8)) {
        let key = Key::new(key);
        let mac = auth::status_mac(&key, board, &ch, &boot, &s.body());
        let reply = Message::Status { status: s, boot_id: boot, mac };
        prop_assert_eq!(verify_status(&key, board, &ch, &reply), Some((s, boot)));
        if other != ch {
            prop_assert_eq!(verify_status(&key, board, &other, &reply), None);
        }
        // Flip one bit of the status body: it either no longer decodes or no longer verifies.
        let mut body = s.body();
        body[flip / 8] ^= 1 << (flip % 8);
        let mut payload = body.to_vec();
        payload.extend_from_slice(&boot);
        payload.extend_from_slice(&mac);
        if let Ok(tampered) = Message::decode(reply.kind(), &payload) {
            prop_assert_eq!(verify_status(&key, board, &ch, &tampered), None);
        }
        prop_assert_eq!(verify_status(&key, board, &ch, &Message::Heartbeat), None);
    }

    /// The event guard accepts genuine events of its boot in increasing order, exactly once
    /// each, and refuses events of another boot, another board or with a changed field.
    #[test]
    fn event_guard_accepts_each_genuine_event_once(
        key in any::<[u8; 32]>(), board in any::<u32>(), boot in any::<[u8; 16]>(),
        events in prop::collection::vec((1u64..1000, any::<u64>(), event_kind()), 1..20),
        replay in any::<prop::sample::Index>(),
        other_boot in any::<[u8; 16]>(),
    ) {
        let key = Key::new(key);
        let mut guard = EventGuard::new(board, boot);
        let mut seq = 0u64;
        let mut sent = Vec::new();
        for (step, at, kind) in events {
            seq += step;
            let (body, n) = event_body(seq, at, kind);
            let mac = auth::event_mac(&key, board, &boot, &body[..n]);
            // Forged variants first: none of them moves the guard.
            prop_assert_eq!(guard.check(&key, seq, at.wrapping_add(1), kind, &mac), Err(EventRejected::BadMac));
            prop_assert_eq!(guard.check(&key, seq + 1, at, kind, &mac), Err(EventRejected::BadMac));
            if other_boot != boot {
                let theirs = auth::event_mac(&key, board, &other_boot, &body[..n]);
                prop_assert_eq!(guard.check(&key, seq, at, kind, &theirs), Err(EventRejected::BadMac));
            }
            let other_board = auth::event_mac(&key, board ^ 1, &boot, &body[..n]);
            prop_assert_eq!(guard.check(&key, seq, at, kind, &other_board), Err(EventRejected::BadMac));
            prop_assert_eq!(guard.check(&key, seq, at, kind, &mac), Ok(()));
            prop_assert_eq!(guard.last_seq(), Some(seq));
            sent.push((seq, at, kind, mac));
        }
        // Any genuine event again is a replay.
        let (s, at, kind, mac) = *replay.get(&sent);
        prop_assert_eq!(guard.check(&key, s, at, kind, &mac), Err(EventRejected::NotIncreasing));
        prop_assert_eq!(guard.last_seq(), Some(seq));
    }
}

#[test]
fn host_encoder_numbers_frames() {
    let mut enc = HostEncoder::new(u16::MAX);
    let (a, wa) = enc.frame(Message::Heartbeat);
    let (b, _) = enc.frame(Message::GetNonce);
    assert_eq!((a, b), (u16::MAX, 0));
    let bytes = wa.as_bytes();
    assert_eq!(
        Frame::decode(&bytes[..bytes.len() - 1]),
        Ok(Frame {
            seq: u16::MAX,
            msg: Message::Heartbeat
        })
    );
}

#[test]
fn bounds_are_what_the_docs_say() {
    assert_eq!(MAX_PAYLOAD, 55);
    assert_eq!(MAX_RAW_FRAME, 60);
    assert_eq!(MAX_WIRE_FRAME, 62);
    // Every event body fits its buffer and the MAC'd event fits a payload.
    assert_eq!(kiosk_ioproto::message::MAX_EVENT_BODY, 19);
    const { assert!(kiosk_ioproto::message::MAX_EVENT_BODY + EVENT_MAC_LEN <= MAX_PAYLOAD) };
}

#[test]
fn protocol_one_unauthenticated_watchdog_frame_is_refused_by_name() {
    // seq 5, kind 0x06 (protocol 1's ConfigureWatchdog), timeout 0 = off, no MAC.
    let mut raw = vec![5u8, 0, 0x06, 0, 0];
    raw.extend_from_slice(&kiosk_ioproto::crc::crc16(&raw).to_le_bytes());
    let mut enc = [0u8; 16];
    let n = kiosk_ioproto::cobs::encode(&raw, &mut enc).unwrap();
    assert_eq!(
        Frame::decode(&enc[..n]),
        Err(FrameError::Payload {
            seq: 5,
            error: PayloadError::Retired(0x06)
        })
    );
}
