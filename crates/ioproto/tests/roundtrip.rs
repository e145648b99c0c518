//! Property tests: every message and frame survives encode → decode unchanged, every
//! payload fits the bounds, and decoding arbitrary bytes never panics.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use kiosk_ioproto::frame::{MAX_COBS_FRAME, MAX_RAW_FRAME};
use kiosk_ioproto::host::{HostEncoder, decode_stream, unlock_command};
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
    (1u8..=7).prop_map(|b| NakReason::from_u8(b).unwrap())
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
        any::<u16>(),
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
        any::<u16>().prop_map(|timeout_s| Message::ConfigureWatchdog { timeout_s }),
        any::<u16>().prop_map(|seconds| Message::Maintenance { seconds }),
        Just(Message::GetStatus),
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
        (any::<u16>(), any::<u64>(), event_kind()).prop_map(|(event_seq, at_ms, kind)| {
            Message::Event {
                event_seq,
                at_ms,
                kind,
            }
        }),
        status().prop_map(Message::Status),
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
            Err(e) => prop_assert!(matches!(e, FrameError::Payload(_))),
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
}

#[test]
fn host_encoder_numbers_frames() {
    let mut enc = HostEncoder::new(u16::MAX);
    let (a, wa) = enc.frame(Message::Heartbeat);
    let (b, _) = enc.frame(Message::GetStatus);
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
    assert_eq!(MAX_PAYLOAD, 50);
    assert_eq!(MAX_RAW_FRAME, 55);
    assert_eq!(MAX_WIRE_FRAME, 57);
}
