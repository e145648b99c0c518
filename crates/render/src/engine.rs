//! The engine: template + data -> layout -> PDF, with the verification code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ed25519_dalek::SigningKey;
use kiosk_core::{DocCode, IssueNumber};
use serde_json::Value;

use crate::data::{canonical_data_sha256, check_data, check_text, format_value, lookup, type_name};
use crate::error::{RenderError, TemplateError};
use crate::font::KioskFont;
use crate::layout::{Layout, PageInfo, Resolved, lay_out};
use crate::template::{Block, FieldKind, Segment, Template, TemplateSet, parse_segments};
use crate::verify::sign_payload;

/// Most pages one certificate may have (the catalog's `max_pages` upper bound).
pub const MAX_PAGES: usize = 500;

/// Korea Standard Time, UTC+9 (no daylight saving since 1988).
const KST_OFFSET: i64 = 9 * 3600;

/// The moment of issue. Passed in by the caller (never read from the clock here) so that
/// the same request always renders the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IssuedAt(i64);

/// A civil date and time: (year, month, day, hour, minute, second).
pub type Civil = (i64, u32, u32, u32, u32, u32);

impl IssuedAt {
    /// From Unix seconds. Refuses times before 2000 or after 9999 (a clock fault).
    pub fn from_unix(seconds: i64) -> Result<IssuedAt, RenderError> {
        const Y2000: i64 = 946_684_800;
        const Y10000: i64 = 253_402_300_800;
        if (Y2000..Y10000).contains(&seconds) {
            Ok(IssuedAt(seconds))
        } else {
            Err(RenderError::InvalidRequest(format!(
                "issue time {seconds} is outside 2000..9999"
            )))
        }
    }

    /// Unix seconds.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// The civil time in Korea.
    pub fn kst(self) -> Civil {
        civil(self.0 + KST_OFFSET)
    }

    /// The civil time in UTC (PDF metadata dates).
    pub fn utc(self) -> Civil {
        civil(self.0)
    }

    /// `2026-11-22 14:05:09 (KST)`.
    pub fn display_kst(self) -> String {
        let (y, mo, d, h, mi, s) = self.kst();
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} (KST)")
    }

    /// `2026년 11월 22일`.
    pub fn korean_date(self) -> String {
        let (y, mo, d, ..) = self.kst();
        format!("{y}년 {mo}월 {d}일")
    }
}

/// Unix seconds -> civil UTC date and time (proleptic Gregorian).
fn civil(t: i64) -> Civil {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a year; eras of
    // 400 years (146,097 days) repeat exactly.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m as u32,
        d as u32,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Everything needed to render one certificate.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// Document type.
    pub code: DocCode,
    /// Issue number from the network.
    pub issue_number: IssueNumber,
    /// When it is issued.
    pub issued_at: IssuedAt,
    /// The issuing kiosk (printed on every page): ASCII letters, digits, `-`, 1..=32.
    pub kiosk_id: String,
    /// The citizen's choices for this document (catalog option key -> value), e.g.
    /// `resident-number = show`.
    pub options: BTreeMap<String, String>,
    /// The document data from the e-government network.
    pub data: Value,
}

/// A rendered certificate.
#[derive(Debug, Clone)]
pub struct RenderedDocument {
    /// The PDF file.
    pub pdf: Vec<u8>,
    /// The verification payload printed in the QR code (see [`crate::verify_payload`]).
    pub payload: String,
    /// Number of pages.
    pub pages: usize,
    /// SHA-256 of the canonical data (what the payload signs).
    pub data_sha256: [u8; 32],
}

/// The rendering engine: the font (loaded once) and the templates.
#[derive(Debug, Clone)]
pub struct Renderer {
    font: KioskFont,
    templates: TemplateSet,
}

