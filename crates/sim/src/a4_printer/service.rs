//! The printer side of IPP/2.0 (RFC 8011, encoding RFC 8010): one request body in, one
//! response body out, whatever the bytes. The `ipp` crate decodes and encodes; what it does
//! not do is checked here first: the attribute section is walked once by hand so that nesting
//! and size are bounded before the crate builds values from it, and so the document's first
//! byte is known exactly.

use std::io::Cursor;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use ipp::attribute::{IppAttribute, IppAttributes};
use ipp::model::{DelimiterTag, IppVersion, Operation, StatusCode};
use ipp::parser::{IppParseError, IppParser};
use ipp::reader::IppReader;
use ipp::request::IppRequestResponse;
use ipp::value::{IppName, IppValue};

use super::device::{CreateError, Device, Job, JobError, JobState, Toner};
use super::pdf::{PDF_MAGIC, count_pages};

/// The resource path of the printer.
pub const PRINTER_PATH: &str = "/ipp/print";
/// Most attributes in one request.
pub const MAX_ATTRIBUTES: usize = 512;
/// Deepest collection nesting accepted (media-col needs 2).
pub const MAX_COLLECTION_DEPTH: usize = 8;
/// Longest attribute section accepted; the rest of a request is the document.
pub const MAX_ATTRIBUTE_BYTES: usize = 64 * 1024;

const DOCUMENT_FORMAT: &str = "application/pdf";

/// The printer as the IPP service sees it: the device behind a lock, its clock and
/// identity. Shared by the HTTP server, the control socket and the engine thread.
pub struct Printer {
    /// The device. Every request locks it once, briefly.
    pub device: Mutex<Device>,
    /// Woken whenever the device changed, so the engine thread recomputes its next page.
    pub wake: Condvar,
    /// `ipp://127.0.0.1:PORT/ipp/print`.
    pub uri: String,
    /// The largest document accepted.
    pub max_document: usize,
    /// For printer-up-time and the job time stamps.
    pub started: Instant,
}

impl Printer {
    /// Locks the device. A panic elsewhere while holding the lock must not take the printer
    /// down with it (the device's state stays consistent between statements), so poisoning
    /// is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Device> {
        self.device.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the device brought up to date, so every answer reflects the pages due by now
    /// even when the engine thread has not run yet.
    pub fn lock_now(&self) -> (MutexGuard<'_, Device>, Instant) {
        let now = Instant::now();
        let mut d = self.lock();
        d.step(now);
        (d, now)
    }

    fn up_time(&self, at: Instant) -> i32 {
        i32::try_from(at.duration_since(self.started).as_secs())
            .unwrap_or(i32::MAX - 1)
            .saturating_add(1)
    }

    /// Handles one IPP request body (attributes and document) and returns the response body.
    /// Never panics on any input; malformed requests get an IPP error status.
    pub fn handle(&self, body: &[u8]) -> Vec<u8> {
        let Some((version, op, request_id)) = header(body) else {
            return error(
                IppVersion::v1_1(),
                0,
                StatusCode::ClientErrorBadRequest,
                "short request",
            );
        };
        if !matches!(version.0, 0x0100 | 0x0101 | 0x0200 | 0x0201 | 0x0202) {
            return error(
                IppVersion::v2_0(),
                request_id,
                StatusCode::ServerErrorVersionNotSupported,
                "IPP 1.0 to 2.2 only",
            );
        }
        let bad = |why: &str| error(version, request_id, StatusCode::ClientErrorBadRequest, why);
        if request_id <= 0 {
            return bad("request-id must be positive");
        }
        let end = match scan_attributes(body) {
            Ok(end) => end,
            Err(why) => return bad(why),
        };
        let (attributes_part, document) = body.split_at(end);
        let attributes = match parse_attributes(attributes_part) {
            Ok(a) => a,
            Err(e) => return bad(&format!("malformed attributes: {e}")),
        };
        let request = Request {
            attributes,
            document,
        };
        match request.check_operation_group() {
            Ok(()) => {}
            Err((status, why)) => return error(version, request_id, status, why),
        }
        let result = match op {
            x if x == Operation::GetPrinterAttributes as i16 => {
                self.get_printer_attributes(&request)
            }
            x if x == Operation::PrintJob as i16 => self.print_job(&request),
            x if x == Operation::ValidateJob as i16 => self.validate_job(&request),
            x if x == Operation::CreateJob as i16 => self.create_job(&request),
            x if x == Operation::SendDocument as i16 => self.send_document(&request),
            x if x == Operation::GetJobAttributes as i16 => self.get_job_attributes(&request),
            x if x == Operation::GetJobs as i16 => self.get_jobs(&request),
            x if x == Operation::CancelJob as i16 => self.cancel_job(&request),
            _ => Err((
                StatusCode::ServerErrorOperationNotSupported,
                "operation not supported".into(),
            )),
        };
        match result {
            Ok(groups) => respond(version, request_id, StatusCode::SuccessfulOk, None, groups),
            Err((status, why)) => error(version, request_id, status, &why),
        }
    }

