//! Reading a parsed TOML tree field by field, reporting every problem with its span.
//!
//! Serde's derive stops at the first error; a clerk fixing a file wants all of them. So
//! the loaders walk `toml::de::DeTable` (which keeps byte spans) by hand through these
//! helpers, which report into a [`Sink`] and return `None` for anything unusable.

use core::ops::Range;

use jiff::civil::Date;
use kiosk_core::Won;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::problem::{ProblemKind, Sink};

/// A parsed value with its span.
pub(crate) type Val<'i> = Spanned<DeValue<'i>>;

/// The largest fee, extra-page fee or surcharge accepted, in won. Real kiosk fees are at
/// most a few thousand won; this bound keeps all arithmetic far from overflow.
pub const MAX_FEE_WON: u64 = 1_000_000;

/// The longest name or free text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// One table being read: its contents, where it is, and how to name it in messages.
pub(crate) struct Entry<'a, 'i> {
    pub(crate) table: &'a DeTable<'i>,
    pub(crate) span: Range<usize>,
    pub(crate) subject: String,
    pub(crate) prefix: String,
}

impl<'a, 'i> Entry<'a, 'i> {
    pub(crate) fn new(
        table: &'a DeTable<'i>,
        span: Range<usize>,
        subject: String,
    ) -> Entry<'a, 'i> {
        Entry {
            table,
            span,
            subject,
            prefix: String::new(),
        }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Val<'i>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }
}

/// Whether a field must be present.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Required,
    Optional,
}

pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date/time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Reports every key of `e` that is not in `allowed`.
pub(crate) fn check_fields(sink: &mut Sink, e: &Entry<'_, '_>, allowed: &[&str]) {
    for (k, _) in e.table.iter() {
        let key: &str = k.get_ref().as_ref();
        if !allowed.contains(&key) {
            sink.report(
                &k.span(),
                &e.subject,
                &e.path(key),
                ProblemKind::UnknownField {
                    expected: allowed.join(", "),
                },
            );
        }
    }
}

fn fetch<'a, 'i>(sink: &mut Sink, e: &Entry<'a, 'i>, key: &str, need: Need) -> Option<&'a Val<'i>> {
    let v = e.get(key);
    if v.is_none() && need == Need::Required {
        sink.report(&e.span, &e.subject, &e.path(key), ProblemKind::Missing);
    }
    v
}

fn wrong(sink: &mut Sink, e: &Entry<'_, '_>, key: &str, v: &Val<'_>, expected: &'static str) {
    sink.report(
        &v.span(),
        &e.subject,
        &e.path(key),
        ProblemKind::WrongType {
            expected,
            found: type_name(v.get_ref()),
        },
    );
}

/// A string field, as written.
pub(crate) fn string(
    sink: &mut Sink,
    e: &Entry<'_, '_>,
    key: &str,
    need: Need,
) -> Option<(String, Range<usize>)> {
    let v = fetch(sink, e, key, need)?;
    match v.get_ref() {
        DeValue::String(s) => Some((s.to_string(), v.span())),
        _ => {
            wrong(sink, e, key, v, "a string");
            None
        }
    }
}

/// A human-readable text (a name, a reason): not blank, not too long.
pub(crate) fn text(sink: &mut Sink, e: &Entry<'_, '_>, key: &str, need: Need) -> Option<String> {
    let (s, span) = string(sink, e, key, need)?;
    check_text(sink, &e.subject, &e.path(key), &s, &span).then_some(s)
}

pub(crate) fn check_text(
    sink: &mut Sink,
    subject: &str,
    field: &str,
    s: &str,
    span: &Range<usize>,
) -> bool {
    if s.trim().is_empty() {
        sink.report(span, subject, field, ProblemKind::Empty);
        return false;
    }
    let len = s.chars().count();
    if len > MAX_TEXT_CHARS {
        sink.report(
            span,
            subject,
            field,
            ProblemKind::TooLong {
                len,
                max: MAX_TEXT_CHARS,
            },
        );
        return false;
    }
    true
}

/// Validates a lower-case name such as an agency code or option key.
pub(crate) fn check_name(s: &str) -> Result<(), String> {
    const MAX: usize = 24;
    let len = s.chars().count();
    if len == 0 || len > MAX {
        return Err(format!("must be 1 to {MAX} characters, got {len}"));
    }
    if let Some(c) = s
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        return Err(format!("may contain only a-z, 0-9 and '-'; found {c:?}"));
    }
    Ok(())
}

/// A lower-case name field (agency code, option key, choice value).
pub(crate) fn name(sink: &mut Sink, e: &Entry<'_, '_>, key: &str, need: Need) -> Option<String> {
    let (s, span) = string(sink, e, key, need)?;
    match check_name(&s) {
        Ok(()) => Some(s),
        Err(reason) => {
            sink.report(
                &span,
                &e.subject,
                &e.path(key),
                ProblemKind::InvalidCode { code: s, reason },
            );
            None
        }
    }
}

