//! Each validation rule names the file, the line and the field; problems are all reported.

use kiosk_catalog::{Catalog, KioskCatalog, Overrides, Problem, ProblemKind, Problems};

const FILE: &str = "config/documents.toml";

const BASE: &str = r#"# a small catalog for tests
[[agency]]
code = "mois"
name_ko = "행정안전부"
name_en = "Ministry of the Interior"

[[agency]]
code = "court"
name_ko = "법원행정처"
name_en = "Court administration"

[[agency]]
code = "local-gov"
name_ko = "지방자치단체"
name_en = "Local government"

[[domain]]
code = "resident"
name_ko = "주민등록"
name_en = "Resident registration"

[[domain]]
code = "family"
name_ko = "가족관계등록"
name_en = "Family relations"

[[domain]]
code = "land"
name_ko = "토지"
name_en = "Land"

[[exemption]]
code = "basic-livelihood"
name_ko = "기초생활수급자"
name_en = "Basic-livelihood recipient"

[[document]]
code = "RES-COPY"
name_ko = "주민등록표 등본"
name_en = "Resident registration copy"
domain = "resident"
agency = "mois"
requires = "identity"
max_pages = 10
fee = { base = 200, exemptions = ["basic-livelihood"] }

[[document]]
code = "FAM-RELATION"
name_ko = "가족관계증명서"
name_en = "Family relationship certificate"
domain = "family"
agency = "court"
requires = "identity"
max_pages = 5
fee = { base = 500 }

[[document.option]]
key = "form"
name_ko = "증명서 종류"
name_en = "Form"
default = "general"
choices = [
  { value = "general", name_ko = "일반", name_en = "General" },
  { value = "detailed", name_ko = "상세", name_en = "Detailed" },
]

[[document]]
code = "LAND-REGISTER"
name_ko = "토지대장"
name_en = "Land register"
domain = "land"
agency = "local-gov"
requires = "address"
max_pages = 30
fee = { base = 500, per_extra_page = 100, outside_district = 600 }

[[document]]
code = "BLDG-GENERAL"
name_ko = "건축물대장(일반)"
name_en = "Building register"
domain = "land"
agency = "local-gov"
requires = "address"
local_only = true
max_pages = 20
fee = { base = 500 }
"#;

/// `BASE` with the one occurrence of `from` replaced by `to`.
fn with(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "{from:?} must occur once");
    BASE.replacen(from, to, 1)
}

/// The 1-based line of the one occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "{needle:?} must occur once"
    );
    let at = text.find(needle).expect("present");
    text[..at].matches('\n').count() + 1
}

fn problems(text: &str) -> Problems {
    match Catalog::from_toml(text, FILE) {
        Ok(_) => panic!("expected problems"),
        Err(p) => p,
    }
}

/// Asserts there is exactly one problem and it is at `line`, about `subject`/`field`, and
/// that its text names the file and line; returns it.
fn only(p: &Problems, line: usize, subject: &str, field: &str) -> Problem {
    assert_eq!(p.len(), 1, "expected one problem, got:\n{p}");
    let first = p.problems[0].clone();
    assert_eq!(first.at.line, line, "{first}");
    assert_eq!(first.subject, subject, "{first}");
    assert_eq!(first.field, field, "{first}");
    let text = first.to_string();
    assert!(text.starts_with(&format!("{FILE}:{line}:")), "{text}");
    assert!(text.contains(field), "{text}");
    first
}

#[test]
fn the_base_catalog_is_valid() {
    let c = match Catalog::from_toml(BASE, FILE) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.len(), 4);
    assert_eq!(c.file_name(), FILE);
}

#[test]
fn unknown_field_in_a_document() {
    let text = with("max_pages = 5\n", "max_pages = 5\ncolour = \"red\"\n");
    let p = only(
        &problems(&text),
        line_of(&text, "colour"),
        "document FAM-RELATION",
        "colour",
    );
    assert!(matches!(p.kind, ProblemKind::UnknownField { .. }));
    assert!(
        p.to_string().contains("max_pages"),
        "lists allowed fields: {p}"
    );
}

#[test]
fn unknown_field_in_a_fee_table_and_at_the_root() {
    let text = with(
        "fee = { base = 500 }\n\n[[document.option]]",
        "fee = { base = 500, bse = 1 }\n\n[[document.option]]",
    );
    let text = format!("documents = 1\n{text}");
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p}");
    assert_eq!(p.problems[0].at.line, 1);
    assert_eq!(p.problems[0].field, "documents");
    assert_eq!(p.problems[1].at.line, line_of(&text, "bse"));
    assert_eq!(p.problems[1].field, "fee.bse");
    assert_eq!(p.problems[1].subject, "document FAM-RELATION");
}