    fn get_printer_attributes(&self, r: &Request<'_>) -> Outcome {
        r.printer_target()?;
        let wanted = Wanted::from(r);
        let (d, now) = self.lock_now();
        let attrs = self
            .printer_attributes(&d, now)
            .into_iter()
            .filter(|a| wanted.printer(a.name().as_str()))
            .collect();
        Ok(vec![(DelimiterTag::PrinterAttributes, attrs)])
    }

    fn validate_job(&self, r: &Request<'_>) -> Outcome {
        r.printer_target()?;
        r.check_format()?;
        r.check_compression()?;
        Ok(Vec::new())
    }

    fn print_job(&self, r: &Request<'_>) -> Outcome {
        r.printer_target()?;
        r.check_format()?;
        r.check_compression()?;
        let pages = self.check_document(r.document)?;
        let now = Instant::now();
        let mut d = self.lock();
        let id = d
            .create_job(&r.job_name(), &r.user(), now)
            .map_err(refusal)?;
        d.attach_document(id, r.document.to_vec(), pages, now)
            .map_err(|_| internal("the new job vanished"))?;
        self.wake.notify_all();
        Ok(vec![(
            DelimiterTag::JobAttributes,
            self.job_summary(&d, id),
        )])
    }

    fn create_job(&self, r: &Request<'_>) -> Outcome {
        r.printer_target()?;
        let now = Instant::now();
        let mut d = self.lock();
        let id = d
            .create_job(&r.job_name(), &r.user(), now)
            .map_err(refusal)?;
        Ok(vec![(
            DelimiterTag::JobAttributes,
            self.job_summary(&d, id),
        )])
    }

    fn send_document(&self, r: &Request<'_>) -> Outcome {
        let id = r.job_target()?;
        match r.operation("last-document") {
            Some(IppValue::Boolean(true)) => {}
            Some(IppValue::Boolean(false)) => {
                return Err((
                    StatusCode::ServerErrorMultipleDocumentJobsNotSupported,
                    "one document per job".into(),
                ));
            }
            _ => {
                return Err((
                    StatusCode::ClientErrorBadRequest,
                    "last-document missing".into(),
                ));
            }
        }
        r.check_format()?;
        r.check_compression()?;
        let pages = self.check_document(r.document)?;
        let now = Instant::now();
        let mut d = self.lock();
        d.attach_document(id, r.document.to_vec(), pages, now)
            .map_err(job_error)?;
        self.wake.notify_all();
        Ok(vec![(
            DelimiterTag::JobAttributes,
            self.job_summary(&d, id),
        )])
    }

    fn get_job_attributes(&self, r: &Request<'_>) -> Outcome {
        let id = r.job_target()?;
        let wanted = Wanted::from(r);
        let (d, _) = self.lock_now();
        let job = d.job(id).ok_or_else(|| job_error(JobError::NotFound))?;
        let attrs = self
            .job_attributes(job)
            .into_iter()
            .filter(|a| wanted.job(a.name().as_str()))
            .collect();
        Ok(vec![(DelimiterTag::JobAttributes, attrs)])
    }