/// An integer field within `min..=max`.
pub(crate) fn integer(
    sink: &mut Sink,
    e: &Entry<'_, '_>,
    key: &str,
    need: Need,
    min: i128,
    max: i128,
) -> Option<(u64, Range<usize>)> {
    let v = fetch(sink, e, key, need)?;
    let DeValue::Integer(i) = v.get_ref() else {
        wrong(sink, e, key, v, "an integer");
        return None;
    };
    let Ok(n) = i128::from_str_radix(i.as_str(), i.radix()) else {
        wrong(sink, e, key, v, "an integer of sensible size");
        return None;
    };
    if n < min || n > max {
        sink.report(
            &v.span(),
            &e.subject,
            &e.path(key),
            ProblemKind::OutOfRange { value: n, min, max },
        );
        return None;
    }
    // In range `min..=max` with `min >= 0` at every call site; a negative min would be
    // rejected here instead of wrapping.
    u64::try_from(n).ok().map(|n| (n, v.span()))
}

/// A fee in won: a whole number, at most [`MAX_FEE_WON`], a multiple of 10.
pub(crate) fn won(
    sink: &mut Sink,
    e: &Entry<'_, '_>,
    key: &str,
    need: Need,
) -> Option<(Won, Range<usize>)> {
    let (n, span) = integer(sink, e, key, need, 0, i128::from(MAX_FEE_WON))?;
    if n % 10 != 0 {
        sink.report(
            &span,
            &e.subject,
            &e.path(key),
            ProblemKind::NotMultipleOfTen { won: n },
        );
        return None;
    }
    Some((Won::new(n), span))
}

/// A boolean field.
pub(crate) fn boolean(sink: &mut Sink, e: &Entry<'_, '_>, key: &str, need: Need) -> Option<bool> {
    let v = fetch(sink, e, key, need)?;
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        _ => {
            wrong(sink, e, key, v, "true or false");
            None
        }
    }
}

/// An array field.
pub(crate) fn array<'a, 'i>(
    sink: &mut Sink,
    e: &Entry<'a, 'i>,
    key: &str,
    need: Need,
) -> Option<(&'a DeArray<'i>, Range<usize>)> {
    let v = fetch(sink, e, key, need)?;
    match v.get_ref() {
        DeValue::Array(a) => Some((a, v.span())),
        _ => {
            wrong(sink, e, key, v, "an array");
            None
        }
    }
}

/// A sub-table field, as an [`Entry`] whose paths are prefixed with `key.`.
pub(crate) fn table<'a, 'i>(
    sink: &mut Sink,
    e: &Entry<'a, 'i>,
    key: &str,
    need: Need,
) -> Option<Entry<'a, 'i>> {
    let v = fetch(sink, e, key, need)?;
    match v.get_ref() {
        DeValue::Table(t) => Some(Entry {
            table: t,
            span: v.span(),
            subject: e.subject.clone(),
            prefix: format!("{}{}.", e.prefix, key),
        }),
        _ => {
            wrong(sink, e, key, v, "a table");
            None
        }
    }
}

/// The tables of an array-of-tables field such as `[[document]]`, each with its span.
pub(crate) fn tables<'a, 'i>(
    sink: &mut Sink,
    e: &Entry<'a, 'i>,
    key: &str,
    max: usize,
    what: &'static str,
) -> Vec<(&'a DeTable<'i>, Range<usize>)> {
    let Some((items, span)) = array(sink, e, key, Need::Optional) else {
        return Vec::new();
    };
    if items.len() > max {
        sink.report(
            &span,
            &e.subject,
            &e.path(key),
            ProblemKind::TooMany {
                what,
                count: items.len(),
                max,
            },
        );
    }
    let mut out = Vec::new();
    for item in items.iter().take(max) {
        match item.get_ref() {
            DeValue::Table(t) => out.push((t, item.span())),
            other => sink.report(
                &item.span(),
                &e.subject,
                &e.path(key),
                ProblemKind::WrongType {
                    expected: "a table",
                    found: type_name(other),
                },
            ),
        }
    }
    out
}

/// A TOML local date (`2027-01-01`, unquoted) as a calendar date.
pub(crate) fn date(
    sink: &mut Sink,
    e: &Entry<'_, '_>,
    key: &str,
    need: Need,
) -> Option<(Date, Range<usize>)> {
    let v = fetch(sink, e, key, need)?;
    let bad = |sink: &mut Sink, why: String| {
        sink.report(
            &v.span(),
            &e.subject,
            &e.path(key),
            ProblemKind::BadDate(why),
        );
    };
    match v.get_ref() {
        DeValue::Datetime(dt) => {
            let (Some(d), None, None) = (dt.date, dt.time, dt.offset) else {
                bad(
                    sink,
                    format!("{dt} is not a plain date; write it like 2027-01-01"),
                );
                return None;
            };
            let parts = (
                i16::try_from(d.year),
                i8::try_from(d.month),
                i8::try_from(d.day),
            );
            let (Ok(y), Ok(m), Ok(day)) = parts else {
                bad(sink, format!("{d} is not a calendar date"));
                return None;
            };
            match Date::new(y, m, day) {
                Ok(date) => Some((date, v.span())),
                Err(err) => {
                    bad(sink, format!("{d} is not a calendar date ({err})"));
                    None
                }
            }
        }
        DeValue::String(s) => {
            bad(
                sink,
                format!("{s:?} is a string; write the date without quotes, like 2027-01-01"),
            );
            None
        }
        other => {
            bad(
                sink,
                format!(
                    "expected a date like 2027-01-01, found {}",
                    type_name(other)
                ),
            );
            None
        }
    }
}
