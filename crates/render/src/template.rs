//! Declarative certificate templates: one TOML file per document type.
//!
//! Adding a document type is adding `config/templates/<CODE>.toml`; the engine has no
//! per-type code. See `config/templates/README.md` for the format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiosk_core::DocCode;
use serde::Deserialize;

use crate::error::TemplateError;

/// How a value is checked and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    /// A JSON string, printed as is (wrapped to its column).
    #[default]
    Text,
    /// A resident registration number `YYMMDD-NNNNNNN`; masked to `YYMMDD-N******` unless
    /// the template's reveal condition holds.
    Rrn,
    /// A civil date `YYYY-MM-DD` (JSON string).
    Date,
    /// An amount of money in won (JSON integer), printed `1,234,000원`.
    Won,
    /// A JSON number, printed with thousands separators.
    Number,
}

impl FieldKind {
    fn parse(s: &str) -> Option<FieldKind> {
        Some(match s {
            "text" => FieldKind::Text,
            "rrn" => FieldKind::Rrn,
            "date" => FieldKind::Date,
            "won" => FieldKind::Won,
            "number" => FieldKind::Number,
            _ => return None,
        })
    }
}

/// What kind of fake value the synthetic generator puts in a field. Only used for demos
/// and tests; real data comes from the e-government network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)] // The names say it; see synth.rs for the values.
pub enum Fake {
    Name,
    Address,
    Relation,
    Reason,
    Phone,
    Company,
    BizNumber,
    Plate,
    Vehicle,
    Parcel,
    Area,
    LandUse,
    School,
    Subject,
    Score,
    Grade,
    Status,
    Office,
    Code,
    Passport,
    Year,
    Period,
    Count,
    Word,
    Sentence,
    TaxItem,
    Nationality,
    /// The row number in a table (1, 2, 3, ...).
    Seq,
}

/// A block shown only when a document option has a given value (e.g. the address
/// history of a resident registration copy, shown when `address-history = include`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Option key from the catalog (`[[document.option]] key`).
    pub option: String,
    /// The value that turns the condition on.
    pub equals: String,
}

impl Condition {
    /// Whether the document options satisfy this condition.
    pub fn holds(&self, options: &BTreeMap<String, String>) -> bool {
        options.get(&self.option) == Some(&self.equals)
    }
}

/// One labelled value in a key/value section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Label printed in the left column.
    pub label: String,
    /// Dotted path into the document data, e.g. `head.name`.
    pub path: String,
    /// How the value is checked and printed.
    #[serde(default)]
    pub kind: FieldKind,
    /// An absent or null value prints `-` instead of refusing the document.
    #[serde(default)]
    pub optional: bool,
    /// Fake value generator hint for synthetic data.
    #[serde(default)]
    pub fake: Option<Fake>,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column header.
    pub label: String,
    /// Dotted path inside each row object.
    pub path: String,
    /// How the value is checked and printed.
    #[serde(default)]
    pub kind: FieldKind,
    /// An absent or null value prints `-`.
    #[serde(default)]
    pub optional: bool,
    /// Relative width (the table's width is shared in proportion).
    #[serde(default = "one")]
    pub width: f32,
    /// Fake value generator hint for synthetic data.
    #[serde(default)]
    pub fake: Option<Fake>,
}

fn one() -> f32 {
    1.0
}

/// A block of the certificate body, laid out top to bottom.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Block {
    /// A key/value section.
    Fields {
        /// Optional section heading.
        #[serde(default)]
        heading: Option<String>,
        /// The rows.
        fields: Vec<FieldSpec>,
        /// Shown only when this holds.
        #[serde(default)]
        when: Option<Condition>,
    },
    /// A table whose rows come from an array of objects in the data.
    Table {
        /// Optional section heading.
        #[serde(default)]
        heading: Option<String>,
        /// Dotted path of the array.
        rows: String,
        /// The columns.
        columns: Vec<ColumnSpec>,
        /// Printed in a single row when the array is empty.
        #[serde(default)]
        empty_text: Option<String>,
        /// Synthetic data: how many rows to make, `[min, max]`.
        #[serde(default)]
        fake_rows: Option<[u32; 2]>,
        /// Shown only when this holds.
        #[serde(default)]
        when: Option<Condition>,
    },
    /// A paragraph with `{path}`, `{path|kind}` and `{$meta}` substitutions.
    Text {
        /// Optional heading.
        #[serde(default)]
        heading: Option<String>,
        /// The text; `{{` and `}}` are literal braces.
        text: String,
        /// Shown only when this holds.
        #[serde(default)]
        when: Option<Condition>,
    },
    /// A boxed notice in small type (legal notes, "this certificate is valid for ...").
    Notice {
        /// The text, with the same substitutions as `text`.
        text: String,
        /// Shown only when this holds.
        #[serde(default)]
        when: Option<Condition>,
    },
}