    fn get_jobs(&self, r: &Request<'_>) -> Outcome {
        r.printer_target()?;
        let (d, _) = self.lock_now();
        let which_jobs_all = d.which_jobs_all;
        // `Some(terminal?)`, or `None` for every job.
        let completed = match r.operation("which-jobs") {
            None => Some(false),
            Some(IppValue::Keyword(k)) if k.as_str() == "not-completed" => Some(false),
            Some(IppValue::Keyword(k)) if k.as_str() == "completed" => Some(true),
            Some(IppValue::Keyword(k)) if k.as_str() == "all" && which_jobs_all => None,
            Some(_) => {
                return Err((
                    StatusCode::ClientErrorAttributesOrValuesNotSupported,
                    if which_jobs_all {
                        "which-jobs: completed, not-completed or all"
                    } else {
                        "which-jobs: completed or not-completed"
                    }
                    .into(),
                ));
            }
        };
        let limit = match r.operation("limit") {
            Some(IppValue::Integer(n)) if *n > 0 => usize::try_from(*n).unwrap_or(usize::MAX),
            None => usize::MAX,
            Some(_) => {
                return Err((
                    StatusCode::ClientErrorBadRequest,
                    "limit must be positive".into(),
                ));
            }
        };
        let wanted = if r.operation("requested-attributes").is_some() {
            Wanted::from(r)
        } else {
            Wanted::Names(vec!["job-id".into(), "job-uri".into()])
        };
        let mine = match r.operation("my-jobs") {
            Some(IppValue::Boolean(true)) => Some(r.user()),
            _ => None,
        };
        // Newest first, as CUPS lists them.
        Ok(d.jobs()
            .rev()
            .filter(|j| completed.is_none_or(|c| j.state.is_terminal() == c))
            .filter(|j| mine.as_ref().is_none_or(|u| *u == j.user))
            .take(limit)
            .map(|j| {
                let attrs = self
                    .job_attributes(j)
                    .into_iter()
                    .filter(|a| wanted.job(a.name().as_str()))
                    .collect();
                (DelimiterTag::JobAttributes, attrs)
            })
            .collect())
    }

    fn cancel_job(&self, r: &Request<'_>) -> Outcome {
        let id = r.job_target()?;
        let mut d = self.lock();
        d.cancel(id, Instant::now()).map_err(job_error)?;
        self.wake.notify_all();
        Ok(Vec::new())
    }

    /// Checks a document: present, within the size limit, a PDF with pages.
    fn check_document(&self, doc: &[u8]) -> Result<u32, Failure> {
        if doc.is_empty() {
            return Err((StatusCode::ClientErrorBadRequest, "no document data".into()));
        }
        if doc.len() > self.max_document {
            return Err((
                StatusCode::ClientErrorRequestEntityTooLong,
                format!("documents up to {} bytes", self.max_document),
            ));
        }
        if !doc.starts_with(PDF_MAGIC) {
            return Err((
                StatusCode::ClientErrorDocumentFormatError,
                "not a PDF".into(),
            ));
        }
        match u32::try_from(count_pages(doc)) {
            Ok(0) => Err((
                StatusCode::ClientErrorDocumentFormatError,
                "no page objects found in the PDF".into(),
            )),
            Ok(n) => Ok(n),
            Err(_) => Err((
                StatusCode::ClientErrorDocumentFormatError,
                "too many pages".into(),
            )),
        }
    }

    fn job_uri(&self, id: i32) -> String {
        format!("{}/{id}", self.uri)
    }

    /// What Print-Job, Create-Job and Send-Document answer about the job.
    fn job_summary(&self, d: &Device, id: i32) -> Vec<IppAttribute> {
        match d.job(id) {
            Some(j) => self
                .job_attributes(j)
                .into_iter()
                .filter(|a| {
                    matches!(
                        a.name().as_str(),
                        "job-id"
                            | "job-uri"
                            | "job-state"
                            | "job-state-reasons"
                            | "job-state-message"
                    )
                })
                .collect(),
            None => Vec::new(),
        }
    }

