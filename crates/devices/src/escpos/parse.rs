//! Reading an ESC/POS byte stream the way a printer does: [`Parser`] turns bytes into
//! [`Command`]s one byte at a time, and [`ReceiptReader`] turns commands into the
//! [`PrintedReceipt`]s that came out of the printer. The simulator is built on both; the
//! fuzzer feeds them arbitrary bytes. Pure, bounded and panic-free.

use serde::{Deserialize, Serialize};

use super::{CR, Cut, DLE, EOT, ESC, FS, GS, HangulMode, LF, decode_line};

/// Bytes of one printed line kept before the reader wraps it (the paper would wrap too).
pub const MAX_LINE_BYTES: usize = 512;
/// Lines of one receipt kept before the rest is counted but not kept.
pub const MAX_RECEIPT_LINES: usize = 1024;

/// One command of the stream, as the printer understood it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `ESC @`: initialise (modes back to default, the unprinted line buffer cleared).
    Init,
    /// A byte of text.
    Text(u8),
    /// `LF`: print the line.
    LineFeed,
    /// `CR`: ignored.
    CarriageReturn,
    /// `ESC E n`: emphasis on (n bit 0) or off.
    Emphasis(bool),
    /// `GS ! n`: character size (bits 0-2 height, 4-6 width, minus one).
    CharacterSize(u8),
    /// `ESC R n`: international character set.
    InternationalSet(u8),
    /// `ESC t n`: character code table.
    CodeTable(u8),
    /// `FS &`: two-byte (KS X 1001) character mode on.
    TwoByteOn,
    /// `FS .`: two-byte character mode off.
    TwoByteOff,
    /// `ESC d n`: print and feed n lines.
    Feed(u8),
    /// `GS V m` or `GS V m n`: cut, after feeding n lines if given.
    Cut {
        /// Partial or full.
        cut: Cut,
        /// Lines fed first.
        feed: Option<u8>,
    },
    /// `DLE EOT n`: real-time status request.
    StatusRequest(u8),
    /// A setting this reader does not model (`ESC ! n`, `ESC a n`, `ESC - n`, `ESC J n`):
    /// prefix, command and argument.
    Setting(u8, u8, u8),
    /// Bytes that are no command this reader knows (at most 3).
    Unknown(Vec<u8>),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Ground,
    Esc,
    EscArg(u8),
    Gs,
    GsArg(u8),
    GsCutFeed(u8),
    Fs,
    Dle,
    DleEot,
}

/// The incremental ESC/POS parser. Holds at most two bytes of an unfinished command.
#[derive(Clone, Debug, Default)]
pub struct Parser {
    state: State,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Feeds one byte; returns the command it completes, if any.
    pub fn push(&mut self, b: u8) -> Option<Command> {
        let (next, out) = match self.state {
            State::Ground => match b {
                ESC => (State::Esc, None),
                GS => (State::Gs, None),
                FS => (State::Fs, None),
                DLE => (State::Dle, None),
                LF => (State::Ground, Some(Command::LineFeed)),
                CR => (State::Ground, Some(Command::CarriageReturn)),
                b if b < 0x20 || b == 0x7F => (State::Ground, Some(Command::Unknown(vec![b]))),
                b => (State::Ground, Some(Command::Text(b))),
            },
            State::Esc => match b {
                b'@' => (State::Ground, Some(Command::Init)),
                b'E' | b'R' | b't' | b'd' | b'!' | b'a' | b'-' | b'J' => (State::EscArg(b), None),
                b => (State::Ground, Some(Command::Unknown(vec![ESC, b]))),
            },
            State::EscArg(c) => (
                State::Ground,
                Some(match c {
                    b'E' => Command::Emphasis(b & 1 == 1),
                    b'R' => Command::InternationalSet(b),
                    b't' => Command::CodeTable(b),
                    b'd' => Command::Feed(b),
                    c => Command::Setting(ESC, c, b),
                }),
            ),
            State::Gs => match b {
                b'!' | b'V' => (State::GsArg(b), None),
                b => (State::Ground, Some(Command::Unknown(vec![GS, b]))),
            },
            State::GsArg(b'!') => (State::Ground, Some(Command::CharacterSize(b))),
            State::GsArg(_) => match b {
                0 | 48 => (State::Ground, Some(cut(Cut::Full, None))),
                1 | 49 => (State::Ground, Some(cut(Cut::Partial, None))),
                65 | 66 => (State::GsCutFeed(b), None),
                b => (State::Ground, Some(Command::Unknown(vec![GS, b'V', b]))),
            },
            State::GsCutFeed(m) => {
                let kind = if m == 66 { Cut::Partial } else { Cut::Full };
                (State::Ground, Some(cut(kind, Some(b))))
            }
            State::Fs => match b {
                b'&' => (State::Ground, Some(Command::TwoByteOn)),
                b'.' => (State::Ground, Some(Command::TwoByteOff)),
                b => (State::Ground, Some(Command::Unknown(vec![FS, b]))),
            },
            State::Dle => match b {
                EOT => (State::DleEot, None),
                b => (State::Ground, Some(Command::Unknown(vec![DLE, b]))),
            },
            State::DleEot => (State::Ground, Some(Command::StatusRequest(b))),
        };
        self.state = next;
        out
    }

