//! One kiosk's view of the catalog: what it issues and what it charges, on a given day.

use std::collections::BTreeMap;

use jiff::civil::Date;
use kiosk_core::{DocCode, Won};
use serde::Serialize;

use crate::catalog::{Catalog, Document, Requirement};
use crate::overrides::Overrides;
use crate::problem::Problems;

/// The catalog combined with one kiosk's overrides, checked against each other.
#[derive(Clone, Debug)]
pub struct KioskCatalog {
    catalog: Catalog,
    overrides: Overrides,
}

/// Where the subject of the document (the person's registered address, the parcel) lies
/// relative to the district running the kiosk; some fees and documents depend on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Residence {
    /// Inside the district (관내).
    #[default]
    Inside,
    /// Outside the district (관외).
    Outside,
}

/// A question to the fee lookup: one copy of one document, as the citizen ordered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRequest {
    /// The document type.
    pub code: DocCode,
    /// The day of issue (fees change by ordinance).
    pub on: Date,
    /// Pages in one copy, known after fetching; 1 before that.
    pub pages: u32,
    /// The citizen's choices by option key; options not named take their default.
    pub options: BTreeMap<String, String>,
    /// Inside or outside the district.
    pub residence: Residence,
    /// A statutory exemption the citizen claims (code), if any.
    pub exemption: Option<String>,
}

impl QuoteRequest {
    /// One page, default options, inside the district, no exemption.
    pub fn new(code: DocCode, on: Date) -> QuoteRequest {
        QuoteRequest {
            code,
            on,
            pages: 1,
            options: BTreeMap::new(),
            residence: Residence::Inside,
            exemption: None,
        }
    }

    /// Sets the page count.
    #[must_use]
    pub fn pages(mut self, pages: u32) -> QuoteRequest {
        self.pages = pages;
        self
    }

    /// Chooses `value` for the option `key`.
    #[must_use]
    pub fn option(mut self, key: &str, value: &str) -> QuoteRequest {
        self.options.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Marks the subject as outside the district.
    #[must_use]
    pub fn outside_district(mut self) -> QuoteRequest {
        self.residence = Residence::Outside;
        self
    }

    /// Claims a statutory exemption.
    #[must_use]
    pub fn exemption(mut self, code: &str) -> QuoteRequest {
        self.exemption = Some(code.to_owned());
        self
    }
}

/// The local ordinance whose fee was used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedOrdinance {
    /// The ordinance's name as written in the overrides.
    pub name: String,
    /// The day it took effect.
    pub effective: Date,
}

/// Why nothing (or less) is charged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relief {
    /// The district waived the fee.
    Waiver {
        /// The reason from the overrides file.
        reason: String,
    },
    /// A statutory exemption the document grants.
    Exemption {
        /// The exemption's code.
        code: String,
    },
}

/// The fee for one copy, with how it was reached (for the screen and the receipt).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quote {
    /// The document type.
    pub code: DocCode,
    /// Pages in the copy.
    pub pages: u32,
    /// The base fee used (first page; outside-district base when that applied).
    pub base: Won,
    /// Whether the outside-district base fee was used.
    pub outside_district_fee: bool,
    /// Pages after the first.
    pub extra_pages: u32,
    /// The fee for those pages.
    pub extra_pages_fee: Won,
    /// Surcharges of the chosen options.
    pub options_fee: Won,
    /// Base plus extra pages plus options, before any waiver or exemption.
    pub gross: Won,
    /// The ordinance in force, if one changed the catalog fee.
    pub ordinance: Option<AppliedOrdinance>,
    /// The waiver or exemption applied, if any.
    pub relief: Option<Relief>,
    /// What one copy costs.
    pub fee: Won,
}

