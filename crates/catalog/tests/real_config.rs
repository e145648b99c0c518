//! The shipped configuration loads and says what DOCUMENT-CATALOG.md says.

use kiosk_catalog::{Catalog, KioskCatalog, Overrides, Requirement};
use kiosk_core::Won;

const CATALOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/documents.toml");
const OVERRIDES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../config/overrides.example.toml"
);

fn catalog() -> Catalog {
    match Catalog::load(CATALOG) {
        Ok(c) => c,
        Err(e) => panic!("the shipped catalog must load:\n{e}"),
    }
}

#[test]
fn holds_exactly_the_66_baseline_types_in_order() {
    let c = catalog();
    assert_eq!(c.len(), 66);
    let first = c.documents().next().map(|d| d.code.to_string());
    let last = c.documents().last().map(|d| d.code.to_string());
    assert_eq!(first.as_deref(), Some("RES-COPY"));
    assert_eq!(last.as_deref(), Some("EMP-BENEFIT-PAYMENT"));
}

#[test]
fn fees_match_the_document_catalog() {
    let c = catalog();
    let expect = [
        ("RES-COPY", "주민등록표 등본", 200),
        ("RES-ABSTRACT", "주민등록표 초본", 200),
        ("FAM-RELATION", "가족관계증명서", 500),
        ("FAM-REMOVED-ABSTRACT", "제적초본", 300),
        ("MIL-SERVICE", "병적증명서", 0),
        ("LAND-PRICE", "개별공시지가확인서", 800),
        ("LAND-USE-PLAN", "토지이용계획확인서", 1000),
        ("REG-REAL-ESTATE", "부동산등기사항증명서", 1000),
        ("LTAX-ASSESSMENT", "지방세 세목별과세증명서", 800),
        ("FARM-LAND-REGISTER", "농지대장", 1000),
        ("FISH-VESSEL", "어선원부", 700),
        ("VEH-CAR-A", "자동차등록원부(갑)", 300),
        ("VEH-MACHINE-B", "건설기계등록원부(을)", 500),
        ("POL-DRIVING-RECORD", "운전경력증명서", 0),
        ("NTS-INCOME", "소득금액증명", 0),
    ];
    for (code, name, fee) in expect {
        let d = c.document(code).unwrap_or_else(|| panic!("{code} missing"));
        assert_eq!(d.name_ko, name, "{code}");
        assert_eq!(d.fee.base, Won::new(fee), "{code}");
    }
    // Land register: 500 won and 100 won a page after the first; the only per-page fee.
    let land = c.document("LAND-REGISTER").expect("land register");
    assert_eq!(land.fee.base, Won::new(500));
    assert_eq!(land.fee.per_extra_page, Won::new(100));
    assert!(land.max_pages > 1);
    let per_page: Vec<_> = c
        .documents()
        .filter(|d| !d.fee.per_extra_page.is_zero())
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(per_page, ["LAND-REGISTER"]);
}

#[test]
fn counts_of_free_local_and_identity_documents() {
    let c = catalog();
    // Rows 10, 20-29, 31-32, 38-66 of DOCUMENT-CATALOG.md are free: 1 + 10 + 2 + 29 = 42.
    assert_eq!(c.documents().filter(|d| d.fee.base.is_zero()).count(), 42);
    let local: Vec<_> = c
        .documents()
        .filter(|d| d.local_only)
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(
        local,
        [
            "BLDG-GENERAL",
            "BLDG-COLLECTIVE",
            "LTAX-ASSESSMENT",
            "FARM-LAND-REGISTER",
            "FISH-VESSEL"
        ]
    );
    // Rows 11-18 are land, building and registry documents: address only.
    let address = c
        .documents()
        .filter(|d| d.requires == Requirement::Address)
        .count();
    assert_eq!(address, 8);
    // Court owns 3-9 and 18; police fees are 0 until confirmed.
    let court = c.documents().filter(|d| d.agency == "court").count();
    assert_eq!(court, 8);
    assert!(
        c.documents()
            .filter(|d| d.agency == "police")
            .all(|d| d.fee.base.is_zero())
    );
}

#[test]
fn options_are_in_the_catalog() {
    let c = catalog();
    let copy = c.document("RES-COPY").expect("RES-COPY");
    let keys: Vec<_> = copy.options.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["address-history", "resident-number"]);
    let fam = c.document("FAM-RELATION").expect("FAM-RELATION");
    let form = fam.option("form").expect("form option");
    assert_eq!(form.default, "general");
    assert!(form.choice("detailed").is_some());
}

#[test]
fn example_overrides_load_against_the_catalog() {
    let o = match Overrides::load(OVERRIDES) {
        Ok(o) => o,
        Err(e) => panic!("the example overrides must load:\n{e}"),
    };
    assert!(!o.agency_enabled("court"));
    assert_eq!(o.fee_changes().len(), 2);
    assert_eq!(o.waivers().len(), 1);
    let kiosk = match KioskCatalog::new(catalog(), o) {
        Ok(k) => k,
        Err(e) => panic!("the example overrides must match the catalog:\n{e}"),
    };
    let enabled = kiosk.enabled_documents().count();
    // 66 minus 8 court documents minus 3 switched off.
    assert_eq!(enabled, 55);
    assert!(kiosk.enabled_documents().all(|d| d.agency != "court"));
}
