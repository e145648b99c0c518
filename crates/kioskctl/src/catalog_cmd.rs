//! `kioskctl catalog`: validate and list the document catalog.

use anyhow::Result;
use kiosk_catalog::{Availability, Catalog, Date, KioskCatalog, Overrides, Problems, Requirement};
use std::path::Path;
use std::process::ExitCode;

/// Loads the catalog and, when given, a kiosk's overrides checked against it. Every
/// problem in either file is printed, one per line, before giving up.
fn load(catalog: &Path, overrides: Option<&Path>) -> Result<KioskCatalog, Problems> {
    let catalog = Catalog::load(catalog)?;
    let overrides = match overrides {
        Some(path) => Overrides::load(path)?,
        None => Overrides::none(),
    };
    KioskCatalog::new(catalog, overrides)
}

fn report(problems: &Problems) -> ExitCode {
    for p in problems {
        eprintln!("{p}");
    }
    eprintln!("{} problem(s); nothing was changed", problems.len());
    ExitCode::FAILURE
}

/// `kioskctl catalog check`.
pub fn check(catalog: &Path, overrides: Option<&Path>) -> Result<ExitCode> {
    match load(catalog, overrides) {
        Ok(kiosk) => {
            let enabled = kiosk.enabled_documents().count();
            println!(
                "catalog ok: {} document types, {} issued at this kiosk",
                kiosk.catalog().len(),
                enabled
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => Ok(report(&problems)),
    }
}

/// `kioskctl catalog list`: every type with its code, names, today's fee and identity rule.
pub fn list(
    catalog: &Path,
    overrides: Option<&Path>,
    on: Option<Date>,
    json: bool,
) -> Result<ExitCode> {
    let kiosk = match load(catalog, overrides) {
        Ok(k) => k,
        Err(problems) => return Ok(report(&problems)),
    };
    let on = match on {
        Some(d) => d,
        None => crate::today_in_korea()?,
    };
    let listing = kiosk.listing(on);
    if json {
        crate::emit(&serde_json::to_string_pretty(&listing)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!("fees on {on}\n");
    for l in &listing {
        let rule = match l.requires {
            Requirement::Identity => "identity",
            Requirement::Address => "address",
        };
        let state = match l.availability {
            Availability::Enabled => "",
            Availability::AgencyDisabled => "  (agency disabled here)",
            Availability::DocumentDisabled => "  (disabled here)",
        };
        let extra = if l.per_extra_page.is_zero() {
            String::new()
        } else {
            format!(" +{}/page", l.per_extra_page)
        };
        text.push_str(&format!(
            "{:<24} {:>8}{:<12} {:<9} {} / {}{}\n",
            l.code.as_str(),
            l.fee.to_string(),
            extra,
            rule,
            l.name_ko,
            l.name_en,
            state
        ));
    }
    crate::emit(text.trim_end())?;
    Ok(ExitCode::SUCCESS)
}
