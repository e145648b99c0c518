//! What a kiosk charges: pages, districts, ordinances, waivers, exemptions, availability.

use kiosk_catalog::{
    Availability, Catalog, Date, KioskCatalog, Overrides, QuoteError, QuoteRequest, Relief,
};
use kiosk_core::{DocCode, Won};

const CATALOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/documents.toml");

const OVERRIDES: &str = r#"
site = "test kiosk"

[agencies]
court = false

[documents]
VEH-CAR-B = false

[[fee]]
document = "RES-COPY"
effective = 2027-01-01
ordinance = "조례 A"
base = 100

[[fee]]
document = "RES-COPY"
effective = 2028-01-01
ordinance = "조례 B"
base = 150

[[fee]]
document = "LAND-USE-PLAN"
effective = 2026-01-01
ordinance = "조례 C"
outside_district = 1500

[[waiver]]
documents = ["LAND-PRICE"]
from = 2026-09-01
until = 2026-12-31
reason = "수해 복구 지원"
"#;

fn kiosk(overrides: &str) -> KioskCatalog {
    let catalog = Catalog::load(CATALOG).unwrap_or_else(|e| panic!("{e}"));
    let overrides = Overrides::from_toml(overrides, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    KioskCatalog::new(catalog, overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn code(s: &str) -> DocCode {
    DocCode::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn day(y: i16, m: i8, d: i8) -> Date {
    Date::new(y, m, d).unwrap_or_else(|e| panic!("{e}"))
}

fn fee(k: &KioskCatalog, req: QuoteRequest) -> u64 {
    k.quote(&req).unwrap_or_else(|e| panic!("{e}")).fee.get()
}

const TODAY: (i16, i8, i8) = (2026, 3, 2);

fn today() -> Date {
    day(TODAY.0, TODAY.1, TODAY.2)
}

#[test]
fn land_register_charges_per_extra_page() {
    let k = kiosk("");
    let req = |pages| QuoteRequest::new(code("LAND-REGISTER"), today()).pages(pages);
    assert_eq!(fee(&k, req(1)), 500);
    let q = k.quote(&req(3)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.fee, Won::new(700));
    assert_eq!(q.base, Won::new(500));
    assert_eq!(q.extra_pages, 2);
    assert_eq!(q.extra_pages_fee, Won::new(200));
    assert_eq!(q.gross, Won::new(700));
    assert_eq!(q.relief, None);
    assert_eq!(q.ordinance, None);
    assert_eq!(fee(&k, req(30)), 3400);
    assert_eq!(
        k.quote(&req(31)),
        Err(QuoteError::TooManyPages {
            code: code("LAND-REGISTER"),
            max: 30,
            pages: 31
        })
    );
    assert_eq!(k.quote(&req(0)), Err(QuoteError::ZeroPages));
}

#[test]
fn other_documents_do_not_charge_per_page() {
    let k = kiosk("");
    let req = QuoteRequest::new(code("RES-ABSTRACT"), today()).pages(7);
    assert_eq!(fee(&k, req), 200);
}

#[test]
fn outside_district_fee() {
    let k = kiosk(OVERRIDES);
    let inside = QuoteRequest::new(code("LAND-USE-PLAN"), today());
    let q = k
        .quote(&inside.clone().outside_district())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.fee, Won::new(1500));
    assert!(q.outside_district_fee);
    assert_eq!(fee(&k, inside), 1000);
    // Without an outside-district fee the base applies to both.
    assert_eq!(
        fee(
            &k,
            QuoteRequest::new(code("RES-COPY"), today()).outside_district()
        ),
        200
    );
    // Local-only documents are not issued for subjects outside the district.
    assert_eq!(
        k.quote(&QuoteRequest::new(code("BLDG-GENERAL"), today()).outside_district()),
        Err(QuoteError::LocalOnly(code("BLDG-GENERAL")))
    );
}

#[test]
fn ordinance_before_on_and_after_its_effective_date() {
    let k = kiosk(OVERRIDES);
    let on = |d| QuoteRequest::new(code("RES-COPY"), d);
    let before = k
        .quote(&on(day(2026, 12, 31)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.fee, Won::new(200));
    assert_eq!(before.ordinance, None);
    let first = k
        .quote(&on(day(2027, 1, 1)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.fee, Won::new(100));
    let applied = first.ordinance.expect("ordinance applied");
    assert_eq!(applied.name, "조례 A");
    assert_eq!(applied.effective, day(2027, 1, 1));
    assert_eq!(fee(&k, on(day(2027, 12, 31))), 100);
    assert_eq!(fee(&k, on(day(2028, 1, 1))), 150);
    assert_eq!(fee(&k, on(day(2031, 5, 5))), 150);
    // The other document's fee is untouched.
    assert_eq!(
        fee(&k, QuoteRequest::new(code("RES-ABSTRACT"), day(2028, 1, 1))),
        200
    );
}

#[test]
fn waiver_applies_only_in_its_dates() {
    let k = kiosk(OVERRIDES);
    let on = |d| QuoteRequest::new(code("LAND-PRICE"), d);
    assert_eq!(fee(&k, on(day(2026, 8, 31))), 800);
    let q = k
        .quote(&on(day(2026, 9, 1)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.fee, Won::ZERO);
    assert_eq!(q.gross, Won::new(800));
    assert_eq!(
        q.relief,
        Some(Relief::Waiver {
            reason: "수해 복구 지원".into()
        })
    );
    assert_eq!(fee(&k, on(day(2026, 12, 31))), 0);
    assert_eq!(fee(&k, on(day(2027, 1, 1))), 800);
}

#[test]
fn waiver_of_all_documents() {
    let k = kiosk("[[waiver]]\ndocuments = \"all\"\nreason = \"구 전체 면제\"\n");
    for doc in k.enabled_documents() {
        let req = QuoteRequest::new(doc.code.clone(), today());
        assert_eq!(fee(&k, req), 0, "{}", doc.code);
    }
}

#[test]
fn statutory_exemption() {
    let k = kiosk("");
    let q = k
        .quote(&QuoteRequest::new(code("RES-COPY"), today()).exemption("basic-livelihood"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.fee, Won::ZERO);
    assert_eq!(
        q.relief,
        Some(Relief::Exemption {
            code: "basic-livelihood".into()
        })
    );
    // The land register grants no exemption: the claim changes nothing.
    let q = k
        .quote(&QuoteRequest::new(code("LAND-REGISTER"), today()).exemption("national-merit"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.fee, Won::new(500));
    assert_eq!(q.relief, None);
    assert_eq!(
        k.quote(&QuoteRequest::new(code("RES-COPY"), today()).exemption("friends")),
        Err(QuoteError::UnknownExemption("friends".into()))
    );
}

#[test]
fn disabled_agency_document_and_unknown_type() {
    let k = kiosk(OVERRIDES);
    assert_eq!(
        k.quote(&QuoteRequest::new(code("FAM-RELATION"), today())),
        Err(QuoteError::AgencyDisabled {
            code: code("FAM-RELATION"),
            agency: "court".into()
        })
    );
    assert_eq!(
        k.quote(&QuoteRequest::new(code("VEH-CAR-B"), today())),
        Err(QuoteError::DocumentDisabled(code("VEH-CAR-B")))
    );
    assert_eq!(
        k.quote(&QuoteRequest::new(code("NO-SUCH"), today())),
        Err(QuoteError::UnknownDocument(code("NO-SUCH")))
    );
    // Without overrides the court documents are issued.
    assert_eq!(
        fee(&kiosk(""), QuoteRequest::new(code("FAM-RELATION"), today())),
        500
    );
}

#[test]
fn options_are_checked() {
    let k = kiosk("");
    let base = QuoteRequest::new(code("FAM-RELATION"), today());
    assert_eq!(fee(&k, base.clone().option("form", "detailed")), 500);
    assert_eq!(
        k.quote(&base.clone().option("form", "secret")),
        Err(QuoteError::InvalidChoice {
            code: code("FAM-RELATION"),
            key: "form".into(),
            value: "secret".into()
        })
    );
    assert_eq!(
        k.quote(&base.option("colour", "red")),
        Err(QuoteError::UnknownOption {
            code: code("FAM-RELATION"),
            key: "colour".into()
        })
    );
}

#[test]
fn option_surcharge_is_added() {
    let text = std::fs::read_to_string(CATALOG).unwrap_or_else(|e| panic!("{e}"));
    let text = text.replacen(
        "{ value = \"detailed\", name_ko = \"상세증명서\", name_en = \"Detailed\" }",
        "{ value = \"detailed\", name_ko = \"상세증명서\", name_en = \"Detailed\", surcharge = 300 }",
        1,
    );
    let catalog = Catalog::from_toml(&text, "c.toml").unwrap_or_else(|e| panic!("{e}"));
    let k = KioskCatalog::new(catalog, Overrides::none()).unwrap_or_else(|e| panic!("{e}"));
    let base = QuoteRequest::new(code("FAM-RELATION"), today());
    let q = k
        .quote(&base.clone().option("form", "detailed"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((q.options_fee, q.fee), (Won::new(300), Won::new(800)));
    assert_eq!(fee(&k, base), 500);
}

#[test]
fn listing_shows_every_type_with_todays_fee_and_availability() {
    let k = kiosk(OVERRIDES);
    let rows = k.listing(day(2027, 1, 1));
    assert_eq!(rows.len(), 66);
    let row = |c: &str| rows.iter().find(|r| r.code.as_str() == c).expect("row");
    assert_eq!(row("RES-COPY").fee, Won::new(100));
    assert_eq!(row("RES-COPY").availability, Availability::Enabled);
    assert!(row("RES-COPY").requires.needs_identity());
    assert_eq!(
        row("FAM-RELATION").availability,
        Availability::AgencyDisabled
    );
    assert_eq!(
        row("VEH-CAR-B").availability,
        Availability::DocumentDisabled
    );
    assert_eq!(row("LAND-REGISTER").per_extra_page, Won::new(100));
    assert!(!row("LAND-REGISTER").requires.needs_identity());
    // Catalog order is kept.
    assert_eq!(rows[0].code.as_str(), "RES-COPY");
    let enabled: Vec<_> = k.enabled_documents().map(|d| d.code.clone()).collect();
    let listed: Vec<_> = rows
        .iter()
        .filter(|r| r.availability == Availability::Enabled)
        .map(|r| r.code.clone())
        .collect();
    assert_eq!(enabled, listed);
}