    fn job_attributes(&self, j: &Job) -> Vec<IppAttribute> {
        let time = |at: Option<Instant>| match at {
            Some(t) => Ok(IppValue::Integer(self.up_time(t))),
            None => Ok(IppValue::NoValue),
        };
        let pages = i32::try_from(j.pages).unwrap_or(i32::MAX);
        let printed = i32::try_from(j.printed).unwrap_or(i32::MAX);
        let message = j.message.clone().unwrap_or_else(|| match j.state {
            JobState::Pending => "Waiting.".into(),
            JobState::Processing => "Printing.".into(),
            JobState::ProcessingStopped => "Stopped: the printer needs attention.".into(),
            JobState::Canceled => "Canceled.".into(),
            JobState::Aborted => "Aborted.".into(),
            JobState::Completed => "Printed.".into(),
        });
        let attrs = [
            attr("job-id", Ok(IppValue::Integer(j.id))),
            attr("job-uri", IppValue::new_uri(self.job_uri(j.id))),
            attr("job-printer-uri", IppValue::new_uri(self.uri.clone())),
            attr(
                "job-name",
                IppValue::new_name_without_language(j.name.clone()),
            ),
            attr(
                "job-originating-user-name",
                IppValue::new_name_without_language(j.user.clone()),
            ),
            attr("job-state", Ok(IppValue::Enum(j.state as i32))),
            attr("job-state-reasons", keywords(j.reasons())),
            attr(
                "job-state-message",
                IppValue::new_text_without_language(message),
            ),
            attr("job-impressions", Ok(IppValue::Integer(pages))),
            attr("job-impressions-completed", Ok(IppValue::Integer(printed))),
            attr("job-media-sheets", Ok(IppValue::Integer(pages))),
            attr("job-media-sheets-completed", Ok(IppValue::Integer(printed))),
            attr(
                "job-printer-up-time",
                Ok(IppValue::Integer(self.up_time(Instant::now()))),
            ),
            attr("time-at-creation", time(Some(j.created))),
            attr("time-at-processing", time(j.processing)),
            attr("time-at-completed", time(j.completed)),
            attr(
                "document-format",
                IppValue::new_mime_media_type(DOCUMENT_FORMAT),
            ),
        ];
        attrs.into_iter().flatten().collect()
    }

