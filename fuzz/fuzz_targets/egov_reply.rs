//! The e-government reply decoder on arbitrary bytes: it refuses, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let _ = kiosk_egov::wire::decode_reply(b"request", data, &key, "0f8fad5b-d9cb-469f-a165-70867728950e");
});
