//! Fuzzes the I/O-board frame codec: arbitrary bytes through the one-shot frame decoder, the
//! streaming decoder (in chunks) and the payload decoder. Nothing may panic, the streaming
//! decoder stays bounded, and every frame found re-encodes to bytes that decode to the same
//! frame. Decoded statuses and events also go through the host's checks (status MAC, event
//! guard): arbitrary bytes never verify under the fixed key, and nothing panics.
#![no_main]

use kiosk_ioproto::frame::MAX_COBS_FRAME;
use kiosk_ioproto::host::{EventGuard, verify_status};
use kiosk_ioproto::{
    Frame, FrameDecoder, Key, MAX_WIRE_FRAME, Message, PayloadError, RETIRED_KINDS,
};
use libfuzzer_sys::fuzz_target;

fn check(frame: Frame) {
    let wire = frame.encode();
    let bytes = wire.as_bytes();
    assert!(bytes.len() <= MAX_WIRE_FRAME);
    let (last, body) = bytes.split_last().expect("a frame is never empty");
    assert_eq!(*last, 0);
    assert_eq!(Frame::decode(body), Ok(frame));
    let key = Key::new([0x5A; 32]);
    match frame.msg {
        Message::Status { .. } => {
            assert!(verify_status(&key, 1, &[0; 16], &frame.msg).is_none());
        }
        Message::Event {
            event_seq,
            at_ms,
            kind,
            mac,
        } => {
            let mut guard = EventGuard::new(1, [0; 16]);
            assert!(guard.check(&key, event_seq, at_ms, kind, &mac).is_err());
            assert_eq!(guard.last_seq(), None);
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::decode(data) {
        check(frame);
    }
    let mut decoder = FrameDecoder::new();
    for chunk in data.chunks(5) {
        for &byte in chunk {
            if let Some(Ok(frame)) = decoder.push(byte) {
                check(frame);
            }
        }
        assert!(decoder.pending() <= MAX_COBS_FRAME);
    }
    if let Some((&kind, payload)) = data.split_first() {
        if RETIRED_KINDS.contains(&kind) {
            assert_eq!(
                Message::decode(kind, payload),
                Err(PayloadError::Retired(kind))
            );
        }
        if let Ok(msg) = Message::decode(kind, payload) {
            let mut buf = [0u8; kiosk_ioproto::MAX_PAYLOAD];
            let n = msg.encode_payload(&mut buf);
            assert_eq!(&buf[..n], payload);
        }
    }
});
