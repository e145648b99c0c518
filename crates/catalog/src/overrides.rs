//! A district's settings for one kiosk: which agencies and documents it issues, fee
//! changes by local ordinance, and fee waivers.
//!
//! The file is read on its own first (syntax, fields, dates, amounts) and then checked
//! against the catalog (codes and agencies must exist), so both steps report with lines.

use std::path::Path;

use jiff::civil::Date;
use kiosk_core::{DocCode, Won};
use toml::de::DeValue;

use crate::catalog::{Catalog, parse, read_config};
use crate::problem::{Location, ProblemKind, Problems, Sink};
use crate::walk::{self, Entry, Need};

/// At most this many fee changes in one overrides file.
pub const MAX_FEE_CHANGES: usize = 1_000;
/// At most this many waivers in one overrides file.
pub const MAX_WAIVERS: usize = 200;

const ROOT_FIELDS: &[&str] = &["site", "agencies", "documents", "fee", "waiver"];
const FEE_FIELDS: &[&str] = &[
    "document",
    "effective",
    "ordinance",
    "base",
    "per_extra_page",
    "outside_district",
];
const WAIVER_FIELDS: &[&str] = &["documents", "from", "until", "reason"];

/// Turning one agency's documents on or off at this kiosk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgencySwitch {
    /// The agency code.
    pub agency: String,
    /// Whether its documents are issued here.
    pub enabled: bool,
    /// Where it is written.
    pub at: Location,
}

/// Turning one document type on or off at this kiosk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentSwitch {
    /// The document code.
    pub code: DocCode,
    /// Whether it is issued here.
    pub enabled: bool,
    /// Where it is written.
    pub at: Location,
}

/// A fee set by local ordinance (조례), in force from `effective` until the next change for
/// the same document. Fields left out keep the catalog's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeChange {
    /// The document code.
    pub code: DocCode,
    /// First day the fee applies.
    pub effective: Date,
    /// The ordinance that sets it, as printed on receipts and in reports.
    pub ordinance: String,
    /// New base fee, if changed.
    pub base: Option<Won>,
    /// New per-extra-page fee, if changed.
    pub per_extra_page: Option<Won>,
    /// New outside-district base fee, if changed.
    pub outside_district: Option<Won>,
    /// Where it is written.
    pub at: Location,
}

/// Which documents a waiver covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaiverScope {
    /// Every document type.
    All,
    /// These document types, each with where it is written.
    Documents(Vec<(DocCode, Location)>),
}

impl WaiverScope {
    /// Whether the scope covers this document.
    pub fn covers(&self, code: &DocCode) -> bool {
        match self {
            WaiverScope::All => true,
            WaiverScope::Documents(codes) => codes.iter().any(|(c, _)| c == code),
        }
    }

    /// A document both scopes cover, as text (`all` when both are whole), if any.
    fn shared(&self, other: &WaiverScope) -> Option<String> {
        match (self, other) {
            (WaiverScope::All, WaiverScope::All) => Some("all".to_owned()),
            (WaiverScope::All, WaiverScope::Documents(c))
            | (WaiverScope::Documents(c), WaiverScope::All) => c.first().map(|c| c.0.to_string()),
            (WaiverScope::Documents(a), WaiverScope::Documents(b)) => a
                .iter()
                .find(|(x, _)| b.iter().any(|(y, _)| x == y))
                .map(|c| c.0.to_string()),
        }
    }
}

/// A district's decision to charge nothing (수수료 면제) for some documents, optionally
/// between two dates (both inclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiver {
    /// Which documents.
    pub scope: WaiverScope,
    /// First day, if bounded.
    pub from: Option<Date>,
    /// Last day, if bounded.
    pub until: Option<Date>,
    /// Why, as shown on the receipt.
    pub reason: String,
    /// Where it is written.
    pub at: Location,
}

