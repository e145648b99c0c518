//! `kioskctl render` and `kioskctl verify-doc`: certificates with synthetic data, and the
//! offline check of a printed verification code.
//!
//! `render` is how contractors look at a template, produce sample certificates for an
//! agency's sign-off and feed the benchmarks; it never sees real personal data (kiosk-render's
//! synthetic generator fills every field). `verify-doc` is what a clerk, a bank or a court
//! would do with the QR code of a certificate handed to them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use kiosk_core::DocCode;
use kiosk_render::layout::{PAGE_H, PAGE_W};
use kiosk_render::{
    DEFAULT_FONT_PATH, DEFAULT_TEMPLATES_DIR, IssuedAt, MAX_PAGES, QR_QUIET_MODULES, Renderer,
    SigningKey, SyntheticOptions, VerifyingKey, demo_signing_key, key_id, payload_key_id,
    verify_payload,
};

/// The seed of the demo authority key. Fixed (not `--seed`) so that `verify-doc` without a
/// key checks what `render` without a key signed, whatever data seed was used.
pub const DEMO_KEY_SEED: u64 = 1;

/// `kioskctl render`.
#[derive(clap::Args)]
pub struct RenderArgs {
    /// Document type code, as in the catalog (e.g. RES-COPY).
    #[arg(long = "type", value_name = "CODE")]
    code: String,
    /// Where to write the PDF. Nothing is written unless rendering succeeds.
    #[arg(long, value_name = "FILE.pdf")]
    out: PathBuf,
    /// Seed of the synthetic data (and of the issue number): same seed, same document.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Lengthen the document's first table until the certificate has exactly N pages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_PAGES as i64))]
    pages: Option<u16>,
    /// Kiosk id printed on every page.
    #[arg(long, default_value = "KIOSK-DEMO-0001")]
    kiosk_id: String,
    /// The TrueType font (NanumGothic).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_FONT_PATH)]
    font: PathBuf,
    /// The template directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_TEMPLATES_DIR)]
    templates: PathBuf,
    /// A file holding the authority's ed25519 secret key as 64 hex digits
    /// (default: the demo key, which must never issue a real certificate).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Time of issue: RFC 3339 (2026-11-18T11:06:40Z) or Unix seconds (default: now).
    #[arg(long, value_name = "TIME")]
    issued_at: Option<String>,
    /// A document option, as in the catalog (e.g. resident-number=show); repeatable.
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// Also write the laid-out pages (every text line, rule, fill and the QR code, with
    /// positions in points) as JSON, for comparing renderers.
    #[arg(long, value_name = "FILE.json")]
    dump_layout: Option<PathBuf>,
}

/// `kioskctl verify-doc`.
#[derive(clap::Args)]
pub struct VerifyDocArgs {
    /// The payload read from the QR code (`-` reads one line from standard input).
    #[arg(long)]
    payload: String,
    /// The signer's ed25519 public key, 64 hex digits.
    #[arg(long, value_name = "HEX", value_parser = parse_public_key)]
    public_key: Option<VerifyingKey>,
    /// A file holding the signer's public key as 64 hex digits.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// The published key file of the kiosks (`<name> <64 hex digits>` a line, `#`
    /// comments): valid if any of its keys signed the payload (keys rotate; docs/VERIFYING.md).
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// Check against the DEMO key that `kioskctl render` uses by default: for synthetic
    /// documents only. Its secret is in the source, so anyone can sign with it.
    #[arg(long)]
    demo_key: bool,
}

/// Reads a published key file: one `<name> <64 hex digits>` a line, `#` starts a comment.
/// Every problem at once, with its line number.
pub(crate) fn read_key_set(path: &Path) -> Result<Vec<(String, VerifyingKey)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [name, hex] => match parse_public_key(hex) {
                Ok(k) => keys.push(((*name).to_owned(), k)),
                Err(e) => problems.push(format!("{}:{}: {e}", path.display(), n + 1)),
            },
            _ => problems.push(format!(
                "{}:{}: expected `<name> <64 hex digits>`",
                path.display(),
                n + 1
            )),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    if keys.is_empty() {
        bail!("{}: no keys", path.display());
    }
    Ok(keys)
}

fn parse_option(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE".into()),
    }
}

/// 64 hex digits -> 32 bytes. The error never repeats the input: it may be a secret.
fn hex32(s: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut out)
        .map_err(|_| "expected exactly 64 hex digits".to_owned())?;
    Ok(out)
}

pub(crate) fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_bytes(&hex32(s)?).map_err(|_| "not a valid ed25519 public key".into())
}

pub(crate) fn read_key_file(path: &Path, what: &str) -> Result<[u8; 32]> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    hex32(&text).map_err(|e| anyhow!("{}: {e} ({what})", path.display()))
}

