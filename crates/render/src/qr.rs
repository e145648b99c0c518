//! The verification QR code: encoding through `qrcode`, mask choice done here.
//!
//! `qrcode` scores each of the eight mask patterns through boxed closures and iterator
//! comparisons; for the ~190-byte payload (a version 8 symbol, 49 x 49 modules) that was
//! about a third of the time of a one-page certificate. We let `qrcode` do everything it
//! does well (mode choice, Reed-Solomon, placement, masking, format information) and only
//! score the eight masked symbols ourselves, on a plain bit grid, with the same rules and
//! the same tie-break (the first pattern of lowest penalty wins), so the symbol printed is
//! module for module the one `QrCode::with_error_correction_level` would give.

use qrcode::bits::encode_auto;
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::ec::construct_codewords;
use qrcode::{Color, EcLevel};

use crate::error::RenderError;

/// Error correction level of the printed code: M restores up to ~15% of damaged codewords
/// (a crease, a smudge) and keeps the symbol small enough to scan from 20 mm.
pub(crate) const EC_LEVEL: EcLevel = EcLevel::M;

/// The eight patterns in the order `qrcode` tries them (the order decides ties).
const PATTERNS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// A QR symbol: `width * width` modules, row-major from the top-left, `true` = dark.
pub(crate) struct QrMatrix {
    /// Modules per side.
    pub width: usize,
    /// Row-major, top row first.
    pub dark: Vec<bool>,
}

impl QrMatrix {
    /// Whether the module in row `y`, column `x` is dark.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark[y * self.width + x]
    }
}

/// Encodes `data` at [`EC_LEVEL`] with the lowest-penalty mask.
pub(crate) fn encode(data: &[u8]) -> Result<QrMatrix, RenderError> {
    let qr_err = |e: qrcode::types::QrError| RenderError::Qr(e.to_string());
    let bits = encode_auto(data, EC_LEVEL).map_err(qr_err)?;
    let version = bits.version();
    let raw = bits.into_bytes();
    let (codewords, ec) = construct_codewords(&raw, version, EC_LEVEL).map_err(qr_err)?;
    let mut canvas = Canvas::new(version, EC_LEVEL);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&codewords, &ec);
    let width =
        usize::try_from(version.width()).map_err(|_| RenderError::Qr("bad width".into()))?;
    let mut best: Option<(u32, Vec<bool>)> = None;
    for pattern in PATTERNS {
        let mut masked = canvas.clone();
        masked.apply_mask(pattern);
        let dark: Vec<bool> = masked
            .into_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        let score = penalty(&dark, width);
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, dark));
        }
    }
    match best {
        Some((_, dark)) => Ok(QrMatrix { width, dark }),
        None => Err(RenderError::Qr("no mask pattern".into())),
    }
}

/// Penalty of a masked symbol (ISO/IEC 18004 §7.8.3, scored as `qrcode` 0.14 scores it,
/// less a constant that does not change which mask wins).
fn penalty(dark: &[bool], n: usize) -> u32 {
    // Columns as rows, so that both directions scan contiguous memory.
    let mut columns = vec![false; n * n];
    for (y, row) in dark.chunks_exact(n).enumerate() {
        for (x, &d) in row.iter().enumerate() {
            columns[x * n + y] = d;
        }
    }
    let mut score: u32 = dark
        .chunks_exact(n)
        .chain(columns.chunks_exact(n))
        .map(line_penalty)
        .sum();
    // N2: every 2 x 2 block of one colour (overlaps counted) scores 3.
    for (top, bottom) in dark.chunks_exact(n).zip(dark.chunks_exact(n).skip(1)) {
        for x in 0..n - 1 {
            let c = top[x];
            if top[x + 1] == c && bottom[x] == c && bottom[x + 1] == c {
                score += 3;
            }
        }
    }
    // N4: distance of the dark share from 50%, in half-percent steps.
    let darks = dark.iter().filter(|&&d| d).count();
    let ratio = darks * 200 / dark.len();
    score + ratio.abs_diff(100) as u32
}

/// N1 and N3 of one row or column.
///
/// N1: a run of 5 + k modules of one colour scores 3 + k. N3: dark, light, dark x3, light,
/// dark (1:1:3:1:1) with no dark module in the four before it or in the four after it
/// (off the symbol counts as light) scores 40.
fn line_penalty(line: &[bool]) -> u32 {
    let n = line.len();
    let mut score = 0;
    let mut run = 1;
    for j in 1..=n {
        if j < n && line[j] == line[j - 1] {
            run += 1;
        } else {
            if run >= 5 {
                score += run - 2;
            }
            run = 1;
        }
    }
    let any_dark = |r: std::ops::Range<usize>| line[r].iter().any(|&d| d);
    for (j, w) in line.windows(7).enumerate() {
        if w == [true, false, true, true, true, false, true]
            && (!any_dark(j.saturating_sub(4)..j) || !any_dark(j + 7..(j + 11).min(n)))
        {
            score += 40;
        }
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use qrcode::QrCode;

    fn reference(data: &[u8]) -> Vec<bool> {
        QrCode::with_error_correction_level(data, EC_LEVEL)
            .unwrap()
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect()
    }

    #[test]
    fn same_symbol_as_qrcode_for_a_payload() {
        let p = b"AQhSRVMtQ09QWRMxMjM0LTU2NzgtOTAxMi0zNDU2AAAAAGq-lgA";
        let m = encode(p).unwrap();
        assert_eq!(m.dark, reference(p));
        assert_eq!(m.width * m.width, m.dark.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Any payload (byte, alphanumeric or numeric mode, many versions) gives exactly
        /// the symbol `qrcode` would choose: the same mask wins.
        #[test]
        fn same_symbol_as_qrcode(
            data in prop_oneof![
                "[A-Za-z0-9_-]{1,260}".prop_map(String::into_bytes),
                "[0-9]{1,300}".prop_map(String::into_bytes),
                prop::collection::vec(any::<u8>(), 1..200),
            ]
        ) {
            prop_assert_eq!(encode(&data).unwrap().dark, reference(&data));
        }
    }
}
