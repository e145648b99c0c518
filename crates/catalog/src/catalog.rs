//! The national document catalog: which document types exist, who owns them, what they
//! cost by default, and what a citizen chooses when ordering one.

use std::collections::HashMap;
use std::path::Path;

use kiosk_core::{DocCode, Won};
use serde::Serialize;
use toml::de::{DeTable, DeValue};

use crate::problem::{Location, ProblemKind, Problems, Sink};
use crate::walk::{self, Entry, Need};

/// At most this many document types in one catalog (the national list has 119).
pub const MAX_DOCUMENTS: usize = 1_000;
/// At most this many agencies, domains or exemptions each.
pub const MAX_NAMED: usize = 200;
/// At most this many options per document, and choices per option.
pub const MAX_OPTIONS: usize = 16;
/// The largest page limit a document may declare.
pub const MAX_PAGES: u32 = 500;
/// The largest configuration file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// An owning agency (소관 기관), e.g. the court administration. Kiosks enable or disable
/// whole agencies, since court documents are allowed only at agreed sites.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Agency {
    /// Lower-case code, e.g. `court`.
    pub code: String,
    /// Korean name, e.g. `법원행정처`.
    pub name_ko: String,
    /// English name.
    pub name_en: String,
}

/// A subject area (분야) used to group documents on screen, e.g. `family`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Domain {
    /// Lower-case code.
    pub code: String,
    /// Korean name.
    pub name_ko: String,
    /// English name.
    pub name_en: String,
}

/// A statutory fee exemption (법정 수수료 면제), e.g. basic-livelihood recipients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Exemption {
    /// Lower-case code, e.g. `basic-livelihood`.
    pub code: String,
    /// Korean name.
    pub name_ko: String,
    /// English name.
    pub name_en: String,
}

/// What a citizen must give before the kiosk fetches the document: personal documents
/// need identity proof, land and building documents only an address or parcel number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requirement {
    /// Resident number plus live fingerprint (본인확인).
    Identity,
    /// An address or parcel number (소재지·지번); no identity.
    Address,
}

impl Requirement {
    /// Whether identity proof is needed; the session state machine's `needs_identity`.
    pub fn needs_identity(self) -> bool {
        self == Requirement::Identity
    }
}

/// The default fee rule of a document type, before any kiosk's ordinance or waiver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FeeRule {
    /// Fee per copy for the first page, subject inside the district.
    pub base: Won,
    /// Fee for each page after the first.
    pub per_extra_page: Won,
    /// Base fee when the subject is outside the district (관외); `None` means the same as
    /// `base`. Never set on local-only documents.
    pub outside_district: Option<Won>,
    /// Codes of the statutory exemptions that make this document free.
    pub exemptions: Vec<String>,
}

/// One choice of a document option, e.g. the detailed form of a family certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Choice {
    /// Lower-case value, e.g. `detailed`.
    pub value: String,
    /// Korean label shown on screen.
    pub name_ko: String,
    /// English label.
    pub name_en: String,
    /// Added to the fee per copy when chosen; zero for nearly every choice.
    pub surcharge: Won,
}

/// Something the citizen chooses when ordering a document, e.g. whether a resident
/// registration copy includes the address history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DocOption {
    /// Lower-case key, e.g. `address-history`.
    pub key: String,
    /// Korean question shown on screen.
    pub name_ko: String,
    /// English question.
    pub name_en: String,
    /// The allowed answers, in display order.
    pub choices: Vec<Choice>,
    /// The value used when the citizen does not choose; one of `choices`.
    pub default: String,
}

impl DocOption {
    /// The choice with this value, if any.
    pub fn choice(&self, value: &str) -> Option<&Choice> {
        self.choices.iter().find(|c| c.value == value)
    }
}