    /// Whether a command is half-read.
    pub fn is_mid_command(&self) -> bool {
        self.state != State::Ground
    }
}

fn cut(cut: Cut, feed: Option<u8>) -> Command {
    Command::Cut { cut, feed }
}

/// One printed line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintedLine {
    /// The text, decoded from the printer's code page (U+FFFD where the bytes were not text
    /// in the selected code page).
    pub text: String,
    /// Printed in emphasis (bold).
    pub emphasized: bool,
    /// Printed at more than normal height.
    pub tall: bool,
}

/// One receipt that came out of the printer and was cut off.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintedReceipt {
    /// Its lines, top to bottom (blank feed lines not included).
    pub lines: Vec<PrintedLine>,
    /// Lines beyond [`MAX_RECEIPT_LINES`], counted but not kept.
    pub lines_dropped: usize,
    /// How it was cut.
    pub cut: Cut,
}

impl PrintedReceipt {
    /// The text of every line.
    pub fn texts(&self) -> Vec<String> {
        self.lines.iter().map(|l| l.text.clone()).collect()
    }
}

/// The paper path: text and modes in, cut receipts out.
#[derive(Clone, Debug)]
pub struct ReceiptReader {
    hangul: HangulMode,
    korean: bool,
    emphasized: bool,
    tall: bool,
    line: Vec<u8>,
    current: PrintedReceipt,
}

impl ReceiptReader {
    /// A reader for a printer that shows Hangul in `hangul` mode only.
    pub fn new(hangul: HangulMode) -> ReceiptReader {
        ReceiptReader {
            hangul,
            korean: false,
            emphasized: false,
            tall: false,
            line: Vec::new(),
            current: PrintedReceipt::default(),
        }
    }

    /// Applies one command; returns the receipt it cut off, if any. Status requests are the
    /// caller's business and change nothing here.
    pub fn apply(&mut self, cmd: &Command) -> Option<PrintedReceipt> {
        match *cmd {
            Command::Init => {
                self.line.clear();
                self.korean = false;
                self.emphasized = false;
                self.tall = false;
            }
            Command::Text(b) => {
                if self.line.len() >= MAX_LINE_BYTES {
                    self.print_line();
                }
                self.line.push(b);
            }
            Command::LineFeed => self.print_line(),
            Command::Feed(_) => {
                if !self.line.is_empty() {
                    self.print_line();
                }
            }
            Command::Emphasis(on) => self.emphasized = on,
            Command::CharacterSize(n) => self.tall = n & 0x07 != 0,
            Command::TwoByteOn => self.korean |= self.hangul == HangulMode::TwoByteMode,
            Command::TwoByteOff => {
                if self.hangul == HangulMode::TwoByteMode {
                    self.korean = false;
                }
            }
            Command::CodeTable(n) => {
                if let HangulMode::CodeTable(t) = self.hangul {
                    self.korean = n == t;
                }
            }
            Command::Cut { .. } => {
                if !self.line.is_empty() {
                    self.print_line();
                }
                let mut done = std::mem::take(&mut self.current);
                if let Command::Cut { cut, .. } = *cmd {
                    done.cut = cut;
                }
                return Some(done);
            }
            Command::CarriageReturn
            | Command::InternationalSet(_)
            | Command::StatusRequest(_)
            | Command::Setting(..)
            | Command::Unknown(_) => {}
        }
        None
    }

    /// Lines printed since the last cut (still on the paper, not cut off yet).
    pub fn uncut(&self) -> &PrintedReceipt {
        &self.current
    }

    fn print_line(&mut self) {
        let bytes = std::mem::take(&mut self.line);
        let text = if self.korean {
            decode_line(&bytes)
        } else {
            // Without the Korean font selected, bytes above ASCII are some other code
            // page's symbols: show them as unreadable.
            bytes
                .iter()
                .map(|&b| if b < 0x80 { char::from(b) } else { '\u{FFFD}' })
                .collect()
        };
        if self.current.lines.len() >= MAX_RECEIPT_LINES {
            self.current.lines_dropped = self.current.lines_dropped.saturating_add(1);
            return;
        }
        self.current.lines.push(PrintedLine {
            text,
            emphasized: self.emphasized,
            tall: self.tall,
        });
    }
}