    fn printer_attributes(&self, d: &Device, now: Instant) -> Vec<IppAttribute> {
        let ops = [
            Operation::PrintJob,
            Operation::ValidateJob,
            Operation::CreateJob,
            Operation::SendDocument,
            Operation::CancelJob,
            Operation::GetJobAttributes,
            Operation::GetJobs,
            Operation::GetPrinterAttributes,
        ]
        .into_iter()
        .map(|o| IppValue::Enum(o as i32))
        .collect();
        let a4 = media_col();
        let mut attrs = vec![
            attr("printer-uri-supported", IppValue::new_uri(self.uri.clone())),
            attr(
                "uri-authentication-supported",
                IppValue::new_keyword("none"),
            ),
            attr("uri-security-supported", IppValue::new_keyword("none")),
            attr(
                "printer-name",
                IppValue::new_name_without_language("kiosk-a4"),
            ),
            attr(
                "printer-info",
                IppValue::new_text_without_language("Kiosk A4 printer (simulated)"),
            ),
            attr(
                "printer-location",
                IppValue::new_text_without_language("kiosk-sim"),
            ),
            attr(
                "printer-make-and-model",
                IppValue::new_text_without_language("kiosk-sim A4 Laser"),
            ),
            attr(
                "printer-more-info",
                IppValue::new_uri(self.uri.replacen("ipp://", "http://", 1)),
            ),
            attr(
                "printer-uuid",
                IppValue::new_uri("urn:uuid:6b696f73-6b2d-7369-6d2d-613470726e74"),
            ),
            attr("printer-state", Ok(IppValue::Enum(d.state() as i32))),
            attr("printer-state-reasons", keywords(&d.reasons())),
            attr(
                "printer-state-message",
                IppValue::new_text_without_language(d.message()),
            ),
            attr(
                "printer-is-accepting-jobs",
                Ok(IppValue::Boolean(d.accepting())),
            ),
            attr("printer-up-time", Ok(IppValue::Integer(self.up_time(now)))),
            attr(
                "queued-job-count",
                Ok(IppValue::Integer(
                    i32::try_from(d.active_jobs()).unwrap_or(i32::MAX),
                )),
            ),
            attr("ipp-versions-supported", keywords(&["1.0", "1.1", "2.0"])),
            attr("operations-supported", Ok(IppValue::Array(ops))),
            attr("charset-configured", IppValue::new_charset("utf-8")),
            attr(
                "charset-supported",
                array(["utf-8", "us-ascii"].map(IppValue::new_charset)),
            ),
            attr(
                "natural-language-configured",
                IppValue::new_natural_language("en"),
            ),
            attr(
                "generated-natural-language-supported",
                IppValue::new_natural_language("en"),
            ),
            attr(
                "document-format-default",
                IppValue::new_mime_media_type(DOCUMENT_FORMAT),
            ),
            attr(
                "document-format-supported",
                IppValue::new_mime_media_type(DOCUMENT_FORMAT),
            ),
            attr("compression-supported", IppValue::new_keyword("none")),
            attr("pdl-override-supported", IppValue::new_keyword("attempted")),
            attr(
                "multiple-document-jobs-supported",
                Ok(IppValue::Boolean(false)),
            ),
            attr("job-ids-supported", Ok(IppValue::Boolean(true))),
            attr(
                "which-jobs-supported",
                if d.which_jobs_all {
                    keywords(&["completed", "not-completed", "all"])
                } else {
                    keywords(&["completed", "not-completed"])
                },
            ),
            attr("color-supported", Ok(IppValue::Boolean(false))),
            attr("pages-per-minute", Ok(IppValue::Integer(30))),
            attr("copies-default", Ok(IppValue::Integer(1))),
            attr(
                "copies-supported",
                Ok(IppValue::RangeOfInteger { min: 1, max: 1 }),
            ),
            attr("sides-default", IppValue::new_keyword("one-sided")),
            attr("sides-supported", IppValue::new_keyword("one-sided")),
            attr("finishings-default", Ok(IppValue::Enum(3))),
            attr("finishings-supported", Ok(IppValue::Enum(3))),
            attr("orientation-requested-default", Ok(IppValue::Enum(3))),
            attr("orientation-requested-supported", Ok(IppValue::Enum(3))),
            attr("output-bin-default", IppValue::new_keyword("face-down")),
            attr("output-bin-supported", IppValue::new_keyword("face-down")),
            attr("print-quality-default", Ok(IppValue::Enum(4))),
            attr("print-quality-supported", Ok(IppValue::Enum(4))),
            attr("printer-resolution-default", Ok(DPI_600)),
            attr("printer-resolution-supported", Ok(DPI_600)),
            attr("media-size-supported", media_size()),
            attr("media-type-supported", IppValue::new_keyword("stationery")),
            attr("media-source-supported", IppValue::new_keyword("main")),
            attr("media-default", IppValue::new_keyword(A4)),
            attr("media-supported", IppValue::new_keyword(A4)),
            attr("media-col-default", media_col()),
            attr("media-col-database", media_col()),
            attr(
                "media-col-supported",
                keywords(&["media-size", "media-source", "media-type"]),
            ),
            attr(
                "marker-names",
                IppValue::new_name_without_language("Black Toner"),
            ),
            attr("marker-types", IppValue::new_keyword("toner")),
            attr(
                "marker-colors",
                IppValue::new_name_without_language("#000000"),
            ),
            attr("marker-levels", Ok(IppValue::Integer(d.toner.level()))),
            attr(
                "marker-low-levels",
                Ok(IppValue::Integer(Toner::Low.level() + 5)),
            ),
            attr("marker-high-levels", Ok(IppValue::Integer(100))),
        ];
        if d.paper > 0 {
            attrs.push(attr("media-ready", IppValue::new_keyword(A4)));
            attrs.push(attr("media-col-ready", a4));
        }
        attrs.into_iter().flatten().collect()
    }
}

const A4: &str = "iso_a4_210x297mm";
/// 600 dpi (units 3: dots per inch).
const DPI_600: IppValue = IppValue::Resolution {
    cross_feed: 600,
    feed: 600,
    units: 3,
};

/// A4 in hundredths of a millimetre, as a media-size collection.
fn media_size() -> Result<IppValue, IppParseError> {
    Ok(IppValue::Collection(
        [
            (IppName::new("x-dimension")?, IppValue::Integer(21000)),
            (IppName::new("y-dimension")?, IppValue::Integer(29700)),
        ]
        .into_iter()
        .collect(),
    ))
}