/// One document type the kiosks can issue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Document {
    /// Stable code, e.g. `RES-COPY`; keys revenue accounts.
    pub code: DocCode,
    /// Korean name, e.g. `주민등록표 등본`.
    pub name_ko: String,
    /// English name.
    pub name_en: String,
    /// Code of its domain.
    pub domain: String,
    /// Code of its owning agency.
    pub agency: String,
    /// Identity proof or address.
    pub requires: Requirement,
    /// Issued only for subjects inside the district (관내).
    pub local_only: bool,
    /// The most pages one copy may have.
    pub max_pages: u32,
    /// The default fee rule.
    pub fee: FeeRule,
    /// The citizen's choices, in display order.
    pub options: Vec<DocOption>,
}

impl Document {
    /// The option with this key, if any.
    pub fn option(&self, key: &str) -> Option<&DocOption> {
        self.options.iter().find(|o| o.key == key)
    }
}

/// The validated document catalog, in file order.
#[derive(Clone, Debug)]
pub struct Catalog {
    file: String,
    agencies: Vec<Agency>,
    domains: Vec<Domain>,
    exemptions: Vec<Exemption>,
    documents: Vec<Document>,
    index: HashMap<DocCode, usize>,
}

const ROOT_FIELDS: &[&str] = &["agency", "domain", "exemption", "document"];
const NAMED_FIELDS: &[&str] = &["code", "name_ko", "name_en"];
const DOC_FIELDS: &[&str] = &[
    "code",
    "name_ko",
    "name_en",
    "domain",
    "agency",
    "requires",
    "local_only",
    "max_pages",
    "fee",
    "option",
];
const FEE_FIELDS: &[&str] = &["base", "per_extra_page", "outside_district", "exemptions"];
const OPTION_FIELDS: &[&str] = &["key", "name_ko", "name_en", "choices", "default"];
const CHOICE_FIELDS: &[&str] = &["value", "name_ko", "name_en", "surcharge"];

/// Reads a configuration file into text, reporting size, I/O and encoding problems.
pub(crate) fn read_config(path: &Path) -> Result<(String, String), Problems> {
    let file = path.display().to_string();
    let fail = |kind| {
        Err(Problems::single(
            &file,
            Location { line: 1, column: 1 },
            kind,
        ))
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            return fail(ProblemKind::FileTooLarge {
                size: meta.len(),
                max: MAX_FILE_BYTES,
            });
        }
        Ok(_) => {}
        Err(e) => return fail(ProblemKind::Io(e.to_string())),
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return fail(ProblemKind::Io(e.to_string())),
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok((text, file)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(bytes.get(..valid).unwrap_or_default());
            let at = crate::problem::LineIndex::new(&prefix).locate(valid);
            Err(Problems::single(&file, at, ProblemKind::NotUtf8))
        }
    }
}

/// Parses TOML, turning syntax errors into problems. `None` when the text is unusable.
pub(crate) fn parse<'i>(sink: &mut Sink, text: &'i str) -> Option<DeTable<'i>> {
    if text.len() as u64 > MAX_FILE_BYTES {
        sink.report_at(
            Location { line: 1, column: 1 },
            "",
            "",
            ProblemKind::FileTooLarge {
                size: text.len() as u64,
                max: MAX_FILE_BYTES,
            },
        );
        return None;
    }
    let (root, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(root.into_inner());
    }
    for err in errors {
        let span = err.span().unwrap_or(0..0);
        sink.report(&span, "", "", ProblemKind::Syntax(err.message().to_owned()));
    }
    None
}

/// Reads `[[agency]]`, `[[domain]]` or `[[exemption]]` entries.
fn read_named(
    sink: &mut Sink,
    root: &Entry<'_, '_>,
    key: &'static str,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (n, (t, span)) in walk::tables(sink, root, key, MAX_NAMED, "entries")
        .into_iter()
        .enumerate()
    {
        let mut e = Entry::new(t, span.clone(), format!("{key} #{}", n + 1));
        let code = walk::name(sink, &e, "code", Need::Required);
        if let Some(code) = &code {
            e.subject = format!("{key} {code}");
        }
        walk::check_fields(sink, &e, NAMED_FIELDS);
        let name_ko = walk::text(sink, &e, "name_ko", Need::Required);
        let name_en = walk::text(sink, &e, "name_en", Need::Required);
        let Some(code) = code else { continue };
        let line = sink.locate(&span).line;
        if let Some(&first_line) = seen.get(&code) {
            sink.report(
                &span,
                &e.subject,
                "code",
                ProblemKind::Duplicate {
                    what: key,
                    name: code.clone(),
                    first_line,
                },
            );
            continue;
        }
        seen.insert(code.clone(), line);
        if let (Some(ko), Some(en)) = (name_ko, name_en) {
            out.push((code, ko, en));
        }
    }
    out
}

