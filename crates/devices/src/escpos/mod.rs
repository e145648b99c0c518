//! ESC/POS for the receipt printer: the real-time status codec, the receipt renderer, the
//! stream parser the simulator (and the fuzzer) read the bytes back with, and the driver in
//! [`printer`]. Everything here but the driver is pure and never panics.
//!
//! **Hangul goes out as text in the printer's KS X 1001 code page** (EUC-KR bytes in the
//! printer's two-byte mode), not as a raster image: two bytes per syllable instead of about
//! 72 for a 24-dot bitmap, no font or rasteriser in the daemon, the printer's own crisp ROM
//! font, and bytes that can be read back as text (the simulator and tests assert exactly what
//! was printed). EUC-KR also keeps every byte of a two-byte character at 0xA1 or above, so
//! text can never be mistaken for a command (`DLE`, `ESC`, `GS` are all below 0x20). The cost:
//! the 8,822 syllables CP949 adds beyond KS X 1001 (e.g. `똠`) are not in the printers' fonts;
//! [`render`] refuses them with [`RenderError::NotInKsX1001`] rather than printing garbage.

pub mod parse;
pub mod printer;

use serde::{Deserialize, Serialize};

/// Escape: starts most commands.
pub const ESC: u8 = 0x1B;
/// Group separator: starts the `GS` commands (cut, character size).
pub const GS: u8 = 0x1D;
/// File separator: starts the `FS` (two-byte character) commands.
pub const FS: u8 = 0x1C;
/// Data link escape: starts real-time commands.
pub const DLE: u8 = 0x10;
/// End of transmission: `DLE EOT n` asks for real-time status.
pub const EOT: u8 = 0x04;
/// Line feed: prints the line buffer and feeds one line.
pub const LF: u8 = 0x0A;
/// Carriage return (ignored by most printers in the default setting).
pub const CR: u8 = 0x0D;

/// The most text lines one receipt may have (a receipt is a short slip; this bounds the
/// bytes of one job).
pub const MAX_LINES: usize = 200;

/// Which status a `DLE EOT n` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StatusKind {
    /// n = 1: printer status (offline).
    Printer,
    /// n = 2: why it is offline (cover open, stopped by paper end, error).
    OfflineCause,
    /// n = 4: the roll paper sensors (near end, end).
    RollPaper,
}

impl StatusKind {
    /// The three kinds, in the order the driver asks for them.
    pub const ALL: [StatusKind; 3] = [
        StatusKind::Printer,
        StatusKind::OfflineCause,
        StatusKind::RollPaper,
    ];

    /// The `n` of `DLE EOT n`.
    pub fn n(self) -> u8 {
        match self {
            StatusKind::Printer => 1,
            StatusKind::OfflineCause => 2,
            StatusKind::RollPaper => 4,
        }
    }

    /// The kind asked for by `n`, if it is one we read.
    pub fn from_n(n: u8) -> Option<StatusKind> {
        match n {
            1 => Some(StatusKind::Printer),
            2 => Some(StatusKind::OfflineCause),
            4 => Some(StatusKind::RollPaper),
            _ => None,
        }
    }

    /// The request bytes `DLE EOT n`.
    pub fn request(self) -> [u8; 3] {
        [DLE, EOT, self.n()]
    }
}

/// Where one printer model puts its status bits. Kiosk printers differ (some have one
/// near-end sensor, some two; some move the error bit), so each model gets its own profile,
/// kept in configuration. Every field is a mask: a condition holds when any of its bits is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatusProfile {
    /// The bits fixed in every status byte ...
    pub marker_mask: u8,
    /// ... and their values: `(b & marker_mask) == marker_value` marks a status byte.
    pub marker_value: u8,
    /// n = 1: offline.
    pub offline: u8,
    /// n = 2: cover open.
    pub cover_open: u8,
    /// n = 2: printing stopped by paper end.
    pub stopped_by_paper_end: u8,
    /// n = 2: an error (cutter, head temperature, ...).
    pub error: u8,
    /// n = 4: paper near end (any of the near-end sensors).
    pub paper_near_end: u8,
    /// n = 4: paper end.
    pub paper_end: u8,
}

