//! Document data: checking what the network sent, looking fields up, printing them.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::RenderError;
use crate::template::FieldKind;

/// Longest text value accepted, in characters. Longer values wrap and paginate; beyond
/// this they are refused (no certificate field is that long, and it bounds the work).
pub const MAX_FIELD_CHARS: usize = 4000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;

/// Parses document data from raw bytes, refusing invalid UTF-8 and JSON escapes of
/// unpaired surrogates (`"\ud800"`), then checks every string (see [`check_data`]).
pub fn parse_document_data(bytes: &[u8]) -> Result<Value, RenderError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        RenderError::InvalidJson(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;
    let v: Value =
        serde_json::from_str(text).map_err(|e| RenderError::InvalidJson(e.to_string()))?;
    check_data(&v)?;
    Ok(v)
}

/// Why a character may not appear in a certificate, if it may not.
fn bad_char(c: char) -> Option<&'static str> {
    let cp = c as u32;
    if c.is_control() {
        Some("control character")
    } else if matches!(cp, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0x061C | 0xFEFF) {
        Some("invisible or bidirectional formatting character")
    } else if matches!(cp, 0x2028 | 0x2029) {
        Some("line or paragraph separator")
    } else if (0xFDD0..=0xFDEF).contains(&cp) || cp & 0xFFFE == 0xFFFE {
        Some("Unicode noncharacter")
    } else if cp == 0xFFFD {
        Some("replacement character (the text was not valid where it came from)")
    } else if (0xE000..=0xF8FF).contains(&cp) || cp >= 0xF0000 {
        Some("private-use character")
    } else {
        None
    }
}

/// Checks one text value.
pub(crate) fn check_text(path: &str, s: &str) -> Result<(), RenderError> {
    if let Some((c, why)) = s.chars().find_map(|c| bad_char(c).map(|w| (c, w))) {
        return Err(RenderError::InvalidText {
            path: path.to_owned(),
            reason: format!("U+{:04X} is a {why}", c as u32),
        });
    }
    let len = s.chars().count();
    if len > MAX_FIELD_CHARS {
        return Err(RenderError::TooLong {
            path: path.to_owned(),
            len,
            max: MAX_FIELD_CHARS,
        });
    }
    Ok(())
}

/// Walks the whole data tree and refuses invalid text in any string or object key, and
/// nesting deeper than [`MAX_DEPTH`]. Runs before anything is laid out.
pub fn check_data(v: &Value) -> Result<(), RenderError> {
    fn walk(v: &Value, path: &mut String, depth: usize) -> Result<(), RenderError> {
        if depth > MAX_DEPTH {
            return Err(RenderError::TooDeep(MAX_DEPTH));
        }
        match v {
            Value::String(s) => check_text(path_or_root(path), s),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(x, path, depth + 1)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(m) => {
                for (k, x) in m {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    // Show a key only once it is known to be printable.
                    if let Err(e) = check_text("<key>", k) {
                        let reason = match e {
                            RenderError::InvalidText { reason, .. } => reason,
                            other => other.to_string(),
                        };
                        path.push_str("<key>");
                        return Err(RenderError::InvalidText {
                            path: path.clone(),
                            reason,
                        });
                    }
                    path.push_str(k);
                    walk(x, path, depth + 1)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(v, &mut String::new(), 0)
}

fn path_or_root(p: &str) -> &str {
    if p.is_empty() { "<root>" } else { p }
}

/// Looks a dotted path up in an object. `None` when absent or null.
pub(crate) fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = root;
    for key in path.split('.') {
        v = v.as_object()?.get(key)?;
    }
    if v.is_null() { None } else { Some(v) }
}

/// A short name of a JSON value's type, for error messages (never the value itself:
/// it may be personal data).
pub(crate) fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
    .to_owned()
}

/// Thousands separators: `1234567` -> `1,234,567`.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn group_signed(n: i64) -> String {
    if n < 0 {
        format!("-{}", group(n.unsigned_abs()))
    } else {
        group(n.unsigned_abs())
    }
}

/// Whether `s` is a resident registration number (`YYMMDD-NNNNNNN` or 13 digits).
fn rrn_parts(s: &str) -> Option<(&str, &str)> {
    let (front, back) = match s.split_once('-') {
        Some(p) => p,
        None if s.len() == 13 => s.split_at(6),
        None => return None,
    };
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    (digits(front, 6) && digits(back, 7)).then_some((front, back))
}

/// Masks a resident number: `900101-1234567` -> `900101-1******`.
pub fn mask_rrn(front: &str, back: &str) -> String {
    format!("{front}-{}******", &back[..1])
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|x| x.parse::<u32>().ok())
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Checks a value against its kind and prints it. `reveal` shows resident numbers whole.
pub(crate) fn format_value(
    path: &str,
    v: &Value,
    kind: FieldKind,
    reveal: bool,
) -> Result<String, RenderError> {
    let wrong = |expected: &'static str, found: String| RenderError::WrongType {
        path: path.to_owned(),
        expected,
        found,
    };
    match kind {
        FieldKind::Text => match v {
            Value::String(s) => {
                check_text(path, s)?;
                Ok(s.clone())
            }
            other => Err(wrong("a string", type_name(other))),
        },
        FieldKind::Rrn => match v {
            Value::String(s) => match rrn_parts(s) {
                Some((f, b)) if reveal => Ok(format!("{f}-{b}")),
                Some((f, b)) => Ok(mask_rrn(f, b)),
                None => Err(wrong(
                    "a resident number YYMMDD-NNNNNNN",
                    "a string of another shape".into(),
                )),
            },
            other => Err(wrong("a resident number string", type_name(other))),
        },
        FieldKind::Date => match v {
            Value::String(s) if is_date(s) => Ok(s.clone()),
            Value::String(_) => Err(wrong(
                "a date YYYY-MM-DD",
                "a string of another shape".into(),
            )),
            other => Err(wrong("a date string", type_name(other))),
        },
        FieldKind::Won => match v.as_i64() {
            Some(n) => Ok(format!("{}원", group_signed(n))),
            None => Err(wrong("an integer amount of won", type_name(v))),
        },
        FieldKind::Number => match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(group_signed(i))
                } else if let Some(u) = n.as_u64() {
                    Ok(group(u))
                } else {
                    let f = n.as_f64().unwrap_or(0.0);
                    let whole = f.trunc();
                    if whole.abs() < 1e15 {
                        let frac = format!("{:.2}", (f - whole).abs());
                        let frac = frac.trim_start_matches('0').trim_end_matches('0');
                        let sign = if f < 0.0 { "-" } else { "" };
                        let frac = if frac == "." { "" } else { frac };
                        Ok(format!("{sign}{}{frac}", group(whole.abs() as u64)))
                    } else {
                        Ok(f.to_string())
                    }
                }
            }
            other => Err(wrong("a number", type_name(other))),
        },
    }
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace, serde_json's
/// string escaping and number printing. The same data always gives the same bytes, however
/// the network ordered its keys.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(&Value::String(k.clone()), out);
                    out.push(b':');
                    if let Some(x) = m.get(k) {
                        write(x, out);
                    }
                }
                out.push(b'}');
            }
            Value::Array(a) => {
                out.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(x, out);
                }
                out.push(b']');
            }
            scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
        }
    }
    let mut out = Vec::new();
    write(v, &mut out);
    out
}

