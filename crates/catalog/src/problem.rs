//! Problems found while loading configuration, each pinned to a file, line and field.
//!
//! A district clerk edits these files by hand. One run must list every mistake with the
//! place to fix it, so a load collects [`Problem`]s instead of stopping at the first one.

use core::fmt;
use core::ops::Range;

/// Where in a file something was written: 1-based line and column (columns count
/// characters, so Korean text lines up with what an editor shows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Turns byte offsets from the TOML parser into line and column numbers.
#[derive(Clone, Debug)]
pub(crate) struct LineIndex {
    text: String,
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            text: text.to_owned(),
            starts,
        }
    }

    /// The location of a byte offset; offsets past the end land on the last line.
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        // `starts[0] == 0`, so the partition point is at least 1.
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = match self.text.get(start..offset) {
            Some(prefix) => prefix.chars().count() + 1,
            // Not on a character boundary (should not happen with parser spans).
            None => offset - start + 1,
        };
        Location { line, column }
    }

    pub(crate) fn locate_span(&self, span: &Range<usize>) -> Location {
        self.locate(span.start)
    }
}

/// What is wrong, independent of where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// The file is larger than any sensible configuration.
    #[error("the file is {size} bytes; at most {max} are accepted")]
    FileTooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file is not UTF-8 text.
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    /// The TOML itself is malformed.
    #[error("TOML syntax error: {0}")]
    Syntax(String),
    /// A field this format does not know; usually a typo.
    #[error("unknown field; expected one of: {expected}")]
    UnknownField {
        /// The fields allowed here.
        expected: String,
    },
    /// A required field is absent.
    #[error("missing (required)")]
    Missing,
    /// A value of the wrong TOML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the format wants.
        expected: &'static str,
        /// What the file has.
        found: &'static str,
    },
    /// A text that must not be empty is empty.
    #[error("must not be empty")]
    Empty,
    /// A text longer than allowed.
    #[error("is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A code that breaks the code alphabet or length.
    #[error("invalid code {code:?}: {reason}")]
    InvalidCode {
        /// The code as written.
        code: String,
        /// Why it is refused.
        reason: String,
    },
    /// The same code or key appears twice.
    #[error("duplicate {what} {name:?} (first defined on line {first_line})")]
    Duplicate {
        /// What kind of name.
        what: &'static str,
        /// The name.
        name: String,
        /// Where it first appeared.
        first_line: usize,
    },
    /// A reference to something that is not defined.
    #[error("unknown {what} {name:?}{hint}")]
    Unknown {
        /// What kind of thing.
        what: &'static str,
        /// The name used.
        name: String,
        /// Extra help, e.g. the known names; may be empty.
        hint: String,
    },
    /// A number outside its allowed range.
    #[error("{value} is out of range; allowed {min} to {max}")]
    OutOfRange {
        /// The value written.
        value: i128,
        /// Smallest allowed.
        min: i128,
        /// Largest allowed.
        max: i128,
    },
    /// A fee that no combination of coins can pay exactly.
    #[error("{won} won is not a multiple of 10 won (the smallest coin)")]
    NotMultipleOfTen {
        /// The fee written.
        won: u64,
    },
    /// A fee for extra pages on a document that has at most one page.
    #[error("a fee per extra page makes no sense when max_pages is 1")]
    ExtraPageFeeOnSinglePage,
    /// An outside-district fee on a document issued only inside the district.
    #[error("an outside-district fee makes no sense on a local-only (관내) document")]
    OutsideFeeOnLocalOnly,
    /// An option's default that is not one of its choices.
    #[error("default {default:?} is not one of the choices ({choices})")]
    DefaultNotAChoice {
        /// The default written.
        default: String,
        /// The choices defined.
        choices: String,
    },
    /// A list longer than its bound.
    #[error("too many {what}: {count}; at most {max} are allowed")]
    TooMany {
        /// What is counted.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A date that is not a plain calendar date.
    #[error("bad date: {0}")]
    BadDate(String),
    /// A date range whose end is before its start.
    #[error("`until` {until} is before `from` {from}")]
    InvertedRange {
        /// Start of the range.
        from: String,
        /// End of the range.
        until: String,
    },
    /// Two fee ordinances for one document take effect on the same day.
    #[error("another fee change for {code} takes effect on {date} too (line {other_line})")]
    DuplicateEffectiveDate {
        /// The document.
        code: String,
        /// The shared date.
        date: String,
        /// The other entry.
        other_line: usize,
    },
    /// Two waivers cover the same document on overlapping dates.
    #[error("overlaps the waiver on line {other_line} for {code}")]
    OverlappingWaiver {
        /// A document both cover (or `all`).
        code: String,
        /// The other waiver.
        other_line: usize,
    },
    /// A fee change that changes nothing.
    #[error("sets no fee; give at least one of base, per_extra_page, outside_district")]
    NoFeeGiven,
    /// Enabling one document whose whole agency is disabled at this kiosk.
    #[error("agency {agency:?} is disabled at this kiosk, so this document cannot be enabled")]
    AgencyDisabled {
        /// The disabled agency.
        agency: String,
    },
}