impl StatusProfile {
    /// The Epson ESC/POS layout most Korean kiosk printers follow: marker `0x93`/`0x12`;
    /// n=1 bit 3 offline; n=2 bit 2 cover open, bit 5 stopped by paper end, bit 6 error;
    /// n=4 bits 2-3 near end, bits 5-6 end.
    pub const STANDARD: StatusProfile = StatusProfile {
        marker_mask: 0x93,
        marker_value: 0x12,
        offline: 0x08,
        cover_open: 0x04,
        stopped_by_paper_end: 0x20,
        error: 0x40,
        paper_near_end: 0x0C,
        paper_end: 0x60,
    };

    /// Whether `b` is a status byte at all.
    pub fn is_status_byte(&self, b: u8) -> bool {
        b & self.marker_mask == self.marker_value
    }

    /// Checks that no condition uses a bit the marker fixes (such a condition could never
    /// be seen, or would be seen always).
    pub fn check(&self) -> Result<(), ProfileError> {
        let fields = [
            ("offline", self.offline),
            ("cover_open", self.cover_open),
            ("stopped_by_paper_end", self.stopped_by_paper_end),
            ("error", self.error),
            ("paper_near_end", self.paper_near_end),
            ("paper_end", self.paper_end),
        ];
        if self.marker_value & !self.marker_mask != 0 {
            return Err(ProfileError::Marker);
        }
        for (name, mask) in fields {
            if mask == 0 || mask & self.marker_mask != 0 {
                return Err(ProfileError::Field(name));
            }
        }
        Ok(())
    }
}

impl Default for StatusProfile {
    fn default() -> Self {
        StatusProfile::STANDARD
    }
}

/// A status profile that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The marker value has bits outside the marker mask.
    #[error("status profile: marker value has bits outside its mask")]
    Marker,
    /// A condition's mask is empty or overlaps the marker bits.
    #[error("status profile: `{0}` is empty or overlaps the marker bits")]
    Field(&'static str),
}

/// A byte that is not the answer to a status request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The fixed bits do not match the profile's marker.
    #[error("0x{0:02X} is not a status byte")]
    NotAStatusByte(u8),
}

/// What the printer last said about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrinterStatus {
    /// Offline (n = 1).
    pub offline: bool,
    /// The cover is open (n = 2).
    pub cover_open: bool,
    /// Printing stopped because the paper ran out (n = 2).
    pub stopped_by_paper_end: bool,
    /// An error (n = 2): cutter, head, voltage.
    pub error: bool,
    /// The roll is nearly used up (n = 4): warn staff, still print.
    pub paper_near_end: bool,
    /// The roll is used up (n = 4).
    pub paper_end: bool,
}

impl PrinterStatus {
    /// Updates the fields that `kind` reports from its status byte; on error nothing changes.
    pub fn apply(
        &mut self,
        profile: &StatusProfile,
        kind: StatusKind,
        b: u8,
    ) -> Result<(), StatusError> {
        if !profile.is_status_byte(b) {
            return Err(StatusError::NotAStatusByte(b));
        }
        let has = |mask: u8| b & mask != 0;
        match kind {
            StatusKind::Printer => self.offline = has(profile.offline),
            StatusKind::OfflineCause => {
                self.cover_open = has(profile.cover_open);
                self.stopped_by_paper_end = has(profile.stopped_by_paper_end);
                self.error = has(profile.error);
            }
            StatusKind::RollPaper => {
                self.paper_near_end = has(profile.paper_near_end);
                self.paper_end = has(profile.paper_end);
            }
        }
        Ok(())
    }

    /// The status byte a printer with this profile sends for `kind` (the simulator's side).
    pub fn encode(&self, profile: &StatusProfile, kind: StatusKind) -> u8 {
        let bit = |on: bool, mask: u8| if on { mask } else { 0 };
        let bits = match kind {
            StatusKind::Printer => bit(self.offline, profile.offline),
            StatusKind::OfflineCause => {
                bit(self.cover_open, profile.cover_open)
                    | bit(self.stopped_by_paper_end, profile.stopped_by_paper_end)
                    | bit(self.error, profile.error)
            }
            StatusKind::RollPaper => {
                bit(self.paper_near_end, profile.paper_near_end)
                    | bit(self.paper_end, profile.paper_end)
            }
        };
        (bits & !profile.marker_mask) | profile.marker_value
    }

