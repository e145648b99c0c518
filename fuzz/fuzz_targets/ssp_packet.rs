//! Fuzzes the SSP codec: arbitrary bytes through the unstuffing packet decoder and the
//! POLL, SETUP_REQUEST, GET_SERIAL_NUMBER and GET_COUNTERS reply parsers. Nothing may panic,
//! every packet found re-encodes to bytes that decode to the same packet, and parsed serial
//! numbers and counters re-encode to replies that parse to the same values.
#![no_main]

use kiosk_devices::ssp::{
    Counters, PacketDecoder, Setup, SspDecoded, encode, encode_poll, encode_serial_number,
    parse_poll, parse_serial_number,
};
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
    if let Ok(serial) = parse_serial_number(data) {
        assert_eq!(
            parse_serial_number(&encode_serial_number(serial)),
            Ok(serial)
        );
    }
    if let Ok(c) = Counters::parse(data) {
        assert_eq!(Counters::parse(&c.encode()), Ok(c));
    }
});