impl Block {
    /// The block's display condition, if any.
    pub fn when(&self) -> Option<&Condition> {
        match self {
            Block::Fields { when, .. }
            | Block::Table { when, .. }
            | Block::Text { when, .. }
            | Block::Notice { when, .. } => when.as_ref(),
        }
    }
}

/// One document type's template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The catalog code (`RES-COPY`); must match the file name.
    pub code: String,
    /// Korean title, printed large on every page.
    pub title_ko: String,
    /// English title, printed under it.
    pub title_en: String,
    /// Issuing authority in Korean (printed on every page and as the sign-off).
    pub authority_ko: String,
    /// Issuing authority in English.
    pub authority_en: String,
    /// When this holds, resident numbers print in full; otherwise they are masked.
    #[serde(default)]
    pub reveal_rrn: Option<Condition>,
    /// The body.
    #[serde(rename = "block")]
    pub blocks: Vec<Block>,
}

/// A piece of paragraph text after parsing its placeholders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    /// Literal text.
    Lit(String),
    /// A data field.
    Field { path: String, kind: FieldKind },
    /// Document metadata: `issue_date`, `issue_number`, `authority`, `title`, `kiosk_id`.
    Meta(String),
}

/// Metadata names usable as `{$name}` in text blocks.
pub(crate) const META_NAMES: [&str; 5] = [
    "issue_date",
    "issue_number",
    "authority",
    "title",
    "kiosk_id",
];

/// Parses `{path}`, `{path|kind}`, `{$meta}`, `{{`, `}}`.
pub(crate) fn parse_segments(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '}' => return Err("unmatched `}` (write `}}` for a literal brace)".into()),
            '{' => {
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => return Err("unclosed `{` placeholder".into()),
                        Some(c) => inner.push(c),
                    }
                }
                if !lit.is_empty() {
                    out.push(Segment::Lit(std::mem::take(&mut lit)));
                }
                if let Some(name) = inner.strip_prefix('$') {
                    if !META_NAMES.contains(&name) {
                        return Err(format!(
                            "unknown `{{${name}}}`; known: {}",
                            META_NAMES.join(", ")
                        ));
                    }
                    out.push(Segment::Meta(name.to_owned()));
                } else {
                    let (path, kind) = match inner.split_once('|') {
                        Some((p, k)) => (
                            p,
                            FieldKind::parse(k).ok_or_else(|| format!("unknown kind `{k}`"))?,
                        ),
                        None => (inner.as_str(), FieldKind::Text),
                    };
                    check_path(path)?;
                    out.push(Segment::Field {
                        path: path.to_owned(),
                        kind,
                    });
                }
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Segment::Lit(lit));
    }
    Ok(out)
}

/// A path is dot-separated keys of `[A-Za-z0-9_-]`.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && path.split('.').all(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad field path `{path}` (dotted keys of A-Z a-z 0-9 _ -)"
        ))
    }
}

impl Template {
    /// Parses one template from TOML text and checks it.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Template, TemplateError> {
        let t: Template = toml::from_str(text).map_err(|e| TemplateError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        t.check()?;
        Ok(t)
    }

    /// The template's document code.
    pub fn doc_code(&self) -> Result<DocCode, TemplateError> {
        DocCode::new(&self.code).map_err(|e| self.invalid(e.to_string()))
    }

    fn invalid(&self, message: String) -> TemplateError {
        TemplateError::Invalid {
            code: self.code.clone(),
            message,
        }
    }