/// Reads a whole byte stream: the receipts cut off in it, in order.
pub fn read_receipts(bytes: &[u8], hangul: HangulMode) -> Vec<PrintedReceipt> {
    let mut parser = Parser::new();
    let mut reader = ReceiptReader::new(hangul);
    bytes
        .iter()
        .filter_map(|&b| parser.push(b))
        .filter_map(|c| reader.apply(&c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escpos::{PrinterModel, Receipt, encode_line, render};
    use proptest::prelude::*;

    #[test]
    fn commands_are_recognised() {
        let bytes = [
            ESC, b'@', FS, b'&', DLE, EOT, 2, b'A', GS, b'V', 66, 3, ESC, b'Z', 0x07,
        ];
        let mut p = Parser::new();
        let cmds: Vec<Command> = bytes.iter().filter_map(|&b| p.push(b)).collect();
        assert_eq!(
            cmds,
            vec![
                Command::Init,
                Command::TwoByteOn,
                Command::StatusRequest(2),
                Command::Text(b'A'),
                Command::Cut {
                    cut: Cut::Partial,
                    feed: Some(3)
                },
                Command::Unknown(vec![ESC, b'Z']),
                Command::Unknown(vec![0x07]),
            ]
        );
    }

    #[test]
    fn hangul_without_the_font_selected_is_unreadable() {
        let mut bytes = vec![ESC, b'@'];
        bytes.extend(crate::escpos::encode_line("가", 0).unwrap());
        bytes.extend([LF, GS, b'V', 0]);
        let r = read_receipts(&bytes, HangulMode::TwoByteMode);
        assert_eq!(r[0].texts(), vec!["\u{FFFD}\u{FFFD}"]);
    }

    /// Hangul syllables of KS X 1001 (rows 0xB0..=0xC8), mixed with ASCII.
    fn ks_hangul() -> impl Strategy<Value = String> {
        proptest::collection::vec((0xB0u8..=0xC8, 0xA1u8..=0xFE, "[ -~]{0,2}"), 0..16).prop_map(
            |v| {
                v.into_iter()
                    .map(|(a, b, ascii)| crate::escpos::decode_line(&[a, b]) + &ascii)
                    .collect()
            },
        )
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof!["[ -~]{0,40}", "[가-힣]{0,20}", ks_hangul(), ks_hangul()]
    }

    proptest! {
        #[test]
        fn parser_is_total_and_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut p = Parser::new();
            let mut r = ReceiptReader::new(HangulMode::TwoByteMode);
            for &b in &bytes {
                if let Some(c) = p.push(b) {
                    let _ = r.apply(&c);
                }
                prop_assert!(r.line.len() <= MAX_LINE_BYTES);
            }
        }

        #[test]
        fn rendered_receipts_read_back_exactly(
            lines in proptest::collection::vec(line(), 0..12),
            iou in proptest::option::of(line()),
            partial in any::<bool>(),
            table in any::<bool>(),
        ) {
            let model = PrinterModel {
                hangul: if table { HangulMode::CodeTable(21) } else { HangulMode::TwoByteMode },
                ..PrinterModel::default()
            };
            let receipt = Receipt {
                lines,
                iou,
                cut: if partial { Cut::Partial } else { Cut::Full },
            };
            let rendered = render(&receipt, &model);
            // Only lines with syllables outside KS X 1001 or too wide are refused.
            if receipt.lines.iter().chain(&receipt.iou).all(|l| {
                l.chars().all(|c| c.is_ascii() || encode_line(&c.to_string(), 0).is_ok())
                    && encode_line(l, 0).is_ok_and(|b| b.len() <= 48)
            }) {
                prop_assert!(rendered.is_ok(), "{:?}", rendered);
            }
            if let Ok(bytes) = rendered {
                let printed = read_receipts(&bytes, model.hangul);
                prop_assert_eq!(printed.len(), 1);
                let mut want = receipt.lines.clone();
                want.extend(receipt.iou.clone());
                prop_assert_eq!(printed[0].texts(), want);
                prop_assert_eq!(printed[0].cut, receipt.cut);
                for (i, l) in printed[0].lines.iter().enumerate() {
                    let is_iou = receipt.iou.is_some() && i == receipt.lines.len();
                    prop_assert_eq!(l.emphasized, is_iou);
                    prop_assert_eq!(l.tall, is_iou);
                }
            }
        }
    }
}