    /// Why a receipt cannot be printed now, in words; `None` when it can.
    pub fn refusal(&self) -> Option<&'static str> {
        if self.paper_end || self.stopped_by_paper_end {
            Some("paper end")
        } else if self.cover_open {
            Some("cover open")
        } else if self.error {
            Some("printer error")
        } else if self.offline {
            Some("offline")
        } else {
            None
        }
    }

    /// Whether a receipt can be printed now.
    pub fn can_print(&self) -> bool {
        self.refusal().is_none()
    }
}

/// How a model selects its KS X 1001 font.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HangulMode {
    /// `ESC R 13` (Korea) and `FS &` (two-byte character mode), closed with `FS .`: the
    /// Epson-compatible way of the Korean models.
    TwoByteMode,
    /// `ESC t n`: a model that exposes KS X 1001 as code table `n`.
    CodeTable(u8),
}

/// What the renderer needs to know about a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrinterModel {
    /// Where its status bits are.
    pub status: StatusProfile,
    /// How it selects Hangul.
    pub hangul: HangulMode,
    /// Columns of one line in the default font (48 on 80 mm paper, 32 on 58 mm). A Hangul
    /// syllable takes two.
    pub columns: u8,
    /// Lines fed before the cut, so the last line clears the cutter.
    pub feed_before_cut: u8,
}

impl PrinterModel {
    /// Columns of the default model: 80 mm paper.
    pub const DEFAULT_COLUMNS: u8 = 48;
}

impl Default for PrinterModel {
    fn default() -> Self {
        PrinterModel {
            status: StatusProfile::STANDARD,
            hangul: HangulMode::TwoByteMode,
            columns: Self::DEFAULT_COLUMNS,
            feed_before_cut: 4,
        }
    }
}

/// How the paper is cut after the receipt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cut {
    /// Cut through.
    #[default]
    Full,
    /// Leave a tab so the slip does not fall.
    Partial,
}

/// A receipt as the kiosk means it: plain data, rendered to bytes by [`render`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Receipt {
    /// The lines, top to bottom.
    pub lines: Vec<String>,
    /// A refund the kiosk owes (change it could not pay), printed emphasised after the
    /// lines so the citizen and staff cannot miss it.
    pub iou: Option<String>,
    /// The cut at the end.
    pub cut: Cut,
}

/// A receipt that cannot be rendered. Nothing is sent for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// More lines than [`MAX_LINES`].
    #[error("receipt has {count} lines, at most {max} allowed")]
    TooManyLines {
        /// Lines given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A line wider than the paper.
    #[error("line {line} is {columns} columns wide, the paper has {max}")]
    LineTooLong {
        /// Line index (the IOU line counts after the others).
        line: usize,
        /// Its width.
        columns: usize,
        /// The model's width.
        max: usize,
    },
    /// A control character (it would be a printer command).
    #[error("line {line} contains control character U+{ch:04X}")]
    ControlCharacter {
        /// Line index.
        line: usize,
        /// The character's code point.
        ch: u32,
    },
    /// A character outside ASCII and KS X 1001 (the printer has no glyph for it).
    #[error("line {line}: {ch:?} is not in KS X 1001")]
    NotInKsX1001 {
        /// Line index.
        line: usize,
        /// The character.
        ch: char,
    },
}

/// Encodes one line to the printer's bytes: printable ASCII as is, everything else as a
/// KS X 1001 (EUC-KR) pair. Fails on control characters and on characters the font lacks.
pub fn encode_line(text: &str, line: usize) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::with_capacity(text.len());
    let mut utf8 = [0u8; 4];
    for ch in text.chars() {
        let c = u32::from(ch);
        if ch.is_control() {
            return Err(RenderError::ControlCharacter { line, ch: c });
        }
        if ch.is_ascii() {
            out.push(c as u8);
            continue;
        }
        let (bytes, _, had_errors) = encoding_rs::EUC_KR.encode(ch.encode_utf8(&mut utf8));
        match &*bytes {
            [a, b] if !had_errors && *a >= 0xA1 && *b >= 0xA1 => out.extend_from_slice(&[*a, *b]),
            _ => return Err(RenderError::NotInKsX1001 { line, ch }),
        }
    }
    Ok(out)
}