impl Renderer {
    /// Builds an engine, checking that the font can draw every template's fixed text.
    pub fn new(font: KioskFont, templates: TemplateSet) -> Result<Renderer, TemplateError> {
        for t in templates.iter() {
            for s in t.literals() {
                if let Some(c) = s.chars().find(|&c| c != '\n' && !font.covers(c)) {
                    return Err(TemplateError::Invalid {
                        code: t.code.clone(),
                        message: format!("the font has no glyph for {c:?} (U+{:04X})", c as u32),
                    });
                }
            }
        }
        Ok(Renderer { font, templates })
    }

    /// Loads the font and the template directory.
    pub fn from_paths(
        font_path: impl AsRef<Path>,
        templates_dir: impl AsRef<Path>,
    ) -> Result<Renderer, RenderError> {
        let font = KioskFont::load(font_path)?;
        let templates = TemplateSet::load_dir(templates_dir)
            .map_err(|e| RenderError::InvalidRequest(e.to_string()))?;
        Renderer::new(font, templates).map_err(|e| RenderError::InvalidRequest(e.to_string()))
    }

    /// The loaded templates.
    pub fn templates(&self) -> &TemplateSet {
        &self.templates
    }

    /// The loaded font.
    pub fn font(&self) -> &KioskFont {
        &self.font
    }

    fn template(&self, code: &DocCode) -> Result<&Template, RenderError> {
        self.templates
            .get(code)
            .ok_or_else(|| RenderError::UnknownDocument(code.to_string()))
    }

