//! Fuzzes the ccTalk codec: arbitrary bytes through the one-shot decoder, the incremental
//! decoder (both checksum kinds, with and without an address filter) and the reply parsers.
//! Nothing may panic, buffers stay bounded, and every frame found re-encodes to bytes that
//! decode to the same frame.
#![no_main]

use kiosk_devices::cctalk::frame::{self, ChecksumKind, Decoded, FrameDecoder, MAX_FRAME};
use kiosk_devices::cctalk::{BufferedCredit, HopperFaults, HopperStatus, LevelStatus, parse_coin_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [ChecksumKind::Simple, ChecksumKind::Crc16] {
        let _ = frame::decode(data, kind);
        for filter in [None, Some(1)] {
            let mut d = FrameDecoder::new(kind, filter);
            for chunk in data.chunks(7) {
                d.push(chunk);
                while let Some(item) = d.next_item() {
                    if let Decoded::Frame(f) = item {
                        let bytes = frame::encode(&f, kind).expect("decoded frames fit");
                        assert_eq!(frame::decode(&bytes, kind).expect("re-decodes"), f);
                        let _ = BufferedCredit::parse(&f.data);
                        let _ = HopperStatus::parse(&f.data);
                        let _ = HopperFaults::parse(&f.data);
                        let _ = LevelStatus::parse(&f.data);
                        let _ = parse_coin_id(&f.data);
                    }
                }
                assert!(d.pending() <= MAX_FRAME * 2);
            }
        }
    }
});