fn known_hint(names: &[&str]) -> String {
    if names.is_empty() {
        "; none is defined".to_owned()
    } else {
        format!("; known: {}", names.join(", "))
    }
}

/// Checks that `name` is among `known`, reporting `Unknown` otherwise.
fn check_ref(
    sink: &mut Sink,
    e: &Entry<'_, '_>,
    field: &str,
    what: &'static str,
    value: Option<(String, core::ops::Range<usize>)>,
    known: &[&str],
) -> Option<String> {
    let (value, span) = value?;
    if known.contains(&value.as_str()) {
        Some(value)
    } else {
        sink.report(
            &span,
            &e.subject,
            &e.path(field),
            ProblemKind::Unknown {
                what,
                name: value,
                hint: known_hint(known),
            },
        );
        None
    }
}

struct Known<'k> {
    agencies: Vec<&'k str>,
    domains: Vec<&'k str>,
    exemptions: Vec<&'k str>,
}

fn read_fee(
    sink: &mut Sink,
    doc: &Entry<'_, '_>,
    known: &Known<'_>,
    max_pages: Option<u32>,
    local_only: Option<bool>,
) -> Option<FeeRule> {
    let fee = walk::table(sink, doc, "fee", Need::Required)?;
    walk::check_fields(sink, &fee, FEE_FIELDS);
    let base = walk::won(sink, &fee, "base", Need::Required);
    let extra = walk::won(sink, &fee, "per_extra_page", Need::Optional);
    let outside = walk::won(sink, &fee, "outside_district", Need::Optional);
    if let (Some((extra, span)), Some(1)) = (&extra, max_pages)
        && !extra.is_zero()
    {
        sink.report(
            span,
            &fee.subject,
            &fee.path("per_extra_page"),
            ProblemKind::ExtraPageFeeOnSinglePage,
        );
    }
    if let (Some((_, span)), Some(true)) = (&outside, local_only) {
        sink.report(
            span,
            &fee.subject,
            &fee.path("outside_district"),
            ProblemKind::OutsideFeeOnLocalOnly,
        );
    }
    let mut exemptions = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut ok = true;
    if let Some((items, _)) = walk::array(sink, &fee, "exemptions", Need::Optional) {
        for item in items.iter() {
            let field = fee.path("exemptions");
            match item.get_ref() {
                DeValue::String(s) => {
                    let s = s.to_string();
                    if let Some((_, first_line)) = seen.iter().find(|(x, _)| *x == s) {
                        sink.report(
                            &item.span(),
                            &fee.subject,
                            &field,
                            ProblemKind::Duplicate {
                                what: "exemption",
                                name: s,
                                first_line: *first_line,
                            },
                        );
                        ok = false;
                        continue;
                    }
                    seen.push((s.clone(), sink.locate(&item.span()).line));
                    if let Some(s) = check_ref(
                        sink,
                        &fee,
                        "exemptions",
                        "exemption",
                        Some((s, item.span())),
                        &known.exemptions,
                    ) {
                        exemptions.push(s);
                    } else {
                        ok = false;
                    }
                }
                other => {
                    sink.report(
                        &item.span(),
                        &fee.subject,
                        &field,
                        ProblemKind::WrongType {
                            expected: "a string",
                            found: walk::type_name(other),
                        },
                    );
                    ok = false;
                }
            }
        }
    }
    let base = base?.0;
    if !ok {
        return None;
    }
    Some(FeeRule {
        base,
        per_extra_page: extra.map_or(Won::ZERO, |(w, _)| w),
        outside_district: outside.map(|(w, _)| w),
        exemptions,
    })
}

