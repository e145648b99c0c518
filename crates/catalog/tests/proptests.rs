//! Properties: mangled catalogs never panic the loader; fees never fall as pages grow.

use kiosk_catalog::{Catalog, Date, KioskCatalog, Overrides, QuoteRequest, Residence};
use proptest::prelude::*;

const CATALOG: &str = include_str!("../../../config/documents.toml");
const OVERRIDES: &str = include_str!("../../../config/overrides.example.toml");

/// Loads and, on failure, checks every problem points inside the text.
fn load_checked(text: &str) {
    let lines = text.matches('\n').count() + 1;
    if let Err(problems) = Catalog::from_toml(text, "m.toml") {
        assert!(!problems.is_empty());
        for p in &problems {
            assert!(
                p.at.line >= 1 && p.at.line <= lines,
                "{p} (file has {lines} lines)"
            );
            assert_eq!(p.file, "m.toml");
        }
    }
}

fn byte_edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn byte_mutations_never_panic(edits in byte_edits()) {
        let mut bytes = CATALOG.as_bytes().to_vec();
        for (at, b) in edits {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        load_checked(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn line_mutations_never_panic(
        ops in prop::collection::vec((0u8..4, any::<usize>(), any::<usize>()), 1..6),
        junk in "[ -~가-힣]{0,20}",
    ) {
        let mut lines: Vec<String> = CATALOG.lines().map(str::to_owned).collect();
        for (op, a, b) in ops {
            let n = lines.len();
            if n == 0 {
                break;
            }
            let (a, b) = (a % n, b % n);
            match op {
                0 => { lines.remove(a); }
                1 => { let l = lines[a].clone(); lines.insert(b, l); }
                2 => lines.swap(a, b),
                _ => {
                    // Replace the value after `=` on a line with junk.
                    if let Some(eq) = lines[a].find('=') {
                        let key = lines[a][..=eq].to_owned();
                        lines[a] = format!("{key} {junk}");
                    } else {
                        lines[a] = junk.clone();
                    }
                }
            }
        }
        load_checked(&lines.join("\n"));
    }

    #[test]
    fn numbers_replaced_never_panic(at in any::<usize>(), n in any::<i64>()) {
        // Put an arbitrary integer in place of one `= <digits>` value.
        let spots: Vec<usize> = CATALOG
            .match_indices("= ")
            .map(|(i, _)| i + 2)
            .filter(|&i| CATALOG[i..].starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        let i = spots[at % spots.len()];
        let end = i + CATALOG[i..].find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
        let text = format!("{}{}{}", &CATALOG[..i], n, &CATALOG[end..]);
        load_checked(&text);
    }

    #[test]
    fn overrides_mutations_never_panic(edits in byte_edits()) {
        let mut bytes = OVERRIDES.as_bytes().to_vec();
        for (at, b) in edits {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(o) = Overrides::from_toml(&text, "o.toml") {
            let catalog = Catalog::from_toml(CATALOG, "c.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let _ = KioskCatalog::new(catalog, o);
        }
    }
}

fn kiosk() -> KioskCatalog {
    let catalog = Catalog::from_toml(CATALOG, "c.toml").unwrap_or_else(|e| panic!("{e}"));
    let overrides = Overrides::from_toml(OVERRIDES, "o.toml").unwrap_or_else(|e| panic!("{e}"));
    KioskCatalog::new(catalog, overrides).unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fee_never_decreases_as_pages_grow(
        doc in 0usize..1_000,
        a in 1u32..600,
        b in 1u32..600,
        days in 0i32..2_000,
        outside in any::<bool>(),
        exempt in any::<bool>(),
    ) {
        let k = kiosk();
        let docs: Vec<_> = k.enabled_documents().collect();
        // Half the cases take the land register, the one type with a per-page fee.
        let d = if doc % 2 == 0 {
            k.catalog().document("LAND-REGISTER").ok_or_else(|| TestCaseError::fail("land register"))?
        } else {
            docs[doc % docs.len()]
        };
        let (lo, hi) = (a.min(b).min(d.max_pages), a.max(b).min(d.max_pages));
        let on = Date::new(2026, 1, 1)
            .and_then(|s| s.checked_add(jiff::Span::new().days(days)))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut req = QuoteRequest::new(d.code.clone(), on);
        if outside && !d.local_only {
            req.residence = Residence::Outside;
        }
        if exempt {
            req = req.exemption("basic-livelihood");
        }
        let f = |pages| {
            k.quote(&req.clone().pages(pages))
                .map(|q| q.fee)
                .map_err(|e| TestCaseError::fail(e.to_string()))
        };
        let (flo, fhi) = (f(lo)?, f(hi)?);
        prop_assert!(flo <= fhi, "{}: {lo} pages {flo} > {hi} pages {fhi}", d.code);
    }
}