/// Decodes printer bytes of one line back to text (the simulator's side); bytes that are
/// not KS X 1001 come back as U+FFFD.
pub fn decode_line(bytes: &[u8]) -> String {
    let (text, _) = encoding_rs::EUC_KR.decode_without_bom_handling(bytes);
    text.into_owned()
}

/// Renders a receipt to the bytes of one print job: initialise, select Hangul, the lines,
/// the IOU line emphasised (bold, double height), feed, cut. Pure; refuses a receipt that
/// would not print as meant.
pub fn render(receipt: &Receipt, model: &PrinterModel) -> Result<Vec<u8>, RenderError> {
    let count = receipt.lines.len() + usize::from(receipt.iou.is_some());
    if count > MAX_LINES {
        return Err(RenderError::TooManyLines {
            count,
            max: MAX_LINES,
        });
    }
    let max = usize::from(model.columns);
    let encoded = |i: usize, text: &str| {
        let bytes = encode_line(text, i)?;
        if bytes.len() > max {
            return Err(RenderError::LineTooLong {
                line: i,
                columns: bytes.len(),
                max,
            });
        }
        Ok(bytes)
    };
    let mut out = vec![ESC, b'@'];
    match model.hangul {
        HangulMode::TwoByteMode => out.extend_from_slice(&[ESC, b'R', 13, FS, b'&']),
        HangulMode::CodeTable(n) => out.extend_from_slice(&[ESC, b't', n]),
    }
    for (i, line) in receipt.lines.iter().enumerate() {
        out.extend(encoded(i, line)?);
        out.push(LF);
    }
    if let Some(iou) = &receipt.iou {
        let bytes = encoded(receipt.lines.len(), iou)?;
        out.extend_from_slice(&[ESC, b'E', 1, GS, b'!', 0x01]);
        out.extend(bytes);
        out.extend_from_slice(&[LF, GS, b'!', 0, ESC, b'E', 0]);
    }
    if model.hangul == HangulMode::TwoByteMode {
        out.extend_from_slice(&[FS, b'.']);
    }
    out.extend_from_slice(&[ESC, b'd', model.feed_before_cut]);
    out.extend_from_slice(&[
        GS,
        b'V',
        match receipt.cut {
            Cut::Full => 0,
            Cut::Partial => 1,
        },
    ]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn standard_bits_read_as_documented() {
        let p = StatusProfile::STANDARD;
        p.check().unwrap();
        let mut s = PrinterStatus::default();
        s.apply(&p, StatusKind::Printer, 0x12 | 0x08).unwrap();
        assert!(s.offline);
        s.apply(&p, StatusKind::OfflineCause, 0x12 | 0x04).unwrap();
        assert!(s.cover_open && !s.stopped_by_paper_end && !s.error);
        s.apply(&p, StatusKind::OfflineCause, 0x12 | 0x20 | 0x40)
            .unwrap();
        assert!(!s.cover_open && s.stopped_by_paper_end && s.error);
        s.apply(&p, StatusKind::RollPaper, 0x12 | 0x0C).unwrap();
        assert!(s.paper_near_end && !s.paper_end);
        s.apply(&p, StatusKind::RollPaper, 0x12 | 0x60).unwrap();
        assert!(!s.paper_near_end && s.paper_end);
        assert_eq!(s.refusal(), Some("paper end"));
        // One sensor of a pair is enough.
        s.apply(&p, StatusKind::RollPaper, 0x12 | 0x04).unwrap();
        assert!(s.paper_near_end);
        let before = s;
        assert_eq!(
            s.apply(&p, StatusKind::RollPaper, 0x13),
            Err(StatusError::NotAStatusByte(0x13))
        );
        assert_eq!(s, before);
    }

    #[test]
    fn a_profile_with_other_bits_is_honoured() {
        // A model with one near-end bit (2) and one end bit (5).
        let p = StatusProfile {
            paper_near_end: 0x04,
            paper_end: 0x20,
            ..StatusProfile::STANDARD
        };
        p.check().unwrap();
        let mut s = PrinterStatus::default();
        s.apply(&p, StatusKind::RollPaper, 0x12 | 0x08 | 0x40)
            .unwrap();
        assert!(!s.paper_near_end && !s.paper_end);
        assert!(
            StatusProfile {
                error: 0x02,
                ..StatusProfile::STANDARD
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn render_selects_hangul_and_cuts() {
        let r = Receipt {
            lines: vec!["수수료 1,200원".into()],
            iou: None,
            cut: Cut::Partial,
        };
        let b = render(&r, &PrinterModel::default()).unwrap();
        assert_eq!(&b[..7], &[ESC, b'@', ESC, b'R', 13, FS, b'&']);
        assert_eq!(&b[b.len() - 3..], &[GS, b'V', 1]);
        // 수 is BC F6 in KS X 1001.
        assert_eq!(&b[7..9], &[0xBC, 0xF6]);
    }

    #[test]
    fn render_refuses_what_would_not_print() {
        let m = PrinterModel::default();
        let one = |s: &str| Receipt {
            lines: vec![s.into()],
            ..Receipt::default()
        };
        assert!(matches!(
            render(&one("똠"), &m),
            Err(RenderError::NotInKsX1001 { line: 0, ch: '똠' })
        ));
        assert!(matches!(
            render(&one("a\u{1b}@"), &m),
            Err(RenderError::ControlCharacter { ch: 0x1B, .. })
        ));
        assert!(matches!(
            render(&one("\u{10}\u{4}\u{1}"), &m),
            Err(RenderError::ControlCharacter { ch: 0x10, .. })
        ));
        assert!(matches!(
            render(&one(&"가".repeat(25)), &m),
            Err(RenderError::LineTooLong {
                columns: 50,
                max: 48,
                ..
            })
        ));
        let many = Receipt {
            lines: vec!["x".into(); MAX_LINES + 1],
            ..Receipt::default()
        };
        assert!(matches!(
            render(&many, &m),
            Err(RenderError::TooManyLines { .. })
        ));
    }

    fn kind() -> impl Strategy<Value = StatusKind> {
        prop_oneof![
            Just(StatusKind::Printer),
            Just(StatusKind::OfflineCause),
            Just(StatusKind::RollPaper)
        ]
    }

    fn profile() -> impl Strategy<Value = StatusProfile> {
        (any::<[u8; 8]>()).prop_map(|b| StatusProfile {
            marker_mask: b[0],
            marker_value: b[1],
            offline: b[2],
            cover_open: b[3],
            stopped_by_paper_end: b[4],
            error: b[5],
            paper_near_end: b[6],
            paper_end: b[7],
        })
    }

    proptest! {
        #[test]
        fn status_parsing_never_panics(p in profile(), k in kind(), b in any::<u8>()) {
            let mut s = PrinterStatus::default();
            let before = s;
            match s.apply(&p, k, b) {
                Ok(()) => prop_assert!(p.is_status_byte(b)),
                Err(_) => prop_assert_eq!(s, before),
            }
        }

        #[test]
        fn encoded_status_reads_back(
            flags in any::<[bool; 6]>(),
            k in kind(),
        ) {
            let p = StatusProfile::STANDARD;
            let s = PrinterStatus {
                offline: flags[0],
                cover_open: flags[1],
                stopped_by_paper_end: flags[2],
                error: flags[3],
                paper_near_end: flags[4],
                paper_end: flags[5],
            };
            let b = s.encode(&p, k);
            prop_assert!(p.is_status_byte(b));
            let mut all = PrinterStatus::default();
            for k in StatusKind::ALL {
                all.apply(&p, k, s.encode(&p, k)).unwrap();
            }
            prop_assert_eq!(all, s);
        }

        #[test]
        fn only_marked_bytes_are_status(b in any::<u8>()) {
            let p = StatusProfile::STANDARD;
            prop_assert_eq!(p.is_status_byte(b), b & 0x93 == 0x12);
        }

        #[test]
        fn rendered_text_never_contains_a_command_byte(
            s in prop_oneof!["\\PC{0,20}", "[가-힣a-z0-9 ,.]{0,20}"],
        ) {
            if let Ok(bytes) = encode_line(&s, 0) {
                prop_assert!(bytes.iter().all(|&b| b >= 0x20 && b != 0x7F));
                prop_assert_eq!(decode_line(&bytes), s);
            }
        }
    }
}