fn read_choice(sink: &mut Sink, option: &Entry<'_, '_>, item: &walk::Val<'_>) -> Option<Choice> {
    let DeValue::Table(t) = item.get_ref() else {
        sink.report(
            &item.span(),
            &option.subject,
            &option.path("choices"),
            ProblemKind::WrongType {
                expected: "a table like { value = \"general\", name_ko = \"일반\", name_en = \"general\" }",
                found: walk::type_name(item.get_ref()),
            },
        );
        return None;
    };
    let mut e = Entry::new(t, item.span(), option.subject.clone());
    e.prefix = option.path("choices.");
    walk::check_fields(sink, &e, CHOICE_FIELDS);
    let value = walk::name(sink, &e, "value", Need::Required);
    let name_ko = walk::text(sink, &e, "name_ko", Need::Required);
    let name_en = walk::text(sink, &e, "name_en", Need::Required);
    let surcharge = walk::won(sink, &e, "surcharge", Need::Optional);
    Some(Choice {
        value: value?,
        name_ko: name_ko?,
        name_en: name_en?,
        surcharge: surcharge.map_or(Won::ZERO, |(w, _)| w),
    })
}

fn read_options(sink: &mut Sink, doc: &Entry<'_, '_>) -> Option<Vec<DocOption>> {
    let mut out = Vec::new();
    let mut ok = true;
    let mut keys: HashMap<String, usize> = HashMap::new();
    for (t, span) in walk::tables(sink, doc, "option", MAX_OPTIONS, "options") {
        let mut e = Entry::new(t, span.clone(), doc.subject.clone());
        e.prefix = "option.".to_owned();
        walk::check_fields(sink, &e, OPTION_FIELDS);
        let key = walk::name(sink, &e, "key", Need::Required);
        if let Some(k) = &key {
            e.prefix = format!("option.{k}.");
            let line = sink.locate(&span).line;
            if let Some(&first_line) = keys.get(k) {
                sink.report(
                    &span,
                    &e.subject,
                    &e.path("key"),
                    ProblemKind::Duplicate {
                        what: "option key",
                        name: k.clone(),
                        first_line,
                    },
                );
                ok = false;
            } else {
                keys.insert(k.clone(), line);
            }
        }
        let name_ko = walk::text(sink, &e, "name_ko", Need::Required);
        let name_en = walk::text(sink, &e, "name_en", Need::Required);
        let mut choices: Vec<Choice> = Vec::new();
        let mut choice_lines: Vec<usize> = Vec::new();
        let mut choices_ok = true;
        if let Some((items, aspan)) = walk::array(sink, &e, "choices", Need::Required) {
            if items.is_empty() {
                sink.report(&aspan, &e.subject, &e.path("choices"), ProblemKind::Empty);
                choices_ok = false;
            }
            if items.len() > MAX_OPTIONS {
                sink.report(
                    &aspan,
                    &e.subject,
                    &e.path("choices"),
                    ProblemKind::TooMany {
                        what: "choices",
                        count: items.len(),
                        max: MAX_OPTIONS,
                    },
                );
                choices_ok = false;
            }
            for item in items.iter().take(MAX_OPTIONS) {
                match read_choice(sink, &e, item) {
                    Some(c) => {
                        if let Some(i) = choices.iter().position(|o| o.value == c.value) {
                            sink.report(
                                &item.span(),
                                &e.subject,
                                &e.path("choices.value"),
                                ProblemKind::Duplicate {
                                    what: "choice",
                                    name: c.value.clone(),
                                    first_line: choice_lines.get(i).copied().unwrap_or(0),
                                },
                            );
                            choices_ok = false;
                        } else {
                            choice_lines.push(sink.locate(&item.span()).line);
                            choices.push(c);
                        }
                    }
                    None => choices_ok = false,
                }
            }
        } else {
            choices_ok = false;
        }
        let default = walk::string(sink, &e, "default", Need::Required);
        if let Some((d, dspan)) = &default
            && choices_ok
            && !choices.iter().any(|c| &c.value == d)
        {
            sink.report(
                dspan,
                &e.subject,
                &e.path("default"),
                ProblemKind::DefaultNotAChoice {
                    default: d.clone(),
                    choices: choices
                        .iter()
                        .map(|c| c.value.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            );
            ok = false;
        }
        match (key, name_ko, name_en, default, choices_ok) {
            (Some(key), Some(name_ko), Some(name_en), Some((default, _)), true) => {
                out.push(DocOption {
                    key,
                    name_ko,
                    name_en,
                    choices,
                    default,
                });
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn read_document(
    sink: &mut Sink,
    t: &DeTable<'_>,
    span: core::ops::Range<usize>,
    n: usize,
    known: &Known<'_>,
    codes: &mut HashMap<DocCode, usize>,
) -> Option<Document> {
    let mut e = Entry::new(t, span.clone(), format!("document #{n}"));
    let code = match walk::string(sink, &e, "code", Need::Required) {
        Some((s, cspan)) => match DocCode::new(&s) {
            Ok(c) => Some(c),
            Err(err) => {
                sink.report(
                    &cspan,
                    &e.subject,
                    "code",
                    ProblemKind::InvalidCode {
                        code: s,
                        reason: err.to_string(),
                    },
                );
                None
            }
        },
        None => None,
    };
    let mut duplicate = false;
    if let Some(code) = &code {
        e.subject = format!("document {code}");
        let line = sink.locate(&span).line;
        if let Some(&first_line) = codes.get(code) {
            sink.report(
                &span,
                &e.subject,
                "code",
                ProblemKind::Duplicate {
                    what: "document code",
                    name: code.to_string(),
                    first_line,
                },
            );
            duplicate = true;
        } else {
            codes.insert(code.clone(), line);
        }
    }
    walk::check_fields(sink, &e, DOC_FIELDS);
    let name_ko = walk::text(sink, &e, "name_ko", Need::Required);
    let name_en = walk::text(sink, &e, "name_en", Need::Required);
    let domain = walk::string(sink, &e, "domain", Need::Required);
    let domain = check_ref(sink, &e, "domain", "domain", domain, &known.domains);
    let agency = walk::string(sink, &e, "agency", Need::Required);
    let agency = check_ref(sink, &e, "agency", "agency", agency, &known.agencies);
    let requires = match walk::string(sink, &e, "requires", Need::Required) {
        Some((s, _)) if s == "identity" => Some(Requirement::Identity),
        Some((s, _)) if s == "address" => Some(Requirement::Address),
        Some((s, rspan)) => {
            sink.report(
                &rspan,
                &e.subject,
                "requires",
                ProblemKind::Unknown {
                    what: "requirement",
                    name: s,
                    hint: "; expected \"identity\" or \"address\"".to_owned(),
                },
            );
            None
        }
        None => None,
    };
    let local_only = match e.get("local_only") {
        None => Some(false),
        Some(_) => walk::boolean(sink, &e, "local_only", Need::Optional),
    };
    let max_pages = walk::integer(
        sink,
        &e,
        "max_pages",
        Need::Required,
        1,
        i128::from(MAX_PAGES),
    )
    .and_then(|(n, _)| u32::try_from(n).ok());
    let fee = read_fee(sink, &e, known, max_pages, local_only);
    let options = read_options(sink, &e);
    if duplicate {
        return None;
    }
    Some(Document {
        code: code?,
        name_ko: name_ko?,
        name_en: name_en?,
        domain: domain?,
        agency: agency?,
        requires: requires?,
        local_only: local_only?,
        max_pages: max_pages?,
        fee: fee?,
        options: options?,
    })
}

impl Catalog {
    /// Parses and validates a catalog. `file_name` only labels the problems.
    ///
    /// Every problem in the text is reported at once; nothing is returned unless the
    /// whole file is sound.
    pub fn from_toml(text: &str, file_name: &str) -> Result<Catalog, Problems> {
        let mut sink = Sink::new(file_name, text);
        let Some(root) = parse(&mut sink, text) else {
            sink.finish()?;
            return Err(Problems::new(Vec::new()));
        };
        let root = Entry::new(&root, 0..0, String::new());
        walk::check_fields(&mut sink, &root, ROOT_FIELDS);
        let agencies = read_named(&mut sink, &root, "agency");
        let domains = read_named(&mut sink, &root, "domain");
        let exemptions = read_named(&mut sink, &root, "exemption");
        let known = Known {
            agencies: agencies.iter().map(|a| a.0.as_str()).collect(),
            domains: domains.iter().map(|a| a.0.as_str()).collect(),
            exemptions: exemptions.iter().map(|a| a.0.as_str()).collect(),
        };
        let mut codes = HashMap::new();
        let mut documents = Vec::new();
        let tables = walk::tables(&mut sink, &root, "document", MAX_DOCUMENTS, "documents");
        if tables.is_empty() && !sink.has_problems() {
            sink.report(&(0..0), "", "document", ProblemKind::Missing);
        }
        for (n, (t, span)) in tables.into_iter().enumerate() {
            if let Some(doc) = read_document(&mut sink, t, span, n + 1, &known, &mut codes) {
                documents.push(doc);
            }
        }
        sink.finish()?;
        let index = documents
            .iter()
            .enumerate()
            .map(|(i, d)| (d.code.clone(), i))
            .collect();
        let named = |v: Vec<(String, String, String)>| v.into_iter();
        Ok(Catalog {
            file: file_name.to_owned(),
            agencies: named(agencies)
                .map(|(code, name_ko, name_en)| Agency {
                    code,
                    name_ko,
                    name_en,
                })
                .collect(),
            domains: named(domains)
                .map(|(code, name_ko, name_en)| Domain {
                    code,
                    name_ko,
                    name_en,
                })
                .collect(),
            exemptions: named(exemptions)
                .map(|(code, name_ko, name_en)| Exemption {
                    code,
                    name_ko,
                    name_en,
                })
                .collect(),
            documents,
            index,
        })
    }

    /// Reads and validates a catalog file; problems are labelled with `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Catalog, Problems> {
        let (text, file) = read_config(path.as_ref())?;
        Catalog::from_toml(&text, &file)
    }

    /// The file name the catalog was loaded under.
    pub fn file_name(&self) -> &str {
        &self.file
    }

    /// Every document type, in file order.
    pub fn documents(&self) -> impl ExactSizeIterator<Item = &Document> + '_ {
        self.documents.iter()
    }

    /// How many document types there are.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether the catalog has no documents (never true for a loaded catalog).
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The document with this code, if any.
    pub fn document(&self, code: &str) -> Option<&Document> {
        // A `&str` that is not a valid code cannot be in the index.
        let code = DocCode::new(code).ok()?;
        self.index.get(&code).and_then(|&i| self.documents.get(i))
    }

    /// Every agency, in file order.
    pub fn agencies(&self) -> &[Agency] {
        &self.agencies
    }

    /// The agency with this code, if any.
    pub fn agency(&self, code: &str) -> Option<&Agency> {
        self.agencies.iter().find(|a| a.code == code)
    }

    /// Every domain, in file order.
    pub fn domains(&self) -> &[Domain] {
        &self.domains
    }

    /// The domain with this code, if any.
    pub fn domain(&self, code: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.code == code)
    }

    /// Every statutory exemption, in file order.
    pub fn exemptions(&self) -> &[Exemption] {
        &self.exemptions
    }

    /// The exemption with this code, if any.
    pub fn exemption(&self, code: &str) -> Option<&Exemption> {
        self.exemptions.iter().find(|x| x.code == code)
    }
}