impl Waiver {
    /// Whether the waiver is in force on `date`.
    pub fn in_force(&self, date: Date) -> bool {
        self.from.is_none_or(|f| f <= date) && self.until.is_none_or(|u| date <= u)
    }

    fn overlaps(&self, other: &Waiver) -> bool {
        let starts_before_other_ends = match (self.from, other.until) {
            (Some(f), Some(u)) => f <= u,
            _ => true,
        };
        let other_starts_before_this_ends = match (other.from, self.until) {
            (Some(f), Some(u)) => f <= u,
            _ => true,
        };
        starts_before_other_ends && other_starts_before_this_ends
    }
}

/// One kiosk's overrides of the catalog, validated on their own.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    file: String,
    site: Option<String>,
    agencies: Vec<AgencySwitch>,
    documents: Vec<DocumentSwitch>,
    fees: Vec<FeeChange>,
    waivers: Vec<Waiver>,
}

fn read_switches(
    sink: &mut Sink,
    root: &Entry<'_, '_>,
    key: &str,
) -> Vec<(String, bool, Location)> {
    let mut out = Vec::new();
    let Some(t) = walk::table(sink, root, key, Need::Optional) else {
        return out;
    };
    for (k, v) in t.table.iter() {
        let name: &str = k.get_ref().as_ref();
        match v.get_ref() {
            DeValue::Boolean(b) => out.push((name.to_owned(), *b, sink.locate(&k.span()))),
            other => sink.report(
                &v.span(),
                "",
                &t.path(name),
                ProblemKind::WrongType {
                    expected: "true or false",
                    found: walk::type_name(other),
                },
            ),
        }
    }
    out
}

fn doc_code(
    sink: &mut Sink,
    subject: &str,
    field: &str,
    s: &str,
    span: &core::ops::Range<usize>,
) -> Option<DocCode> {
    match DocCode::new(s) {
        Ok(c) => Some(c),
        Err(err) => {
            sink.report(
                span,
                subject,
                field,
                ProblemKind::InvalidCode {
                    code: s.to_owned(),
                    reason: err.to_string(),
                },
            );
            None
        }
    }
}

fn read_fee_change(
    sink: &mut Sink,
    t: &toml::de::DeTable<'_>,
    span: core::ops::Range<usize>,
    n: usize,
) -> Option<FeeChange> {
    let mut e = Entry::new(t, span.clone(), format!("fee #{n}"));
    let code = walk::string(sink, &e, "document", Need::Required)
        .and_then(|(s, sp)| doc_code(sink, &e.subject, "document", &s, &sp));
    if let Some(c) = &code {
        e.subject = format!("fee #{n} ({c})");
    }
    walk::check_fields(sink, &e, FEE_FIELDS);
    let effective = walk::date(sink, &e, "effective", Need::Required);
    let ordinance = walk::text(sink, &e, "ordinance", Need::Required);
    let base = walk::won(sink, &e, "base", Need::Optional);
    let extra = walk::won(sink, &e, "per_extra_page", Need::Optional);
    let outside = walk::won(sink, &e, "outside_district", Need::Optional);
    let given = ["base", "per_extra_page", "outside_district"]
        .iter()
        .any(|k| e.get(k).is_some());
    if !given {
        sink.report(&span, &e.subject, "", ProblemKind::NoFeeGiven);
        return None;
    }
    let any_bad = (e.get("base").is_some() && base.is_none())
        || (e.get("per_extra_page").is_some() && extra.is_none())
        || (e.get("outside_district").is_some() && outside.is_none());
    if any_bad {
        return None;
    }
    Some(FeeChange {
        code: code?,
        effective: effective?.0,
        ordinance: ordinance?,
        base: base.map(|w| w.0),
        per_extra_page: extra.map(|w| w.0),
        outside_district: outside.map(|w| w.0),
        at: sink.locate(&span),
    })
}