/// Why a quote was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// No such document type in the catalog.
    #[error("unknown document {0}")]
    UnknownDocument(DocCode),
    /// The document's agency is disabled at this kiosk.
    #[error("{code} is not issued at this kiosk (agency {agency} disabled)")]
    AgencyDisabled {
        /// The document.
        code: DocCode,
        /// Its agency.
        agency: String,
    },
    /// The document itself is disabled at this kiosk.
    #[error("{0} is not issued at this kiosk")]
    DocumentDisabled(DocCode),
    /// An option the document does not have.
    #[error("{code} has no option {key:?}")]
    UnknownOption {
        /// The document.
        code: DocCode,
        /// The key given.
        key: String,
    },
    /// A value the option does not allow.
    #[error("option {key:?} of {code} has no choice {value:?}")]
    InvalidChoice {
        /// The document.
        code: DocCode,
        /// The option.
        key: String,
        /// The value given.
        value: String,
    },
    /// Zero pages.
    #[error("a copy has at least one page")]
    ZeroPages,
    /// More pages than the document allows.
    #[error("{code} allows at most {max} pages, got {pages}")]
    TooManyPages {
        /// The document.
        code: DocCode,
        /// Its limit.
        max: u32,
        /// The count given.
        pages: u32,
    },
    /// A local-only document asked for a subject outside the district.
    #[error("{0} is issued only for subjects inside the district (관내)")]
    LocalOnly(DocCode),
    /// An exemption code the catalog does not define.
    #[error("unknown exemption {0:?}")]
    UnknownExemption(String),
    /// The arithmetic overflowed (impossible with validated fees, checked anyway).
    #[error("fee arithmetic overflowed")]
    Overflow,
}

/// Whether and why a document is available at this kiosk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Availability {
    /// Issued here.
    Enabled,
    /// Its whole agency is disabled here.
    AgencyDisabled,
    /// The type itself is disabled here.
    DocumentDisabled,
}

/// One line of the kiosk's document list, for `kioskctl catalog list` and the screens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Listing {
    /// The document code.
    pub code: DocCode,
    /// Korean name.
    pub name_ko: String,
    /// English name.
    pub name_en: String,
    /// Domain code.
    pub domain: String,
    /// Agency code.
    pub agency: String,
    /// Identity proof or address.
    pub requires: Requirement,
    /// Issued only inside the district.
    pub local_only: bool,
    /// Page limit.
    pub max_pages: u32,
    /// Fee for one one-page copy with default options, inside the district, on the day
    /// asked, after ordinances and waivers (no statutory exemption).
    pub fee: Won,
    /// Fee per page after the first on that day.
    pub per_extra_page: Won,
    /// Whether it is issued here.
    pub availability: Availability,
}

impl KioskCatalog {
    /// Combines a catalog with a kiosk's overrides, rejecting overrides that name unknown
    /// documents or agencies (every problem, with lines in the overrides file).
    pub fn new(catalog: Catalog, overrides: Overrides) -> Result<KioskCatalog, Problems> {
        overrides.validate_against(&catalog)?;
        Ok(KioskCatalog { catalog, overrides })
    }

    /// The underlying catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The kiosk's overrides.
    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    /// Whether a document is issued here.
    pub fn availability(&self, doc: &Document) -> Availability {
        if !self.overrides.agency_enabled(&doc.agency) {
            Availability::AgencyDisabled
        } else if self.overrides.document_switch(&doc.code) == Some(false) {
            Availability::DocumentDisabled
        } else {
            Availability::Enabled
        }
    }

