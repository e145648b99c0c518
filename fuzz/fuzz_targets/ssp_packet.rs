//! Fuzzes the SSP codec: arbitrary bytes through the unstuffing packet decoder and the
//! POLL and SETUP_REQUEST reply parsers. Nothing may panic, and every packet found
//! re-encodes to bytes that decode to the same packet.
#![no_main]

use kiosk_devices::ssp::{PacketDecoder, Setup, SspDecoded, encode, encode_poll, parse_poll};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = PacketDecoder::new();
    for item in d.push_all(data) {
        if let SspDecoded::Packet(p) = item {
            let bytes = encode(&p).expect("decoded packets fit");
            let mut again = PacketDecoder::new();
            assert_eq!(again.push_all(&bytes), vec![SspDecoded::Packet(p.clone())]);
            if let Ok((events, None)) = parse_poll(&p.data) {
                assert_eq!(parse_poll(&encode_poll(&events)), Ok((events, None)));
            }
            let _ = Setup::parse(&p.data);
        }
    }
    let _ = parse_poll(data);
    let _ = Setup::parse(data);
});