#[test]
fn toml_syntax_error() {
    let text = with("max_pages = 30\n", "max_pages = 30\nname_ko = \n");
    let p = problems(&text);
    assert!(!p.is_empty());
    let first = &p.problems[0];
    assert!(matches!(first.kind, ProblemKind::Syntax(_)), "{first}");
    assert_eq!(first.at.line, line_of(&text, "name_ko = \n"));
    assert!(first.to_string().starts_with(FILE));
}

#[test]
fn duplicate_document_code() {
    let text = with("code = \"BLDG-GENERAL\"", "code = \"LAND-REGISTER\"");
    let p = only(
        &problems(&text),
        line_of(
            &text,
            "[[document]]\ncode = \"LAND-REGISTER\"\nname_ko = \"건축물",
        ),
        "document LAND-REGISTER",
        "code",
    );
    let first_line = line_of(BASE, "[[document]]\ncode = \"LAND-REGISTER\"");
    assert_eq!(
        p.kind,
        ProblemKind::Duplicate {
            what: "document code",
            name: "LAND-REGISTER".into(),
            first_line
        }
    );
}

#[test]
fn missing_korean_name() {
    let text = with("name_ko = \"토지대장\"\n", "");
    let p = only(
        &problems(&text),
        line_of(&text, "[[document]]\ncode = \"LAND-REGISTER\""),
        "document LAND-REGISTER",
        "name_ko",
    );
    assert_eq!(p.kind, ProblemKind::Missing);
}

#[test]
fn empty_korean_name() {
    let text = with("name_ko = \"토지대장\"", "name_ko = \"  \"");
    let p = only(
        &problems(&text),
        line_of(&text, "name_ko = \"  \""),
        "document LAND-REGISTER",
        "name_ko",
    );
    assert_eq!(p.kind, ProblemKind::Empty);
}

#[test]
fn invalid_document_code() {
    let text = with("code = \"BLDG-GENERAL\"", "code = \"bldg general\"");
    let p = only(
        &problems(&text),
        line_of(&text, "bldg general"),
        "document #4",
        "code",
    );
    assert!(matches!(p.kind, ProblemKind::InvalidCode { .. }), "{p}");
}

#[test]
fn unknown_agency_and_domain() {
    let text = with("agency = \"court\"", "agency = \"supreme-court\"");
    let text = text.replacen(
        "domain = \"resident\"\nagency",
        "domain = \"residents\"\nagency",
        1,
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p}");
    assert_eq!(p.problems[0].at.line, line_of(&text, "\"residents\""));
    assert_eq!(p.problems[0].field, "domain");
    assert_eq!(p.problems[0].subject, "document RES-COPY");
    assert!(matches!(
        &p.problems[0].kind,
        ProblemKind::Unknown { what: "domain", .. }
    ));
    assert_eq!(p.problems[1].at.line, line_of(&text, "supreme-court"));
    assert_eq!(p.problems[1].field, "agency");
    assert!(
        p.problems[1]
            .to_string()
            .contains("known: mois, court, local-gov")
    );
}

#[test]
fn fee_not_a_multiple_of_ten() {
    let text = with(
        "fee = { base = 500 }\n\n[[document.option]]",
        "fee = { base = 505 }\n\n[[document.option]]",
    );
    let p = only(
        &problems(&text),
        line_of(&text, "505"),
        "document FAM-RELATION",
        "fee.base",
    );
    assert_eq!(p.kind, ProblemKind::NotMultipleOfTen { won: 505 });
    assert!(
        p.to_string()
            .contains("document FAM-RELATION: fee.base: 505 won")
    );
}

#[test]
fn negative_fee_and_fee_as_text() {
    let text = with("per_extra_page = 100", "per_extra_page = -100");
    let text = text.replacen("fee = { base = 200,", "fee = { base = \"200\",", 1);
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p}");
    assert_eq!(p.problems[0].field, "fee.base");
    assert_eq!(
        p.problems[0].kind,
        ProblemKind::WrongType {
            expected: "an integer",
            found: "a string"
        }
    );
    assert_eq!(p.problems[1].field, "fee.per_extra_page");
    assert!(matches!(
        p.problems[1].kind,
        ProblemKind::OutOfRange { value: -100, .. }
    ));
}

