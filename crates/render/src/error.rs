//! Errors of the rendering engine.
//!
//! Three families, so that callers can tell "our configuration is broken" (templates, font)
//! from "the data the e-government network sent does not fit" (refuse the document, keep
//! the kiosk running) from "a printed code does not verify" (possible forgery).

use std::path::PathBuf;

/// A template or the template directory could not be loaded or is inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The directory or a file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A template file is not valid TOML or does not match the template schema.
    #[error("template {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// A template is well-formed TOML but semantically wrong.
    #[error("template {code}: {message}")]
    Invalid {
        /// The document code (or file name when the code itself is bad).
        code: String,
        /// What is wrong.
        message: String,
    },
    /// Two templates declare the same document code.
    #[error("document code {0} has more than one template")]
    Duplicate(String),
}

/// The font could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    /// The font file could not be read.
    #[error("cannot read font {path}: {source}")]
    Io {
        /// The configured font path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not a usable TrueType font.
    #[error("font is not usable: {0}")]
    Parse(String),
    /// Subsetting the font for one document failed.
    #[error("font subsetting failed: {0}")]
    Subset(String),
}

/// A document could not be rendered. The kiosk must not issue (or charge for) it.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No template for the requested document code.
    #[error("no template for document code {0}")]
    UnknownDocument(String),
    /// A field the template requires is absent (or null).
    #[error("required field `{path}` is missing")]
    MissingField {
        /// Full path of the field in the document data, e.g. `members[3].name`.
        path: String,
    },
    /// A field has the wrong JSON type or format for its template kind.
    #[error("field `{path}` must be {expected}, found {found}")]
    WrongType {
        /// Full path of the field.
        path: String,
        /// What the template expects.
        expected: &'static str,
        /// What the data holds (type or a short description, never the value itself).
        found: String,
    },
    /// A text value holds a control character, a bidirectional override, a noncharacter
    /// or other invalid text.
    #[error("field `{path}` contains invalid text: {reason}")]
    InvalidText {
        /// Full path of the field (or of the object key).
        path: String,
        /// Which character (as U+XXXX) and why.
        reason: String,
    },
    /// A value is longer than any certificate field may be.
    #[error("field `{path}` is {len} characters long; the limit is {max}")]
    TooLong {
        /// Full path of the field.
        path: String,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The data is nested deeper than any certificate needs.
    #[error("document data is nested deeper than {0} levels")]
    TooDeep(usize),
    /// The document data is not valid UTF-8 / JSON (lone surrogates included).
    #[error("document data is not valid JSON text: {0}")]
    InvalidJson(String),
    /// A request parameter (kiosk id, issue time) is invalid.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The laid-out document exceeds the page limit.
    #[error("document needs {pages} pages; the limit is {max}")]
    TooManyPages {
        /// Pages the layout needed.
        pages: usize,
        /// The limit.
        max: usize,
    },
    /// The font failed while building this document.
    #[error(transparent)]
    Font(#[from] FontError),
    /// The QR code could not be built (payload too long).
    #[error("verification code could not be encoded: {0}")]
    Qr(String),
    /// The synthetic generator cannot satisfy the request.
    #[error("synthetic data: {0}")]
    Synthetic(String),
    /// The PDF writer failed.
    #[error("PDF serialization failed: {0}")]
    Pdf(String),
}

/// A verification payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not base64url text.
    #[error("payload is not base64url text")]
    Encoding,
    /// The payload ends early or has bytes left over.
    #[error("payload has the wrong length")]
    Length,
    /// A payload format this verifier does not know.
    #[error("unsupported payload version {0}")]
    Version(u8),
    /// A field inside the payload is malformed.
    #[error("payload field {0} is malformed")]
    Field(&'static str),
    /// The payload names another key than the one it is checked with.
    #[error("the payload was signed by key id {named}, not by the key given (id {given})")]
    OtherKey {
        /// The key id in the payload, hex.
        named: String,
        /// The given key's id, hex.
        given: String,
    },
    /// The signature does not match the content and key: altered or forged.
    #[error("signature does not verify: the document was altered or not issued by this authority")]
    Signature,
}