    /// The documents this kiosk issues, in catalog order.
    pub fn enabled_documents(&self) -> impl Iterator<Item = &Document> + '_ {
        self.catalog
            .documents()
            .filter(|d| self.availability(d) == Availability::Enabled)
    }

    /// Every document of the catalog with its availability and fee on `on`, in catalog
    /// order.
    pub fn listing(&self, on: Date) -> Vec<Listing> {
        self.catalog
            .documents()
            .map(|doc| {
                let request = QuoteRequest::new(doc.code.clone(), on);
                // Validated fees are at most 1,000,000 won, so a one-page quote cannot
                // overflow; fall back to the catalog base rather than panic.
                let (fee, per_extra_page) = match self.price(doc, &request) {
                    Ok((q, extra)) => (q.fee, extra),
                    Err(_) => (doc.fee.base, doc.fee.per_extra_page),
                };
                Listing {
                    code: doc.code.clone(),
                    name_ko: doc.name_ko.clone(),
                    name_en: doc.name_en.clone(),
                    domain: doc.domain.clone(),
                    agency: doc.agency.clone(),
                    requires: doc.requires,
                    local_only: doc.local_only,
                    max_pages: doc.max_pages,
                    fee,
                    per_extra_page,
                    availability: self.availability(doc),
                }
            })
            .collect()
    }

    /// What this kiosk charges for one copy as requested.
    pub fn quote(&self, request: &QuoteRequest) -> Result<Quote, QuoteError> {
        let doc = self
            .catalog
            .document(request.code.as_str())
            .ok_or_else(|| QuoteError::UnknownDocument(request.code.clone()))?;
        match self.availability(doc) {
            Availability::Enabled => {}
            Availability::AgencyDisabled => {
                return Err(QuoteError::AgencyDisabled {
                    code: doc.code.clone(),
                    agency: doc.agency.clone(),
                });
            }
            Availability::DocumentDisabled => {
                return Err(QuoteError::DocumentDisabled(doc.code.clone()));
            }
        }
        self.price(doc, request).map(|(q, _)| q)
    }

    /// Prices a request without the availability check; also returns the per-extra-page
    /// fee in force.
    fn price(&self, doc: &Document, request: &QuoteRequest) -> Result<(Quote, Won), QuoteError> {
        let code = &doc.code;
        if request.pages == 0 {
            return Err(QuoteError::ZeroPages);
        }
        if request.pages > doc.max_pages {
            return Err(QuoteError::TooManyPages {
                code: code.clone(),
                max: doc.max_pages,
                pages: request.pages,
            });
        }
        let mut options_fee = Won::ZERO;
        for (key, value) in &request.options {
            let option = doc.option(key).ok_or_else(|| QuoteError::UnknownOption {
                code: code.clone(),
                key: key.clone(),
            })?;
            let choice = option
                .choice(value)
                .ok_or_else(|| QuoteError::InvalidChoice {
                    code: code.clone(),
                    key: key.clone(),
                    value: value.clone(),
                })?;
            options_fee = options_fee
                .checked_add(choice.surcharge)
                .ok_or(QuoteError::Overflow)?;
        }
        for option in &doc.options {
            if !request.options.contains_key(&option.key)
                && let Some(choice) = option.choice(&option.default)
            {
                options_fee = options_fee
                    .checked_add(choice.surcharge)
                    .ok_or(QuoteError::Overflow)?;
            }
        }
        let outside = request.residence == Residence::Outside;
        if outside && doc.local_only {
            return Err(QuoteError::LocalOnly(code.clone()));
        }
        let exemption = match &request.exemption {
            Some(x) if self.catalog.exemption(x).is_none() => {
                return Err(QuoteError::UnknownExemption(x.clone()));
            }
            other => other.as_deref(),
        };

        let change = self.overrides.fee_change_on(code, request.on);
        let inside_base = change.and_then(|c| c.base).unwrap_or(doc.fee.base);
        let outside_base = change
            .and_then(|c| c.outside_district)
            .or(doc.fee.outside_district);
        let per_extra_page = change
            .and_then(|c| c.per_extra_page)
            .unwrap_or(doc.fee.per_extra_page);
        let (base, outside_district_fee) = match (outside, outside_base) {
            (true, Some(b)) => (b, true),
            _ => (inside_base, false),
        };
        let extra_pages = request.pages - 1; // pages >= 1 checked above
        let extra_pages_fee = per_extra_page
            .checked_mul(u64::from(extra_pages))
            .ok_or(QuoteError::Overflow)?;
        let gross = base
            .checked_add(extra_pages_fee)
            .and_then(|w| w.checked_add(options_fee))
            .ok_or(QuoteError::Overflow)?;

        let relief = if let Some(w) = self.overrides.waiver_on(code, request.on) {
            Some(Relief::Waiver {
                reason: w.reason.clone(),
            })
        } else {
            exemption
                .filter(|x| doc.fee.exemptions.iter().any(|e| e == x))
                .map(|x| Relief::Exemption { code: x.to_owned() })
        };
        let fee = if relief.is_some() { Won::ZERO } else { gross };
        let quote = Quote {
            code: code.clone(),
            pages: request.pages,
            base,
            outside_district_fee,
            extra_pages,
            extra_pages_fee,
            options_fee,
            gross,
            ordinance: change.map(|c| AppliedOrdinance {
                name: c.ordinance.clone(),
                effective: c.effective,
            }),
            relief,
            fee,
        };
        Ok((quote, per_extra_page))
    }
}