fn read_waiver(
    sink: &mut Sink,
    t: &toml::de::DeTable<'_>,
    span: core::ops::Range<usize>,
    n: usize,
) -> Option<Waiver> {
    let e = Entry::new(t, span.clone(), format!("waiver #{n}"));
    walk::check_fields(sink, &e, WAIVER_FIELDS);
    let scope = match e.get("documents") {
        None => {
            sink.report(&span, &e.subject, "documents", ProblemKind::Missing);
            None
        }
        Some(v) => match v.get_ref() {
            DeValue::String(s) if s == "all" => Some(WaiverScope::All),
            DeValue::Array(items) if items.is_empty() => {
                sink.report(&v.span(), &e.subject, "documents", ProblemKind::Empty);
                None
            }
            DeValue::Array(items) => {
                let mut codes: Vec<(DocCode, Location)> = Vec::new();
                let mut ok = true;
                for item in items.iter() {
                    let at = sink.locate(&item.span());
                    let code = match item.get_ref() {
                        DeValue::String(s) => {
                            doc_code(sink, &e.subject, "documents", s, &item.span())
                        }
                        other => {
                            sink.report(
                                &item.span(),
                                &e.subject,
                                "documents",
                                ProblemKind::WrongType {
                                    expected: "a document code",
                                    found: walk::type_name(other),
                                },
                            );
                            None
                        }
                    };
                    match code {
                        Some(c) => {
                            if let Some((_, first)) = codes.iter().find(|(x, _)| *x == c) {
                                sink.report(
                                    &item.span(),
                                    &e.subject,
                                    "documents",
                                    ProblemKind::Duplicate {
                                        what: "document code",
                                        name: c.to_string(),
                                        first_line: first.line,
                                    },
                                );
                                ok = false;
                            } else {
                                codes.push((c, at));
                            }
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(WaiverScope::Documents(codes))
            }
            other => {
                sink.report(
                    &v.span(),
                    &e.subject,
                    "documents",
                    ProblemKind::WrongType {
                        expected: "\"all\" or a list of document codes",
                        found: walk::type_name(other),
                    },
                );
                None
            }
        },
    };
    let from = walk::date(sink, &e, "from", Need::Optional);
    let until = walk::date(sink, &e, "until", Need::Optional);
    let reason = walk::text(sink, &e, "reason", Need::Required);
    let mut ok = true;
    if let (Some((f, _)), Some((u, uspan))) = (&from, &until)
        && u < f
    {
        sink.report(
            uspan,
            &e.subject,
            "until",
            ProblemKind::InvertedRange {
                from: f.to_string(),
                until: u.to_string(),
            },
        );
        ok = false;
    }
    let dates_ok = (e.get("from").is_none() || from.is_some())
        && (e.get("until").is_none() || until.is_some());
    if !(ok && dates_ok) {
        return None;
    }
    Some(Waiver {
        scope: scope?,
        from: from.map(|d| d.0),
        until: until.map(|d| d.0),
        reason: reason?,
        at: sink.locate(&span),
    })
}

impl Overrides {
    /// No overrides: the catalog as it is, every agency and document enabled.
    pub fn none() -> Overrides {
        Overrides::default()
    }

    /// Parses and validates an overrides file on its own (syntax, fields, dates, amounts,
    /// duplicate effective dates, overlapping waivers). Codes are checked against the
    /// catalog later, by [`Overrides::validate_against`].
    pub fn from_toml(text: &str, file_name: &str) -> Result<Overrides, Problems> {
        let mut sink = Sink::new(file_name, text);
        let Some(root) = parse(&mut sink, text) else {
            sink.finish()?;
            return Err(Problems::new(Vec::new()));
        };
        let root = Entry::new(&root, 0..0, String::new());
        walk::check_fields(&mut sink, &root, ROOT_FIELDS);
        let site = walk::text(&mut sink, &root, "site", Need::Optional);

        let agencies = read_switches(&mut sink, &root, "agencies")
            .into_iter()
            .filter_map(|(agency, enabled, at)| match walk::check_name(&agency) {
                Ok(()) => Some(AgencySwitch {
                    agency,
                    enabled,
                    at,
                }),
                Err(reason) => {
                    sink.report_at(
                        at,
                        "",
                        &format!("agencies.{agency}"),
                        ProblemKind::InvalidCode {
                            code: agency.clone(),
                            reason,
                        },
                    );
                    None
                }
            })
            .collect();
        let documents = read_switches(&mut sink, &root, "documents")
            .into_iter()
            .filter_map(|(code, enabled, at)| match DocCode::new(&code) {
                Ok(c) => Some(DocumentSwitch {
                    code: c,
                    enabled,
                    at,
                }),
                Err(err) => {
                    sink.report_at(
                        at,
                        "",
                        &format!("documents.{code}"),
                        ProblemKind::InvalidCode {
                            code: code.clone(),
                            reason: err.to_string(),
                        },
                    );
                    None
                }
            })
            .collect();

        let mut fees: Vec<FeeChange> = Vec::new();
        let tables = walk::tables(&mut sink, &root, "fee", MAX_FEE_CHANGES, "fee changes");
        for (n, (t, span)) in tables.into_iter().enumerate() {
            let Some(change) = read_fee_change(&mut sink, t, span, n + 1) else {
                continue;
            };
            if let Some(other) = fees
                .iter()
                .find(|f| f.code == change.code && f.effective == change.effective)
            {
                sink.report_at(
                    change.at,
                    &format!("fee #{} ({})", n + 1, change.code),
                    "effective",
                    ProblemKind::DuplicateEffectiveDate {
                        code: change.code.to_string(),
                        date: change.effective.to_string(),
                        other_line: other.at.line,
                    },
                );
                continue;
            }
            fees.push(change);
        }

        let mut waivers: Vec<Waiver> = Vec::new();
        let tables = walk::tables(&mut sink, &root, "waiver", MAX_WAIVERS, "waivers");
        for (n, (t, span)) in tables.into_iter().enumerate() {
            let Some(w) = read_waiver(&mut sink, t, span, n + 1) else {
                continue;
            };
            let clash = waivers
                .iter()
                .filter(|o| o.overlaps(&w))
                .find_map(|o| o.scope.shared(&w.scope).map(|c| (c, o.at.line)));
            if let Some((code, other_line)) = clash {
                sink.report_at(
                    w.at,
                    &format!("waiver #{}", n + 1),
                    "",
                    ProblemKind::OverlappingWaiver { code, other_line },
                );
                continue;
            }
            waivers.push(w);
        }

        sink.finish()?;
        // Latest effective date last, so lookups scan from the end.
        fees.sort_by(|a, b| (&a.code, a.effective).cmp(&(&b.code, b.effective)));
        Ok(Overrides {
            file: file_name.to_owned(),
            site,
            agencies,
            documents,
            fees,
            waivers,
        })
    }

    /// Reads and validates an overrides file on its own.
    pub fn load(path: impl AsRef<Path>) -> Result<Overrides, Problems> {
        let (text, file) = read_config(path.as_ref())?;
        Overrides::from_toml(&text, &file)
    }

    /// Checks every code and agency named here against the catalog, and that no fee change
    /// contradicts a document's rules. Reports every problem with its line.
    pub fn validate_against(&self, catalog: &Catalog) -> Result<(), Problems> {
        let mut sink = Sink::new(&self.file, "");
        let agency_hint = || {
            let names: Vec<&str> = catalog.agencies().iter().map(|a| a.code.as_str()).collect();
            format!("; known: {}", names.join(", "))
        };
        for s in &self.agencies {
            if catalog.agency(&s.agency).is_none() {
                sink.report_at(
                    s.at,
                    "",
                    &format!("agencies.{}", s.agency),
                    ProblemKind::Unknown {
                        what: "agency",
                        name: s.agency.clone(),
                        hint: agency_hint(),
                    },
                );
            }
        }
        let unknown_doc = |code: &DocCode| ProblemKind::Unknown {
            what: "document",
            name: code.to_string(),
            hint: String::new(),
        };
        for s in &self.documents {
            let field = format!("documents.{}", s.code);
            match catalog.document(s.code.as_str()) {
                None => sink.report_at(s.at, "", &field, unknown_doc(&s.code)),
                Some(doc) => {
                    if s.enabled && !self.agency_enabled(&doc.agency) {
                        sink.report_at(
                            s.at,
                            "",
                            &field,
                            ProblemKind::AgencyDisabled {
                                agency: doc.agency.clone(),
                            },
                        );
                    }
                }
            }
        }
        for f in &self.fees {
            let subject = format!("fee ({})", f.code);
            match catalog.document(f.code.as_str()) {
                None => sink.report_at(f.at, &subject, "document", unknown_doc(&f.code)),
                Some(doc) => {
                    if doc.max_pages == 1 && f.per_extra_page.is_some_and(|w| !w.is_zero()) {
                        sink.report_at(
                            f.at,
                            &subject,
                            "per_extra_page",
                            ProblemKind::ExtraPageFeeOnSinglePage,
                        );
                    }
                    if doc.local_only && f.outside_district.is_some() {
                        sink.report_at(
                            f.at,
                            &subject,
                            "outside_district",
                            ProblemKind::OutsideFeeOnLocalOnly,
                        );
                    }
                }
            }
        }
        for (n, w) in self.waivers.iter().enumerate() {
            if let WaiverScope::Documents(codes) = &w.scope {
                for (code, at) in codes {
                    if catalog.document(code.as_str()).is_none() {
                        sink.report_at(
                            *at,
                            &format!("waiver #{}", n + 1),
                            "documents",
                            unknown_doc(code),
                        );
                    }
                }
            }
        }
        sink.finish()
    }

    /// The file name the overrides were loaded under (empty for [`Overrides::none`]).
    pub fn file_name(&self) -> &str {
        &self.file
    }

    /// The site description, if given.
    pub fn site(&self) -> Option<&str> {
        self.site.as_deref()
    }

    /// Whether this kiosk issues the documents of an agency (default: yes).
    pub fn agency_enabled(&self, agency: &str) -> bool {
        self.agencies
            .iter()
            .find(|s| s.agency == agency)
            .is_none_or(|s| s.enabled)
    }

    /// The explicit switch for one document, if any.
    pub fn document_switch(&self, code: &DocCode) -> Option<bool> {
        self.documents
            .iter()
            .find(|s| &s.code == code)
            .map(|s| s.enabled)
    }

    /// The agency switches, in file order.
    pub fn agency_switches(&self) -> &[AgencySwitch] {
        &self.agencies
    }

    /// The document switches, in file order.
    pub fn document_switches(&self) -> &[DocumentSwitch] {
        &self.documents
    }

    /// Every fee change, by document and then effective date.
    pub fn fee_changes(&self) -> &[FeeChange] {
        &self.fees
    }

    /// Every waiver, in file order.
    pub fn waivers(&self) -> &[Waiver] {
        &self.waivers
    }

    /// The fee change in force for a document on a date: the one with the latest
    /// effective date on or before it.
    pub fn fee_change_on(&self, code: &DocCode, date: Date) -> Option<&FeeChange> {
        self.fees
            .iter()
            .rev()
            .find(|f| &f.code == code && f.effective <= date)
    }

    /// The waiver in force for a document on a date, if any (waivers never overlap).
    pub fn waiver_on(&self, code: &DocCode, date: Date) -> Option<&Waiver> {
        self.waivers
            .iter()
            .find(|w| w.scope.covers(code) && w.in_force(date))
    }
}