/// An A4 sheet of plain paper from the main tray, as a media-col collection.
fn media_col() -> Result<IppValue, IppParseError> {
    let name = |s: &str| IppName::new(s);
    Ok(IppValue::Collection(
        [
            (name("media-size")?, media_size()?),
            (name("media-source")?, IppValue::new_keyword("main")?),
            (name("media-type")?, IppValue::new_keyword("stationery")?),
        ]
        .into_iter()
        .collect(),
    ))
}

type Failure = (StatusCode, String);
type Outcome = Result<Vec<(DelimiterTag, Vec<IppAttribute>)>, Failure>;

fn internal(why: &str) -> Failure {
    (StatusCode::ServerErrorInternalError, why.into())
}

fn refusal(e: CreateError) -> Failure {
    match e {
        CreateError::NotAccepting => (
            StatusCode::ServerErrorNotAcceptingJobs,
            "the printer is stopped (jam or toner empty)".into(),
        ),
        CreateError::Busy => (
            StatusCode::ServerErrorBusy,
            "too many unfinished jobs".into(),
        ),
    }
}

fn job_error(e: JobError) -> Failure {
    match e {
        JobError::NotFound => (StatusCode::ClientErrorNotFound, "no such job".into()),
        JobError::NotPossible => (
            StatusCode::ClientErrorNotPossible,
            "not possible in the job's state".into(),
        ),
    }
}

/// An attribute, or nothing when a value does not fit its IPP type (only client-given
/// names could, and those were bounded by the parser).
fn attr(name: &str, value: Result<IppValue, IppParseError>) -> Option<IppAttribute> {
    value.and_then(|v| IppAttribute::with_name(name, v)).ok()
}

fn array<const N: usize>(
    values: [Result<IppValue, IppParseError>; N],
) -> Result<IppValue, IppParseError> {
    let v = values.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(IppValue::Array(v))
}

fn keywords(words: &[&str]) -> Result<IppValue, IppParseError> {
    let mut v = words
        .iter()
        .map(|w| IppValue::new_keyword(*w))
        .collect::<Result<Vec<_>, _>>()?;
    // An empty 1setOf cannot be encoded; one value needs no array.
    match v.len() {
        0 => IppValue::new_keyword("none"),
        1 => Ok(v.remove(0)),
        _ => Ok(IppValue::Array(v)),
    }
}

/// version, operation-id, request-id.
fn header(body: &[u8]) -> Option<(IppVersion, i16, i32)> {
    let h = body.get(..8)?;
    let version = u16::from_be_bytes([h[0], h[1]]);
    let op = i16::from_be_bytes([h[2], h[3]]);
    let id = i32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    Some((IppVersion(version), op, id))
}

/// Walks the attribute section (RFC 8010 3.1) without building values: bounds the number of
/// attributes, the collection depth and the section's size, and returns where it ends (the
/// first document byte).
pub fn scan_attributes(body: &[u8]) -> Result<usize, &'static str> {
    let mut at = 8;
    let mut count = 0usize;
    let mut depth = 0usize;
    let u16_at = |i: usize| -> Option<usize> {
        let b = body.get(i..i + 2)?;
        Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
    };
    loop {
        if at > MAX_ATTRIBUTE_BYTES {
            return Err("attribute section too long");
        }
        let tag = *body
            .get(at)
            .ok_or("attributes end without end-of-attributes-tag")?;
        at += 1;
        match tag {
            0x03 => {
                if depth != 0 {
                    return Err("unterminated collection");
                }
                return Ok(at);
            }
            0x01..=0x0a => {
                if depth != 0 {
                    return Err("group delimiter inside a collection");
                }
            }
            0x10..=0x4a => {
                let name_len = u16_at(at).ok_or("truncated attribute")?;
                at += 2 + name_len;
                let value_len = u16_at(at).ok_or("truncated attribute")?;
                let value = at + 2;
                at = value + value_len;
                if at > body.len() {
                    return Err("truncated attribute");
                }
                // textWithLanguage and nameWithLanguage hold two length-prefixed strings; the
                // `ipp` crate slices them unchecked (it panics when they overrun the value).
                if matches!(tag, 0x35 | 0x36) {
                    let lang_len = u16_at(value).ok_or("truncated attribute")?;
                    let text = value + 2 + lang_len;
                    let text_len = u16_at(text).ok_or("truncated attribute")?;
                    if text + 2 + text_len != at {
                        return Err("malformed text or name with language");
                    }
                }
                count += 1;
                if count > MAX_ATTRIBUTES {
                    return Err("too many attributes");
                }
                match tag {
                    0x34 => {
                        depth += 1;
                        if depth > MAX_COLLECTION_DEPTH {
                            return Err("collections nested too deep");
                        }
                    }
                    0x37 => depth = depth.checked_sub(1).ok_or("endCollection without begin")?,
                    _ => {}
                }
            }
            _ => return Err("invalid tag"),
        }
    }
}