    /// Checks the request and data and lays the document out, without building the PDF.
    pub fn layout(&self, req: &RenderRequest) -> Result<Layout, RenderError> {
        let t = self.template(&req.code)?;
        let kiosk = &req.kiosk_id;
        if kiosk.is_empty()
            || kiosk.len() > 32
            || !kiosk
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(RenderError::InvalidRequest(
                "kiosk id must be 1 to 32 ASCII letters, digits or '-'".into(),
            ));
        }
        check_data(&req.data)?;
        let blocks = self.resolve(t, req)?;
        let info = PageInfo {
            title_ko: t.title_ko.clone(),
            title_en: t.title_en.clone(),
            authority_ko: t.authority_ko.clone(),
            authority_en: t.authority_en.clone(),
            issue_number: req.issue_number.to_string(),
            issued_at: req.issued_at.display_kst(),
            kiosk_id: req.kiosk_id.clone(),
        };
        let layout = lay_out(&self.font, &info, &blocks);
        if layout.pages.len() > MAX_PAGES {
            return Err(RenderError::TooManyPages {
                pages: layout.pages.len(),
                max: MAX_PAGES,
            });
        }
        Ok(layout)
    }

    /// Renders a certificate to PDF, signed with the authority's key.
    pub fn render(
        &self,
        req: &RenderRequest,
        key: &SigningKey,
    ) -> Result<RenderedDocument, RenderError> {
        let layout = self.layout(req)?;
        let digest = canonical_data_sha256(&req.data);
        let payload = sign_payload(
            key,
            &req.code,
            &req.issue_number,
            req.issued_at.unix(),
            &digest,
        );
        let t = self.template(&req.code)?;
        let mut chars = BTreeSet::new();
        for p in &layout.pages {
            for e in &p.elements {
                if let crate::layout::Element::Text { text, .. } = e {
                    chars.extend(text.chars());
                }
            }
        }
        let subset = self.font.subset(&chars)?;
        let pdf = crate::pdf::write_pdf(
            &layout,
            self.font.to_printpdf(subset),
            &payload,
            &crate::pdf::Meta {
                title: format!("{} ({})", t.title_ko, t.code),
                issue_number: req.issue_number.to_string(),
                issued_at: req.issued_at,
                author: t.authority_ko.clone(),
                digest,
            },
        )?;
        Ok(RenderedDocument {
            pdf,
            payload,
            pages: layout.pages.len(),
            data_sha256: digest,
        })
    }

    fn resolve(&self, t: &Template, req: &RenderRequest) -> Result<Vec<Resolved>, RenderError> {
        let reveal = t.reveal_rrn.as_ref().is_some_and(|c| c.holds(&req.options));
        let field = |root: &Value, base: &str, path: &str, kind: FieldKind, optional: bool| {
            let full = if base.is_empty() {
                path.to_owned()
            } else {
                format!("{base}.{path}")
            };
            match lookup(root, path) {
                None if optional => Ok("-".to_owned()),
                None => Err(RenderError::MissingField { path: full }),
                Some(v) => {
                    let s = format_value(&full, v, kind, reveal)?;
                    self.check_glyphs(&full, &s)?;
                    Ok(s)
                }
            }
        };
        let mut out = Vec::new();
        for b in &t.blocks {
            if b.when().is_some_and(|c| !c.holds(&req.options)) {
                continue;
            }
            match b {
                Block::Fields {
                    heading, fields, ..
                } => {
                    let rows = fields
                        .iter()
                        .map(|f| {
                            Ok((
                                f.label.clone(),
                                field(&req.data, "", &f.path, f.kind, f.optional)?,
                            ))
                        })
                        .collect::<Result<Vec<_>, RenderError>>()?;
                    out.push(Resolved::Fields {
                        heading: heading.clone(),
                        rows,
                    });
                }
                Block::Table {
                    heading,
                    rows,
                    columns,
                    empty_text,
                    ..
                } => {
                    let arr = match lookup(&req.data, rows) {
                        None => return Err(RenderError::MissingField { path: rows.clone() }),
                        Some(Value::Array(a)) => a,
                        Some(other) => {
                            return Err(RenderError::WrongType {
                                path: rows.clone(),
                                expected: "an array of rows",
                                found: type_name(other),
                            });
                        }
                    };
                    let mut table = Vec::with_capacity(arr.len());
                    for (i, row) in arr.iter().enumerate() {
                        let base = format!("{rows}[{i}]");
                        if !row.is_object() {
                            return Err(RenderError::WrongType {
                                path: base,
                                expected: "an object",
                                found: type_name(row),
                            });
                        }
                        table.push(
                            columns
                                .iter()
                                .map(|c| field(row, &base, &c.path, c.kind, c.optional))
                                .collect::<Result<Vec<_>, _>>()?,
                        );
                    }
                    out.push(Resolved::Table {
                        heading: heading.clone(),
                        labels: columns.iter().map(|c| c.label.clone()).collect(),
                        widths: columns.iter().map(|c| c.width).collect(),
                        rows: table,
                        empty: empty_text.clone().unwrap_or_else(|| "해당 없음".to_owned()),
                    });
                }
                Block::Text { heading, text, .. } => out.push(Resolved::Text {
                    heading: heading.clone(),
                    text: self.substitute(t, req, text, reveal)?,
                }),
                Block::Notice { text, .. } => out.push(Resolved::Notice {
                    text: self.substitute(t, req, text, reveal)?,
                }),
            }
        }
        out.push(Resolved::SignOff {
            date: req.issued_at.korean_date(),
            authority: t.authority_ko.clone(),
        });
        Ok(out)
    }

    fn substitute(
        &self,
        t: &Template,
        req: &RenderRequest,
        text: &str,
        reveal: bool,
    ) -> Result<String, RenderError> {
        // Checked at load time; a failure here means the template changed under us.
        let segs = parse_segments(text).map_err(RenderError::InvalidRequest)?;
        let mut s = String::new();
        for seg in segs {
            match seg {
                Segment::Lit(l) => s.push_str(&l),
                Segment::Meta(m) => match m.as_str() {
                    "issue_date" => s.push_str(&req.issued_at.korean_date()),
                    "issue_number" => s.push_str(req.issue_number.as_str()),
                    "authority" => s.push_str(&t.authority_ko),
                    "title" => s.push_str(&t.title_ko),
                    _ => s.push_str(&req.kiosk_id),
                },
                Segment::Field { path, kind } => {
                    let v = lookup(&req.data, &path)
                        .ok_or_else(|| RenderError::MissingField { path: path.clone() })?;
                    let f = format_value(&path, v, kind, reveal)?;
                    self.check_glyphs(&path, &f)?;
                    s.push_str(&f);
                }
            }
        }
        Ok(s)
    }

    fn check_glyphs(&self, path: &str, s: &str) -> Result<(), RenderError> {
        check_text(path, s)?;
        match s.chars().find(|&c| !self.font.covers(c)) {
            Some(c) => Err(RenderError::InvalidText {
                path: path.to_owned(),
                reason: format!(
                    "U+{:04X} cannot be printed with the certificate font",
                    c as u32
                ),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_795_000_000), (2026, 11, 18, 11, 6, 40));
        let t = IssuedAt::from_unix(1_795_000_000).unwrap();
        assert_eq!(t.display_kst(), "2026-11-18 20:06:40 (KST)");
        assert_eq!(t.korean_date(), "2026년 11월 18일");
        assert!(IssuedAt::from_unix(0).is_err());
    }

    fn rasterize(pdf: &[u8], name: &str) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("kiosk-render-subset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join(format!("{name}.pdf"));
        std::fs::write(&input, pdf).unwrap();
        let out = std::process::Command::new("pdftoppm")
            .args(["-gray", "-r", "200", "-singlefile"])
            .arg(&input)
            .arg(dir.join(name))
            .output()
            .expect("pdftoppm (poppler-utils)");
        assert!(out.status.success());
        let px = std::fs::read(dir.join(format!("{name}.pgm"))).unwrap();
        let _ = std::fs::remove_file(input);
        let _ = std::fs::remove_file(dir.join(format!("{name}.pgm")));
        px
    }

    /// The own subsetter draws every glyph exactly as allsorts' subset of the same glyphs
    /// does (composite Hangul syllables included): the pages rasterize to the same pixels.
    #[test]
    fn own_font_subset_prints_like_the_allsorts_subset() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/templates");
        let r = Renderer::from_paths(crate::DEFAULT_FONT_PATH, dir).unwrap();
        let at = IssuedAt::from_unix(1_795_000_000).unwrap();
        for (code, seed) in [("RES-COPY", 3), ("RES-COPY", 4), ("FAM-RELATION", 5)] {
            let opts = crate::SyntheticOptions {
                seed,
                ..Default::default()
            };
            let mut req = r
                .synthetic_request(&DocCode::new(code).unwrap(), &opts, at)
                .unwrap();
            if seed == 4 {
                // Rare syllables, which NanumGothic builds from jamo glyphs (composites).
                req.data["household"]["address"] =
                    "갂갃갅갆갋 똠똡 뷁 쀍쀐 햏햞 (composite) ÀÉ".into();
            }
            let layout = r.layout(&req).unwrap();
            let mut chars = BTreeSet::new();
            for e in &layout.pages[0].elements {
                if let crate::layout::Element::Text { text, .. } = e {
                    chars.extend(text.chars());
                }
            }
            let meta = || crate::pdf::Meta {
                title: code.into(),
                issue_number: req.issue_number.to_string(),
                issued_at: at,
                author: "x".into(),
                digest: [0; 32],
            };
            let ours = r.font.subset(&chars).unwrap();
            if seed == 4 {
                assert!(
                    ours.widths.len() > ours.char_to_gid.len() + 1,
                    "composite glyphs pull in their components"
                );
            }
            let reference = r.font.subset_with_allsorts(&chars).unwrap();
            assert!(ours.bytes.len() <= reference.bytes.len() + 4096, "{code}");
            let pdf = |s| crate::pdf::write_pdf(&layout, r.font.to_printpdf(s), "x", &meta());
            let a = rasterize(&pdf(ours).unwrap(), &format!("{code}-ours"));
            let b = rasterize(&pdf(reference).unwrap(), &format!("{code}-allsorts"));
            assert!(a == b, "{code}: the pages differ");
        }
    }
}