fn parse_issued_at(s: Option<&str>) -> Result<IssuedAt> {
    let unix = match s {
        None => jiff::Timestamp::now().as_second(),
        Some(s) => match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => s
                .parse::<jiff::Timestamp>()
                .map_err(|_| anyhow!("--issued-at {s:?}: expected RFC 3339 or Unix seconds"))?
                .as_second(),
        },
    };
    Ok(IssuedAt::from_unix(unix)?)
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so that a
/// failure leaves no partial file behind and a reader never sees half a PDF.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// `kioskctl render`: payload on stdout, a one-line summary on stderr.
pub fn render(args: &RenderArgs) -> Result<ExitCode> {
    let code = DocCode::new(&args.code)
        .map_err(|e| anyhow!("--type {:?} is not a document code: {e}", args.code))?;
    let renderer = Renderer::from_paths(&args.font, &args.templates)?;
    if renderer.templates().get(&code).is_none() {
        bail!(
            "unknown document type {code}: no template {}/{code}.toml \
             (`kioskctl catalog list` shows the codes)",
            args.templates.display()
        );
    }
    let (key, key_name) = match &args.key {
        Some(path) => (
            SigningKey::from_bytes(&read_key_file(path, "an ed25519 secret key")?),
            "the key in --key",
        ),
        None => (demo_signing_key(DEMO_KEY_SEED), "the DEMO key"),
    };
    let opts = SyntheticOptions {
        seed: args.seed,
        pages: args.pages.map(usize::from),
        options: args.options.iter().cloned().collect::<BTreeMap<_, _>>(),
        kiosk_id: args.kiosk_id.clone(),
    };
    let issued_at = parse_issued_at(args.issued_at.as_deref())?;
    let req = renderer.synthetic_request(&code, &opts, issued_at)?;
    let doc = renderer.render(&req, &key)?;
    if let Some(path) = &args.dump_layout {
        let layout = renderer.layout(&req)?;
        let dump = serde_json::json!({
            "format": "kiosk-render layout 1",
            "code": code.as_str(),
            "issue_number": req.issue_number.as_str(),
            "page_width": PAGE_W,
            "page_height": PAGE_H,
            "font": args.font,
            "payload": doc.payload,
            "qr": { "ec_level": "M", "quiet_zone_modules": QR_QUIET_MODULES },
            "pages": layout.pages,
        });
        write_atomically(path, serde_json::to_string(&dump)?.as_bytes())?;
    }
    write_atomically(&args.out, &doc.pdf)?;
    crate::emit(&doc.payload)?;
    eprintln!(
        "{}: {code} {}, {} page{}, {} bytes, issue number {}, signed with {key_name} ({})",
        args.out.display(),
        req.issued_at.display_kst(),
        doc.pages,
        if doc.pages == 1 { "" } else { "s" },
        doc.pdf.len(),
        req.issue_number,
        hex::encode(key.verifying_key().as_bytes()),
    );
    Ok(ExitCode::SUCCESS)
}

/// `kioskctl verify-doc`: 0 and the signed facts when the payload verifies; 1 and the
/// reason otherwise.
pub fn verify_doc(args: &VerifyDocArgs) -> Result<ExitCode> {
    let mut keys: Vec<(String, VerifyingKey)> = Vec::new();
    if let Some(k) = args.public_key {
        keys.push(("--public-key".into(), k));
    }
    if let Some(path) = &args.key_file {
        let k = VerifyingKey::from_bytes(&read_key_file(path, "an ed25519 public key")?)
            .map_err(|_| anyhow!("{}: not a valid ed25519 public key", path.display()))?;
        keys.push((path.display().to_string(), k));
    }
    if let Some(path) = &args.keys {
        keys.extend(read_key_set(path)?);
    }
    if args.demo_key {
        keys.push((
            "the DEMO key".into(),
            demo_signing_key(DEMO_KEY_SEED).verifying_key(),
        ));
    }
    if keys.is_empty() {
        bail!(
            "whose signature? give --public-key, --key-file or --keys (the published key file); --demo-key only for synthetic documents"
        );
    }
    let payload = if args.payload == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the payload from standard input")?;
        line
    } else {
        args.payload.clone()
    };
    // A version-2 payload names its key: check with that one only, and say so plainly
    // when the key set lacks it (a version-1 payload is tried against each key).
    let named = match payload_key_id(&payload) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("kioskctl: INVALID: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(id) = named {
        keys.retain(|(_, k)| key_id(k) == id);
        if keys.is_empty() {
            eprintln!(
                "kioskctl: INVALID: signed by key id {}, which is not among the keys given",
                hex::encode(id)
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let mut last = None;
    let mut found = None;
    for (name, key) in &keys {
        match verify_payload(&payload, key) {
            Ok(v) => {
                found = Some((name.clone(), *key, v));
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some((name, key, v)) = found else {
        let e = last.map_or_else(|| "no key".to_owned(), |e| e.to_string());
        eprintln!("kioskctl: INVALID: {e}");
        return Ok(ExitCode::FAILURE);
    };
    let when = IssuedAt::from_unix(v.issued_at_unix)
        .map(|t| t.display_kst())
        .unwrap_or_else(|_| format!("{} (Unix seconds, out of range)", v.issued_at_unix));
    crate::emit(&format!(
        "VALID: signed by {} ({name}, key id {})\ntype: {}\nissue number: {}\nissued at: {when}\ndata sha256: {}",
        hex::encode(key.as_bytes()),
        hex::encode(key_id(&key)),
        v.code,
        v.issue_number,
        hex::encode(v.data_sha256),
    ))?;
    Ok(ExitCode::SUCCESS)
}
