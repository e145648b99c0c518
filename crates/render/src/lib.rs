//! Renders the kiosk's certificates (the 66 document types and any added later) to A4 PDF.
//!
//! * **Declarative templates** ([`TemplateSet`], `config/templates/<CODE>.toml`): title,
//!   authority and body blocks (key/value sections, tables, paragraphs, notices) that name
//!   where each field sits in the document data. One engine, no per-type code.
//! * **Document data** is a [`serde_json::Value`] from the e-government network; values
//!   that do not fit the template, control characters and invalid text are refused with an
//!   error naming the field ([`RenderError`]).
//! * **Korean text** with NanumGothic, measured with its advance widths, wrapped to its
//!   column, paginated with repeated table headers; the font is loaded once
//!   ([`KioskFont`]) and subset per document (only the glyphs used are embedded, with a
//!   ToUnicode map so the text stays extractable).
//! * **Resident numbers** in fields marked `rrn` are masked (`900101-1******`) unless the
//!   template's reveal option is chosen.
//! * **Verification**: every page carries a QR code with an ed25519-signed digest of the
//!   document ([`verify_payload`]).
//! * **Deterministic**: the same request (issue time included) gives the same bytes.
//! * **Synthetic data** for demos and tests ([`Renderer::render_synthetic`]).

pub mod data;
mod engine;
mod error;
mod font;
pub mod layout;
mod pdf;
mod qr;
mod sfnt;
mod synth;
pub mod template;
mod verify;

pub use data::{canonical_data_sha256, canonical_json, check_data, mask_rrn, parse_document_data};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use engine::{Civil, IssuedAt, MAX_PAGES, RenderRequest, RenderedDocument, Renderer};
pub use error::{FontError, RenderError, TemplateError, VerifyError};
pub use font::{DEFAULT_FONT_PATH, KioskFont};
pub use layout::{Element, Layout, Page};
pub use pdf::QR_QUIET_MODULES;
pub use synth::{SyntheticOptions, synthetic_data, synthetic_issue_number};
pub use template::{Block, Template, TemplateSet};
pub use verify::{
    KeyId, PAYLOAD_VERSION, VerifiedDocument, demo_signing_key, key_id, payload_key_id,
    sign_payload, verify_payload,
};

/// The template directory relative to the workspace root.
pub const DEFAULT_TEMPLATES_DIR: &str = "config/templates";