/// One problem in one file, with where it is and which field it concerns.
///
/// Displays as `file:line:column: subject: field: message`, e.g.
/// `config/documents.toml:123:1: document FAM-RELATION: fee.base: missing (required)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file name as given to the loader.
    pub file: String,
    /// Where in the file.
    pub at: Location,
    /// The entry concerned, e.g. `document FAM-RELATION` or `waiver #2`; may be empty.
    pub subject: String,
    /// The field path within the entry, e.g. `fee.base`; may be empty.
    pub field: String,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.at)?;
        if !self.subject.is_empty() {
            write!(f, "{}: ", self.subject)?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.kind)
    }
}

/// Every problem found in one load, sorted by position; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.problems))]
pub struct Problems {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl Problems {
    pub(crate) fn new(mut problems: Vec<Problem>) -> Problems {
        problems.sort_by(|a, b| (&a.file, a.at).cmp(&(&b.file, b.at)));
        Problems { problems }
    }

    /// A single problem, for failures before any parsing (a missing file).
    pub(crate) fn single(file: &str, at: Location, kind: ProblemKind) -> Problems {
        Problems {
            problems: vec![Problem {
                file: file.to_owned(),
                at,
                subject: String::new(),
                field: String::new(),
                kind,
            }],
        }
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Always false: a `Problems` holds at least one problem. Here for clippy's sake and
    /// for callers that build their own.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Iterates the problems in file order.
    pub fn iter(&self) -> core::slice::Iter<'_, Problem> {
        self.problems.iter()
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = core::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.problems.iter()
    }
}

fn render(problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.to_string());
    }
    out
}

/// Collects problems for one file while it is being read.
#[derive(Debug)]
pub(crate) struct Sink {
    file: String,
    lines: LineIndex,
    problems: Vec<Problem>,
}

impl Sink {
    pub(crate) fn new(file: &str, text: &str) -> Sink {
        Sink {
            file: file.to_owned(),
            lines: LineIndex::new(text),
            problems: Vec::new(),
        }
    }

    pub(crate) fn locate(&self, span: &Range<usize>) -> Location {
        self.lines.locate_span(span)
    }

    pub(crate) fn report(
        &mut self,
        span: &Range<usize>,
        subject: &str,
        field: &str,
        kind: ProblemKind,
    ) {
        let at = self.locate(span);
        self.report_at(at, subject, field, kind);
    }

    pub(crate) fn report_at(
        &mut self,
        at: Location,
        subject: &str,
        field: &str,
        kind: ProblemKind,
    ) {
        self.problems.push(Problem {
            file: self.file.clone(),
            at,
            subject: subject.to_owned(),
            field: field.to_owned(),
            kind,
        });
    }

    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    pub(crate) fn finish(self) -> Result<(), Problems> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Problems::new(self.problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_characters() {
        let idx = LineIndex::new("a = 1\nname_ko = \"토지\" x\n\nlast");
        assert_eq!(idx.locate(0), Location { line: 1, column: 1 });
        assert_eq!(idx.locate(4), Location { line: 1, column: 5 });
        assert_eq!(idx.locate(6), Location { line: 2, column: 1 });
        // `x` follows two 3-byte Hangul syllables: byte 24, character column 16.
        let x = "a = 1\nname_ko = \"토지\" x".len() - 1;
        assert_eq!(
            idx.locate(x),
            Location {
                line: 2,
                column: 16
            }
        );
        assert_eq!(idx.locate(x + 2), Location { line: 3, column: 1 });
        // Past the end lands on the last line; never panics.
        assert_eq!(idx.locate(10_000).line, 4);
        // Inside a multi-byte character: a byte column, no panic.
        assert_eq!(idx.locate(18).line, 2);
    }

    #[test]
    fn problems_display_one_per_line_in_file_order() {
        let mut sink = Sink::new("f.toml", "a\nb\nc\n");
        sink.report(&(4..5), "document X", "fee.base", ProblemKind::Missing);
        sink.report(&(0..1), "", "a", ProblemKind::Empty);
        let p = sink.finish().expect_err("two problems");
        assert_eq!(
            p.to_string(),
            "f.toml:1:1: a: must not be empty\nf.toml:3:1: document X: fee.base: missing (required)"
        );
    }
}
