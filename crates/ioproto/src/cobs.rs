//! Consistent Overhead Byte Stuffing: removes every zero byte from a frame so that a single
//! zero can delimit frames on the wire. Both directions work on caller buffers and never
//! panic; the decoder rejects zero bytes, truncated blocks and output overflow.

/// Why a COBS operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CobsError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// The encoded input contains a zero byte (zero is the frame delimiter).
    ZeroByte,
    /// A block code points past the end of the input.
    Truncated,
}

/// The largest encoding of `n` input bytes (one code byte per started 254-byte block).
pub const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// Encodes `src` into `dst` (without a delimiter) and returns the encoded length.
pub fn encode(src: &[u8], dst: &mut [u8]) -> Result<usize, CobsError> {
    if dst.len() < max_encoded_len(src.len()) {
        return Err(CobsError::BufferTooSmall);
    }
    let mut code_at = 0usize;
    let mut out = 1usize;
    let mut code: u8 = 1;
    for &byte in src {
        if byte == 0 {
            put(dst, code_at, code)?;
            code_at = out;
            out += 1;
            code = 1;
        } else {
            put(dst, out, byte)?;
            out += 1;
            code += 1;
            if code == 0xFF {
                put(dst, code_at, code)?;
                code_at = out;
                out += 1;
                code = 1;
            }
        }
    }
    put(dst, code_at, code)?;
    Ok(out)
}

/// Decodes one COBS block sequence `src` (without its delimiter) into `dst`, returning the
/// decoded length.
pub fn decode(src: &[u8], dst: &mut [u8]) -> Result<usize, CobsError> {
    let mut at = 0usize;
    let mut out = 0usize;
    while let Some(&code) = src.get(at) {
        if code == 0 {
            return Err(CobsError::ZeroByte);
        }
        at += 1;
        let run = usize::from(code - 1);
        let block = src.get(at..at + run).ok_or(CobsError::Truncated)?;
        for &byte in block {
            if byte == 0 {
                return Err(CobsError::ZeroByte);
            }
            put(dst, out, byte)?;
            out += 1;
        }
        at += run;
        if code != 0xFF && at < src.len() {
            put(dst, out, 0)?;
            out += 1;
        }
    }
    Ok(out)
}

fn put(dst: &mut [u8], at: usize, byte: u8) -> Result<(), CobsError> {
    *dst.get_mut(at).ok_or(CobsError::BufferTooSmall)? = byte;
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn known_encodings() {
        let cases: &[(&[u8], &[u8])] = &[
            (&[], &[0x01]),
            (&[0x00], &[0x01, 0x01]),
            (&[0x00, 0x00], &[0x01, 0x01, 0x01]),
            (&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]),
            (&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]),
        ];
        for (plain, wire) in cases {
            let mut buf = [0u8; 16];
            let n = encode(plain, &mut buf).unwrap();
            assert_eq!(&buf[..n], *wire, "encoding {plain:02x?}");
            let mut back = [0u8; 16];
            let m = decode(wire, &mut back).unwrap();
            assert_eq!(&back[..m], *plain, "decoding {wire:02x?}");
        }
    }

    #[test]
    fn long_runs_split_at_254() {
        let plain = vec![0x42u8; 300];
        let mut buf = vec![0u8; max_encoded_len(plain.len())];
        let n = encode(&plain, &mut buf).unwrap();
        assert_eq!(buf[0], 0xFF);
        assert!(!buf[..n].contains(&0));
        let mut back = vec![0u8; 300];
        assert_eq!(decode(&buf[..n], &mut back).unwrap(), 300);
        assert_eq!(back, plain);
    }

    #[test]
    fn rejects_bad_input() {
        let mut out = [0u8; 8];
        assert_eq!(decode(&[0x03, 0x11], &mut out), Err(CobsError::Truncated));
        assert_eq!(decode(&[0x02, 0x00], &mut out), Err(CobsError::ZeroByte));
        assert_eq!(decode(&[0x00], &mut out), Err(CobsError::ZeroByte));
        assert_eq!(
            decode(&[0x09, 1, 2, 3, 4, 5, 6, 7, 8], &mut [0u8; 4]),
            Err(CobsError::BufferTooSmall)
        );
        assert_eq!(
            encode(&[1, 2, 3], &mut [0u8; 3]),
            Err(CobsError::BufferTooSmall)
        );
    }

    proptest! {
        #[test]
        fn round_trip(plain in proptest::collection::vec(any::<u8>(), 0..700)) {
            let mut buf = vec![0u8; max_encoded_len(plain.len())];
            let n = encode(&plain, &mut buf).unwrap();
            prop_assert!(!buf[..n].contains(&0));
            let mut back = vec![0u8; plain.len()];
            let m = decode(&buf[..n], &mut back).unwrap();
            prop_assert_eq!(&back[..m], &plain[..]);
        }

        #[test]
        fn decode_never_panics(wire in proptest::collection::vec(any::<u8>(), 0..600), cap in 0usize..600) {
            let mut out: Vec<u8> = vec![0u8; cap];
            let _ = decode(&wire, &mut out);
        }
    }
}
