//! Fuzzes the I/O-board frame codec: arbitrary bytes through the one-shot frame decoder, the
//! streaming decoder (in chunks) and the payload decoder. Nothing may panic, the streaming
//! decoder stays bounded, and every frame found re-encodes to bytes that decode to the same
//! frame.
#![no_main]

use kiosk_ioproto::frame::MAX_COBS_FRAME;
use kiosk_ioproto::{Frame, FrameDecoder, MAX_WIRE_FRAME, Message};
use libfuzzer_sys::fuzz_target;

fn check(frame: Frame) {
    let wire = frame.encode();
    let bytes = wire.as_bytes();
    assert!(bytes.len() <= MAX_WIRE_FRAME);
    let (last, body) = bytes.split_last().expect("a frame is never empty");
    assert_eq!(*last, 0);
    assert_eq!(Frame::decode(body), Ok(frame));
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
        if let Ok(msg) = Message::decode(kind, payload) {
            let mut buf = [0u8; kiosk_ioproto::MAX_PAYLOAD];
            let n = msg.encode_payload(&mut buf);
            assert_eq!(&buf[..n], payload);
        }
    }
});