#[test]
fn per_page_fee_on_a_single_page_document() {
    let text = with("max_pages = 30", "max_pages = 1");
    let p = only(
        &problems(&text),
        line_of(&text, "per_extra_page = 100"),
        "document LAND-REGISTER",
        "fee.per_extra_page",
    );
    assert_eq!(p.kind, ProblemKind::ExtraPageFeeOnSinglePage);
}

#[test]
fn outside_district_fee_on_a_local_only_document() {
    let text = with(
        "local_only = true\nmax_pages = 20\nfee = { base = 500 }",
        "local_only = true\nmax_pages = 20\nfee = { base = 500, outside_district = 800 }",
    );
    let p = only(
        &problems(&text),
        line_of(&text, "outside_district = 800"),
        "document BLDG-GENERAL",
        "fee.outside_district",
    );
    assert_eq!(p.kind, ProblemKind::OutsideFeeOnLocalOnly);
}

#[test]
fn unknown_exemption() {
    let text = with(
        "exemptions = [\"basic-livelihood\"]",
        "exemptions = [\"basic-livelihood\", \"veterans\"]",
    );
    let p = only(
        &problems(&text),
        line_of(&text, "veterans"),
        "document RES-COPY",
        "fee.exemptions",
    );
    assert!(
        matches!(&p.kind, ProblemKind::Unknown { what: "exemption", name, .. } if name == "veterans")
    );
}

#[test]
fn page_limit_zero_or_absurd() {
    let text = with("max_pages = 10", "max_pages = 0");
    let p = only(
        &problems(&text),
        line_of(&text, "max_pages = 0"),
        "document RES-COPY",
        "max_pages",
    );
    assert!(matches!(
        p.kind,
        ProblemKind::OutOfRange {
            value: 0,
            min: 1,
            ..
        }
    ));

    let text = with("max_pages = 10", "max_pages = 100000");
    let p = only(
        &problems(&text),
        line_of(&text, "100000"),
        "document RES-COPY",
        "max_pages",
    );
    assert!(matches!(
        p.kind,
        ProblemKind::OutOfRange {
            value: 100_000,
            max: 500,
            ..
        }
    ));
}

#[test]
fn option_default_not_among_choices() {
    let text = with("default = \"general\"", "default = \"full\"");
    let p = only(
        &problems(&text),
        line_of(&text, "default = \"full\""),
        "document FAM-RELATION",
        "option.form.default",
    );
    assert!(matches!(&p.kind, ProblemKind::DefaultNotAChoice { default, .. } if default == "full"));
}

#[test]
fn duplicate_option_keys_and_choices() {
    let extra = "\n[[document.option]]\nkey = \"form\"\nname_ko = \"다시\"\nname_en = \"Again\"\ndefault = \"a\"\nchoices = [\n  { value = \"a\", name_ko = \"가\", name_en = \"A\" },\n  { value = \"a\", name_ko = \"가\", name_en = \"A\" },\n]\n";
    let text = with(
        "\n[[document]]\ncode = \"LAND-REGISTER\"",
        &format!("{extra}\n[[document]]\ncode = \"LAND-REGISTER\""),
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p}");
    assert_eq!(
        p.problems[0].at.line,
        line_of(
            &text,
            "[[document.option]]\nkey = \"form\"\nname_ko = \"다시\""
        )
    );
    assert_eq!(p.problems[0].field, "option.form.key");
    assert!(matches!(
        &p.problems[0].kind,
        ProblemKind::Duplicate {
            what: "option key",
            ..
        }
    ));
    assert_eq!(p.problems[1].field, "option.form.choices.value");
    assert!(matches!(
        &p.problems[1].kind,
        ProblemKind::Duplicate { what: "choice", .. }
    ));
}

#[test]
fn bad_identity_rule_and_missing_fee() {
    let text = with(
        "requires = \"address\"\nmax_pages = 30",
        "requires = \"parcel\"\nmax_pages = 30",
    );
    let text = text.replacen(
        "fee = { base = 500 }\n\n[[document.option]]",
        "\n\n[[document.option]]",
        1,
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p}");
    assert_eq!(p.problems[0].subject, "document FAM-RELATION");
    assert_eq!(p.problems[0].field, "fee");
    assert_eq!(p.problems[0].kind, ProblemKind::Missing);
    assert_eq!(p.problems[1].at.line, line_of(&text, "\"parcel\""));
    assert_eq!(p.problems[1].field, "requires");
}

