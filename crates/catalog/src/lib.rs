//! The kiosk document catalog: which civil documents exist, what they cost, and what one
//! kiosk issues and charges.
//!
//! The catalog (`config/documents.toml`) and each kiosk's overrides are data a district
//! clerk edits, so loading validates everything and reports every problem at once with its
//! file, line and field ([`Problems`]). The fee lookup ([`KioskCatalog::quote`]) combines the
//! catalog's fee rules with local ordinances, waivers and statutory exemptions, in checked
//! integer won.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kiosk_catalog::{Catalog, KioskCatalog, Overrides, QuoteRequest};
//! let catalog = Catalog::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/documents.toml"))?;
//! let kiosk = KioskCatalog::new(catalog, Overrides::none())?;
//! let date = jiff::civil::date(2026, 3, 2);
//! let quote = kiosk.quote(&QuoteRequest::new("LAND-REGISTER".parse()?, date).pages(3))?;
//! assert_eq!(quote.fee.get(), 700);
//! # Ok(())
//! # }
//! ```

mod catalog;
mod kiosk;
mod overrides;
mod problem;
mod walk;

pub use catalog::{
    Agency, Catalog, Choice, DocOption, Document, Domain, Exemption, FeeRule, MAX_DOCUMENTS,
    MAX_FILE_BYTES, MAX_NAMED, MAX_OPTIONS, MAX_PAGES, Requirement,
};
pub use kiosk::{
    AppliedOrdinance, Availability, KioskCatalog, Listing, Quote, QuoteError, QuoteRequest, Relief,
    Residence,
};
pub use overrides::{
    AgencySwitch, DocumentSwitch, FeeChange, MAX_FEE_CHANGES, MAX_WAIVERS, Overrides, Waiver,
    WaiverScope,
};
pub use problem::{Location, Problem, ProblemKind, Problems};
pub use walk::{MAX_FEE_WON, MAX_TEXT_CHARS};

/// Calendar dates used for effective dates and waiver ranges, re-exported so callers need
/// not depend on `jiff` themselves.
pub use jiff::civil::Date;