fn parse_attributes(part: &[u8]) -> Result<IppAttributes, IppParseError> {
    let parser = IppParser::new(IppReader::new(Cursor::new(part.to_vec())));
    let (_, attributes, _) = parser.parse_parts()?;
    Ok(attributes)
}

/// A decoded request.
struct Request<'a> {
    attributes: IppAttributes,
    document: &'a [u8],
}

impl Request<'_> {
    fn operation(&self, name: &str) -> Option<&IppValue> {
        self.attributes
            .groups_of(DelimiterTag::OperationAttributes)
            .next()
            .and_then(|g| g.get(name))
            .map(IppAttribute::value)
    }

    /// RFC 8011 4.1.4: the operation group comes first and starts with attributes-charset
    /// and attributes-natural-language.
    fn check_operation_group(&self) -> Result<(), (StatusCode, &'static str)> {
        let bad = StatusCode::ClientErrorBadRequest;
        let group = self
            .attributes
            .groups()
            .first()
            .ok_or((bad, "no operation attributes"))?;
        if group.tag() != DelimiterTag::OperationAttributes {
            return Err((bad, "the operation attributes must come first"));
        }
        let first = group
            .attributes()
            .first()
            .ok_or((bad, "no attributes-charset"))?;
        let charset = match (first.name().as_str(), first.value()) {
            ("attributes-charset", IppValue::Charset(c)) => c.as_str().to_ascii_lowercase(),
            _ => return Err((bad, "attributes-charset must be the first attribute")),
        };
        match group
            .attributes()
            .get(1)
            .map(|a| (a.name().as_str(), a.value()))
        {
            Some(("attributes-natural-language", IppValue::NaturalLanguage(_))) => {}
            _ => {
                return Err((
                    bad,
                    "attributes-natural-language must be the second attribute",
                ));
            }
        }
        if charset != "utf-8" && charset != "us-ascii" {
            return Err((
                StatusCode::ClientErrorCharsetNotSupported,
                "charset utf-8 only",
            ));
        }
        Ok(())
    }

    /// The printer-uri target (printer operations).
    fn printer_target(&self) -> Result<(), Failure> {
        match self.operation("printer-uri") {
            Some(IppValue::Uri(u)) if uri_path(u.as_str()) == Some(PRINTER_PATH) => Ok(()),
            Some(IppValue::Uri(_)) => {
                Err((StatusCode::ClientErrorNotFound, "no such printer".into()))
            }
            _ => Err((
                StatusCode::ClientErrorBadRequest,
                "printer-uri missing".into(),
            )),
        }
    }

    /// The job id of a job operation: printer-uri and job-id, or job-uri.
    fn job_target(&self) -> Result<i32, Failure> {
        if let Some(IppValue::Uri(u)) = self.operation("job-uri") {
            let id = uri_path(u.as_str())
                .and_then(|p| p.strip_prefix(PRINTER_PATH))
                .and_then(|p| p.strip_prefix('/'))
                .and_then(|p| p.parse::<i32>().ok());
            return id.ok_or((StatusCode::ClientErrorNotFound, "no such job".into()));
        }
        self.printer_target()?;
        match self.operation("job-id") {
            Some(IppValue::Integer(id)) => Ok(*id),
            _ => Err((StatusCode::ClientErrorBadRequest, "job-id missing".into())),
        }
    }

    fn check_format(&self) -> Result<(), Failure> {
        match self.operation("document-format") {
            None => Ok(()),
            Some(IppValue::MimeMediaType(m))
                if m.as_str().eq_ignore_ascii_case(DOCUMENT_FORMAT) =>
            {
                Ok(())
            }
            Some(other) => Err((
                StatusCode::ClientErrorDocumentFormatNotSupported,
                format!("document-format {other} not supported: application/pdf only"),
            )),
        }
    }

    fn check_compression(&self) -> Result<(), Failure> {
        match self.operation("compression") {
            None => Ok(()),
            Some(IppValue::Keyword(k)) if k.as_str() == "none" => Ok(()),
            Some(_) => Err((
                StatusCode::ClientErrorCompressionNotSupported,
                "compression not supported".into(),
            )),
        }
    }

    fn name_of(&self, attribute: &str) -> Option<String> {
        match self.operation(attribute)? {
            IppValue::NameWithoutLanguage(n) => Some(n.as_str().to_owned()),
            IppValue::NameWithLanguage { name, .. } => Some(name.as_str().to_owned()),
            _ => None,
        }
    }

    fn job_name(&self) -> String {
        self.name_of("job-name")
            .unwrap_or_else(|| "untitled".into())
    }

    fn user(&self) -> String {
        self.name_of("requesting-user-name")
            .unwrap_or_else(|| "anonymous".into())
    }
}