#[test]
fn too_many_documents() {
    let mut text = BASE.to_owned();
    for i in 0..kiosk_catalog::MAX_DOCUMENTS {
        text.push_str(&format!(
            "\n[[document]]\ncode = \"X-{i}\"\nname_ko = \"문서\"\nname_en = \"Doc\"\ndomain = \"land\"\nagency = \"mois\"\nrequires = \"address\"\nmax_pages = 1\nfee = {{ base = 0 }}\n"
        ));
    }
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p}");
    assert_eq!(p.problems[0].field, "document");
    assert!(matches!(
        p.problems[0].kind,
        ProblemKind::TooMany {
            count: 1004,
            max: 1000,
            ..
        }
    ));
}

#[test]
fn every_problem_in_a_file_is_reported_in_line_order() {
    let text = with(
        "fee = { base = 500 }\n\n[[document.option]]",
        "fee = { base = 505 }\n\n[[document.option]]",
    )
    .replacen("name_ko = \"토지대장\"", "name_ko = \"\"", 1)
    .replacen(
        "agency = \"mois\"\nrequires",
        "agency = \"moi\"\nrequires",
        1,
    )
    .replacen("max_pages = 20", "max_pages = 0", 1)
    .replacen("default = \"general\"", "default = \"x\"", 1);
    let p = problems(&text);
    let lines: Vec<usize> = p.iter().map(|x| x.at.line).collect();
    assert_eq!(
        lines,
        [
            line_of(&text, "\"moi\""),
            line_of(&text, "505"),
            line_of(&text, "default = \"x\""),
            line_of(&text, "name_ko = \"\""),
            line_of(&text, "max_pages = 0"),
        ],
        "{p}"
    );
    // The error's text lists them all, one per line.
    assert_eq!(p.to_string().lines().count(), 5);
}

#[test]
fn a_file_that_is_missing_or_not_utf8_is_a_problem_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("kiosk-catalog-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let missing = dir.join("nope.toml");
    let p = Catalog::load(&missing).expect_err("missing file fails");
    assert!(matches!(p.problems[0].kind, ProblemKind::Io(_)));
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, b"# ok\n# \xff\n").expect("write");
    let p = Catalog::load(&bad).expect_err("not utf-8 fails");
    assert_eq!(p.problems[0].kind, ProblemKind::NotUtf8);
    assert_eq!(p.problems[0].at.line, 2);
    std::fs::remove_dir_all(&dir).ok();
}

// ------------------------------------------------------------------ overrides

const OFILE: &str = "kiosk-7.toml";