/// SHA-256 of [`canonical_json`]: the digest the verification code signs.
pub fn canonical_data_sha256(v: &Value) -> [u8; 32] {
    Sha256::digest(canonical_json(v)).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grouping() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group_signed(-1234), "-1,234");
    }

    #[test]
    fn numbers_and_money() {
        let f = |v: Value, k| format_value("x", &v, k, false);
        assert_eq!(f(json!(1200), FieldKind::Won).unwrap(), "1,200원");
        assert_eq!(f(json!(1234.5), FieldKind::Number).unwrap(), "1,234.5");
        assert_eq!(f(json!(12.25), FieldKind::Number).unwrap(), "12.25");
        assert!(f(json!("1200"), FieldKind::Won).is_err());
        assert!(f(json!(1.5), FieldKind::Won).is_err());
    }

    #[test]
    fn dates() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2023-13-01"));
        assert!(!is_date("2023-1-01"));
        assert!(!is_date("२०२३-01-01"));
    }

    #[test]
    fn rrn_masking() {
        let v = json!("900101-1234567");
        assert_eq!(
            format_value("p", &v, FieldKind::Rrn, false).unwrap(),
            "900101-1******"
        );
        assert_eq!(
            format_value("p", &v, FieldKind::Rrn, true).unwrap(),
            "900101-1234567"
        );
        let v = json!("9001011234567");
        assert_eq!(
            format_value("p", &v, FieldKind::Rrn, false).unwrap(),
            "900101-1******"
        );
        assert!(format_value("p", &json!("90010-1234567"), FieldKind::Rrn, false).is_err());
    }

    #[test]
    fn canonical_sorts_keys() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,"x"],"c":null}}"#).unwrap();
        assert_eq!(
            canonical_json(&a),
            br#"{"a":{"c":null,"d":[1,"x"]},"b":1}"#.to_vec()
        );
    }

    #[test]
    fn lone_surrogate_refused() {
        let e = parse_document_data(br#"{"name":"\ud800"}"#).unwrap_err();
        assert!(matches!(e, RenderError::InvalidJson(_)), "{e}");
        let e = parse_document_data(b"{\"name\":\"\xff\"}").unwrap_err();
        assert!(matches!(e, RenderError::InvalidJson(_)), "{e}");
    }

    #[test]
    fn control_chars_refused_with_path() {
        let v = json!({"a": {"b": ["ok", "bad\u{7}"]}});
        match check_data(&v).unwrap_err() {
            RenderError::InvalidText { path, reason } => {
                assert_eq!(path, "a.b[1]");
                assert!(reason.contains("U+0007"), "{reason}");
            }
            e => panic!("{e}"),
        }
        assert!(check_data(&json!({"x": "a\u{202E}b"})).is_err());
        assert!(check_data(&json!({"x\n": "a"})).is_err());
        // Every control character is refused, tab, newline and C1 controls included.
        for c in [
            '\t', '\n', '\r', '\u{0}', '\u{1B}', '\u{7F}', '\u{85}', '\u{9F}',
        ] {
            let e = check_data(&json!({ "x": format!("a{c}b") })).unwrap_err();
            assert!(
                e.to_string().contains("control character"),
                "{:?}: {e}",
                c as u32
            );
        }
        assert!(check_data(&json!({"x": "홍길동 Hong"})).is_ok());
    }
}