/// The path of an `ipp://` or `http://` URI, without query.
fn uri_path(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    Some(path.split(['?', '#']).next().unwrap_or(path))
}

/// Which attributes a client asked for (`requested-attributes`, RFC 8011 4.2.5.1).
enum Wanted {
    All,
    Names(Vec<String>),
}

impl From<&Request<'_>> for Wanted {
    fn from(r: &Request<'_>) -> Wanted {
        let names: Vec<String> = match r.operation("requested-attributes") {
            None => return Wanted::All,
            Some(IppValue::Array(a)) => a.iter().map(ToString::to_string).collect(),
            Some(v) => vec![v.to_string()],
        };
        if names.iter().any(|n| n == "all") {
            Wanted::All
        } else {
            Wanted::Names(names)
        }
    }
}

const JOB_TEMPLATE: &[&str] = &[
    "finishings-default",
    "finishings-supported",
    "orientation-requested-default",
    "orientation-requested-supported",
    "output-bin-default",
    "output-bin-supported",
    "print-quality-default",
    "print-quality-supported",
    "printer-resolution-default",
    "printer-resolution-supported",
    "media-size-supported",
    "media-type-supported",
    "media-source-supported",
    "copies-default",
    "copies-supported",
    "sides-default",
    "sides-supported",
    "media-default",
    "media-supported",
    "media-ready",
    "media-col-default",
    "media-col-database",
    "media-col-ready",
    "media-col-supported",
];

impl Wanted {
    fn printer(&self, name: &str) -> bool {
        match self {
            Wanted::All => true,
            Wanted::Names(n) => n.iter().any(|w| {
                w == name
                    || (w == "printer-description" && !JOB_TEMPLATE.contains(&name))
                    || (w == "job-template" && JOB_TEMPLATE.contains(&name))
            }),
        }
    }

    fn job(&self, name: &str) -> bool {
        match self {
            Wanted::All => true,
            Wanted::Names(n) => n.iter().any(|w| w == name || w == "job-description"),
        }
    }
}

fn respond(
    version: IppVersion,
    request_id: i32,
    status: StatusCode,
    message: Option<&str>,
    groups: Vec<(DelimiterTag, Vec<IppAttribute>)>,
) -> Vec<u8> {
    let Ok(mut resp) = IppRequestResponse::new_response(version, status, request_id) else {
        // new_response cannot fail today (it builds constant attributes); an empty body
        // still tells the client something broke.
        return Vec::new();
    };
    if let Some(m) = message.and_then(|m| {
        attr(
            "status-message",
            IppValue::new_text_without_language(truncate(m, 255)),
        )
    }) {
        resp.attributes_mut()
            .add(DelimiterTag::OperationAttributes, m);
    }
    for (tag, attrs) in groups {
        // Several groups of one tag (Get-Jobs) must stay separate: push, never merge.
        let mut group = ipp::attribute::IppAttributeGroup::new(tag);
        group.attributes_mut().extend(attrs);
        resp.attributes_mut().groups_mut().push(group);
    }
    resp.to_bytes().to_vec()
}

fn error(version: IppVersion, request_id: i32, status: StatusCode, why: &str) -> Vec<u8> {
    respond(version, request_id, status, Some(why), Vec::new())
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