fn base_catalog() -> Catalog {
    match Catalog::from_toml(BASE, FILE) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn override_problems(text: &str) -> Problems {
    match Overrides::from_toml(text, OFILE) {
        Ok(o) => match KioskCatalog::new(base_catalog(), o) {
            Ok(_) => panic!("expected problems"),
            Err(p) => p,
        },
        Err(p) => p,
    }
}

#[test]
fn overrides_naming_unknown_codes_and_agencies() {
    let text = "[agencies]\ncourt = false\npolice = false\n\n[documents]\nRES-COPY = false\nNO-SUCH-DOC = false\n\n[[fee]]\ndocument = \"NOPE\"\neffective = 2027-01-01\nordinance = \"조례\"\nbase = 100\n\n[[waiver]]\ndocuments = [\"RES-COPY\", \"GHOST\"]\nreason = \"test\"\n";
    let p = override_problems(text);
    let got: Vec<(usize, &str)> = p.iter().map(|x| (x.at.line, x.field.as_str())).collect();
    assert_eq!(
        got,
        [
            (3, "agencies.police"),
            (7, "documents.NO-SUCH-DOC"),
            (9, "document"),
            (16, "documents"),
        ],
        "{p}"
    );
    assert!(p.problems.iter().all(|x| x.file == OFILE));
    assert!(p.to_string().contains("kiosk-7.toml:16:"));
    assert!(p.to_string().contains("unknown document \"GHOST\""));
}

#[test]
fn duplicate_effective_dates() {
    let text = "[[fee]]\ndocument = \"RES-COPY\"\neffective = 2027-01-01\nordinance = \"A\"\nbase = 100\n\n[[fee]]\ndocument = \"RES-COPY\"\neffective = 2027-01-01\nordinance = \"B\"\nbase = 150\n\n[[fee]]\ndocument = \"FAM-RELATION\"\neffective = 2027-01-01\nordinance = \"C\"\nbase = 400\n";
    let p = override_problems(text);
    assert_eq!(p.len(), 1, "{p}");
    assert_eq!(p.problems[0].at.line, 7);
    assert_eq!(p.problems[0].field, "effective");
    assert!(matches!(
        &p.problems[0].kind,
        ProblemKind::DuplicateEffectiveDate { other_line: 1, .. }
    ));
}

#[test]
fn overlapping_waivers() {
    let text = "[[waiver]]\ndocuments = [\"RES-COPY\"]\nfrom = 2026-01-01\nuntil = 2026-06-30\nreason = \"A\"\n\n[[waiver]]\ndocuments = \"all\"\nfrom = 2026-06-30\nreason = \"B\"\n\n[[waiver]]\ndocuments = [\"RES-COPY\"]\nfrom = 2026-07-01\nuntil = 2026-07-31\nreason = \"C\"\n";
    let p = override_problems(text);
    // B overlaps A on 2026-06-30; C overlaps only B, which was refused, so C stands
    // against A alone and is fine.
    assert_eq!(p.len(), 1, "{p}");
    assert_eq!(p.problems[0].at.line, 7);
    assert!(matches!(
        &p.problems[0].kind,
        ProblemKind::OverlappingWaiver { other_line: 1, .. }
    ));
}

#[test]
fn bad_dates() {
    let text = "[[fee]]\ndocument = \"RES-COPY\"\neffective = \"2027-01-01\"\nordinance = \"A\"\nbase = 100\n\n[[fee]]\ndocument = \"RES-COPY\"\neffective = 2027-01-01T09:00:00\nordinance = \"A\"\nbase = 100\n\n[[waiver]]\ndocuments = \"all\"\nfrom = 2026-12-01\nuntil = 2026-11-30\nreason = \"backwards\"\n";
    let p = override_problems(text);
    let got: Vec<(usize, &str)> = p.iter().map(|x| (x.at.line, x.field.as_str())).collect();
    assert_eq!(
        got,
        [(3, "effective"), (9, "effective"), (16, "until")],
        "{p}"
    );
    assert!(matches!(p.problems[0].kind, ProblemKind::BadDate(_)));
    assert!(matches!(p.problems[1].kind, ProblemKind::BadDate(_)));
    assert!(matches!(
        p.problems[2].kind,
        ProblemKind::InvertedRange { .. }
    ));

    // An impossible calendar date is caught by the TOML parser, with its line.
    let p =
        override_problems("[[waiver]]\ndocuments = \"all\"\nuntil = 2027-02-30\nreason = \"x\"\n");
    assert_eq!(p.problems[0].at.line, 3, "{p}");
    assert!(matches!(p.problems[0].kind, ProblemKind::Syntax(_)));
}

#[test]
fn enabling_one_document_of_a_disabled_agency() {
    let text = "[agencies]\ncourt = false\n\n[documents]\nFAM-RELATION = true\n";
    let p = override_problems(text);
    assert_eq!(p.len(), 1, "{p}");
    assert_eq!(p.problems[0].at.line, 5);
    assert_eq!(
        p.problems[0].kind,
        ProblemKind::AgencyDisabled {
            agency: "court".into()
        }
    );
}

#[test]
fn fee_change_that_changes_nothing_or_breaks_a_document_rule() {
    let text = "[[fee]]\ndocument = \"RES-COPY\"\neffective = 2027-01-01\nordinance = \"A\"\n\n[[fee]]\ndocument = \"BLDG-GENERAL\"\neffective = 2027-01-01\nordinance = \"B\"\noutside_district = 1000\n\n[[fee]]\ndocument = \"LAND-REGISTER\"\neffective = 2027-01-01\nordinance = \"C\"\nper_extra_page = 55\nsurprise = 1\n";
    let p = match Overrides::from_toml(text, OFILE) {
        Ok(_) => panic!("expected problems"),
        Err(p) => p,
    };
    let got: Vec<(usize, &str)> = p.iter().map(|x| (x.at.line, x.field.as_str())).collect();
    assert_eq!(
        got,
        [(1, ""), (16, "per_extra_page"), (17, "surprise")],
        "{p}"
    );
    assert_eq!(p.problems[0].kind, ProblemKind::NoFeeGiven);

    // The local-only rule needs the catalog.
    let p = override_problems(
        "[[fee]]\ndocument = \"BLDG-GENERAL\"\neffective = 2027-01-01\nordinance = \"B\"\noutside_district = 1000\n",
    );
    assert_eq!(p.len(), 1, "{p}");
    assert_eq!(p.problems[0].field, "outside_district");
    assert_eq!(p.problems[0].kind, ProblemKind::OutsideFeeOnLocalOnly);
}