    /// Every literal string the template prints (for the font-coverage check).
    pub(crate) fn literals(&self) -> Vec<String> {
        let mut v = vec![
            self.title_ko.clone(),
            self.title_en.clone(),
            self.authority_ko.clone(),
            self.authority_en.clone(),
        ];
        for b in &self.blocks {
            match b {
                Block::Fields {
                    heading, fields, ..
                } => {
                    v.extend(heading.clone());
                    v.extend(fields.iter().map(|f| f.label.clone()));
                }
                Block::Table {
                    heading,
                    columns,
                    empty_text,
                    ..
                } => {
                    v.extend(heading.clone());
                    v.extend(empty_text.clone());
                    v.extend(columns.iter().map(|c| c.label.clone()));
                }
                Block::Text { heading, text, .. } => {
                    v.extend(heading.clone());
                    v.push(text.clone());
                }
                Block::Notice { text, .. } => v.push(text.clone()),
            }
        }
        v
    }

    fn check(&self) -> Result<(), TemplateError> {
        self.doc_code()?;
        for (name, s) in [
            ("title_ko", &self.title_ko),
            ("title_en", &self.title_en),
            ("authority_ko", &self.authority_ko),
            ("authority_en", &self.authority_en),
        ] {
            if s.trim().is_empty() {
                return Err(self.invalid(format!("{name} is empty")));
            }
        }
        if self.blocks.is_empty() {
            return Err(self.invalid("no blocks".into()));
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let at = |m: String| self.invalid(format!("block {}: {m}", i + 1));
            match b {
                Block::Fields { fields, .. } => {
                    if fields.is_empty() {
                        return Err(at("fields block has no fields".into()));
                    }
                    for f in fields {
                        check_path(&f.path).map_err(at)?;
                    }
                }
                Block::Table {
                    rows,
                    columns,
                    fake_rows,
                    ..
                } => {
                    check_path(rows).map_err(at)?;
                    if columns.is_empty() || columns.len() > 12 {
                        return Err(at("a table needs 1 to 12 columns".into()));
                    }
                    for c in columns {
                        check_path(&c.path).map_err(at)?;
                        if !(c.width.is_finite() && c.width > 0.0 && c.width <= 20.0) {
                            return Err(at(format!(
                                "column `{}`: width must be in (0, 20]",
                                c.label
                            )));
                        }
                    }
                    if let Some([lo, hi]) = fake_rows
                        && (lo > hi || *hi > 500)
                    {
                        return Err(at(
                            "fake_rows must be [min, max] with min <= max <= 500".into()
                        ));
                    }
                }
                Block::Text { text, .. } | Block::Notice { text, .. } => {
                    parse_segments(text).map_err(at)?;
                }
            }
        }
        Ok(())
    }
}

/// All templates, keyed by document code.
#[derive(Debug, Clone, Default)]
pub struct TemplateSet {
    templates: BTreeMap<DocCode, Template>,
}

impl TemplateSet {
    /// Loads every `*.toml` in `dir`; each file must be named after its code.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<TemplateSet, TemplateError> {
        let dir = dir.as_ref();
        let io = |path: PathBuf| move |source| TemplateError::Io { path, source };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir.to_owned()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io(dir.to_owned()))?;
        files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
        files.sort();
        let mut set = TemplateSet::default();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(io(path.clone()))?;
            let t = Template::from_toml(&text, &path)?;
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if stem != t.code {
                return Err(TemplateError::Invalid {
                    code: t.code.clone(),
                    message: format!("file {} must be named {}.toml", path.display(), t.code),
                });
            }
            set.insert(t)?;
        }
        Ok(set)
    }

    /// Adds one template (refusing a second one for the same code).
    pub fn insert(&mut self, t: Template) -> Result<(), TemplateError> {
        let code = t.doc_code()?;
        if self.templates.contains_key(&code) {
            return Err(TemplateError::Duplicate(t.code));
        }
        self.templates.insert(code, t);
        Ok(())
    }

    /// The template for a code.
    pub fn get(&self, code: &DocCode) -> Option<&Template> {
        self.templates.get(code)
    }

    /// All codes, sorted.
    pub fn codes(&self) -> impl Iterator<Item = &DocCode> {
        self.templates.keys()
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// All templates in code order.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.templates.values()
    }
}
