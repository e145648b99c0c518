//! `kioskctl render` and `kioskctl verify-doc` end to end: the real binary, the real
//! templates and NanumGothic, poppler's pdftotext and pdfinfo to read the result.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn kioskctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fixed time of issue: 2026-11-18 20:06:40 KST.
const AT: &str = "2026-11-18T11:06:40Z";

/// Renders and returns (payload, stderr summary).
fn render(out: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "render",
        "--type",
        "RES-COPY",
        "--out",
        out.to_str().unwrap(),
        "--issued-at",
        AT,
    ];
    args.extend_from_slice(extra);
    let o = kioskctl(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stdout: {stdout}");
    let stderr = text(&o.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    (lines[0].to_owned(), stderr)
}

fn poppler(tool: &str, pdf: &Path) -> String {
    let o = Command::new(tool)
        .arg(pdf)
        .args(if tool == "pdftotext" {
            &["-"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install poppler-utils"));
    assert!(o.status.success(), "{tool}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// The value after `name: ` in verify-doc's output.
fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[test]
fn rendered_certificate_shows_hangul_and_its_payload_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("res-copy.pdf");
    let (payload, summary) = render(&pdf, &["--seed", "7"]);
    assert!(summary.contains("1 page,"), "{summary}");
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(
        summary.contains(&format!("{} bytes", bytes.len())),
        "{summary}"
    );

    let o = kioskctl(&["verify-doc", "--payload", &payload, "--demo-key"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let verified = text(&o.stdout);
    assert_eq!(field(&verified, "type"), "RES-COPY");
    assert_eq!(field(&verified, "issued at"), "2026-11-18 20:06:40 (KST)");
    assert_eq!(field(&verified, "data sha256").len(), 64);
    let issue = field(&verified, "issue number");
    assert!(summary.contains(issue), "{summary}");

    let page = poppler("pdftotext", &pdf);
    assert!(page.contains("주민등록표"), "{page}");
    assert!(page.contains("행정안전부장관"), "{page}");
    assert!(page.contains(issue), "issue number {issue} not in {page}");

    // The same seed and time give the same document.
    let again = dir.path().join("again.pdf");
    let (payload2, _) = render(&again, &["--seed", "7"]);
    assert_eq!(payload2, payload);
    assert!(std::fs::read(&again).unwrap() == bytes);
}

#[test]
fn an_altered_payload_or_another_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (payload, _) = render(&dir.path().join("a.pdf"), &[]);
    // One character changed, anywhere from the start to the signature.
    for i in [3, payload.len() / 2, payload.len() - 10] {
        let mut chars: Vec<char> = payload.chars().collect();
        chars[i] = if chars[i] == 'Q' { 'R' } else { 'Q' };
        let altered: String = chars.into_iter().collect();
        let o = kioskctl(&["verify-doc", "--payload", &altered, "--demo-key"]);
        assert_eq!(o.status.code(), Some(1), "char {i}: {}", text(&o.stdout));
        assert!(text(&o.stderr).contains("INVALID"), "{}", text(&o.stderr));
        assert!(o.stdout.is_empty(), "nothing verified is printed");
    }
    // A well-formed key of another authority.
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let o = kioskctl(&["verify-doc", "--payload", &payload, "--public-key", other]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("INVALID: signed by key id"),
        "{}",
        text(&o.stderr)
    );
    // Malformed keys are usage errors.
    let o = kioskctl(&["verify-doc", "--payload", &payload, "--public-key", "abc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("64 hex digits"));
    let o = kioskctl(&["verify-doc"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn no_key_is_assumed_and_a_forgery_under_the_demo_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A forger renders a certificate with the demo key (its secret is in the source).
    let (forged, _) = render(&dir.path().join("f.pdf"), &[]);
    // Without a key verify-doc refuses to judge at all.
    let o = kioskctl(&["verify-doc", "--payload", &forged]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("whose signature"),
        "{}",
        text(&o.stderr)
    );
    // Against the kiosks' published keys it is INVALID.
    let keys = dir.path().join("public-keys.txt");
    std::fs::write(
        &keys,
        "# the district's kiosks\nKIOSK-01 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n",
    )
    .unwrap();
    let o = kioskctl(&[
        "verify-doc",
        "--payload",
        &forged,
        "--keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    // A key file with a bad line names it.
    std::fs::write(&keys, "KIOSK-01 abc\nKIOSK-02\n").unwrap();
    let o = kioskctl(&[
        "verify-doc",
        "--payload",
        &forged,
        "--keys",
        keys.to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    assert!(err.contains(":1:") && err.contains(":2:"), "{err}");
}

#[test]
fn a_key_of_the_published_file_verifies_what_it_signed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("kiosk.key");
    std::fs::write(&secret, "6b".repeat(32)).unwrap();
    let (payload, summary) = render(
        &dir.path().join("k.pdf"),
        &["--key", secret.to_str().unwrap()],
    );
    let public = summary
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end()
        .trim_end_matches(')');
    let keys = dir.path().join("public-keys.txt");
    std::fs::write(
        &keys,
        format!("OLD-KEY d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\nKIOSK-07 {public}\n"),
    )
    .unwrap();
    let o = kioskctl(&[
        "verify-doc",
        "--payload",
        &payload,
        "--keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("(KIOSK-07, key id "),
        "{}",
        text(&o.stdout)
    );
    // The payload names its key: a key file without it says so rather than "altered".
    std::fs::write(
        &keys,
        "OLD-KEY d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n",
    )
    .unwrap();
    let o = kioskctl(&[
        "verify-doc",
        "--payload",
        &payload,
        "--keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("not among the keys given"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn own_key_signs_and_its_public_half_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("authority.key");
    std::fs::write(&secret, format!("{}\n", "5a".repeat(32))).unwrap();
    let (payload, summary) = render(
        &dir.path().join("k.pdf"),
        &["--key", secret.to_str().unwrap()],
    );
    assert!(!summary.contains(&"5a".repeat(32)), "secret printed");
    // The summary names the public half.
    let public = summary
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end()
        .trim_end_matches(')');
    assert_eq!(public.len(), 64, "{summary}");
    // Not the demo key.
    assert_eq!(
        kioskctl(&["verify-doc", "--payload", &payload, "--demo-key"])
            .status
            .code(),
        Some(1)
    );
    let public_file = dir.path().join("authority.pub");
    std::fs::write(&public_file, public).unwrap();
    let o = kioskctl(&[
        "verify-doc",
        "--payload",
        &payload,
        "--key-file",
        public_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = kioskctl(&["verify-doc", "--payload", &payload, "--public-key", public]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // A key file that is not 64 hex digits is refused without echoing it.
    std::fs::write(&secret, "not-a-key-secret-words").unwrap();
    let o = kioskctl(&[
        "render",
        "--type",
        "RES-COPY",
        "--out",
        dir.path().join("x.pdf").to_str().unwrap(),
        "--key",
        secret.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("64 hex digits"));
    assert!(!text(&o.stderr).contains("secret-words"));
    assert!(!dir.path().join("x.pdf").exists());
}

#[test]
fn pages_3_gives_a_three_page_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("three.pdf");
    let (_, summary) = render(&pdf, &["--pages", "3", "--seed", "2"]);
    assert!(summary.contains("3 pages"), "{summary}");
    let info = poppler("pdfinfo", &pdf);
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim();
    assert_eq!(pages, "3", "{info}");
    let body = poppler("pdftotext", &pdf);
    assert!(body.contains("3/3"), "{body}");
}

#[test]
fn unknown_type_bad_seed_and_unwritable_path_fail_clearly_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.pdf");
    let out_s = out.to_str().unwrap();
    let o = kioskctl(&["render", "--type", "NO-SUCH-DOC", "--out", out_s]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("unknown document type NO-SUCH-DOC"), "{err}");
    assert!(o.stdout.is_empty());
    let o = kioskctl(&["render", "--type", "res copy", "--out", out_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("not a document code"));
    let o = kioskctl(&[
        "render", "--type", "RES-COPY", "--out", out_s, "--seed", "x1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--seed"), "{}", text(&o.stderr));
    let o = kioskctl(&[
        "render", "--type", "RES-COPY", "--out", out_s, "--pages", "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let missing = dir.path().join("no/such/dir/x.pdf");
    let o = kioskctl(&[
        "render",
        "--type",
        "RES-COPY",
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot write"),
        "{}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty(), "no payload for a document not written");
    // Writing over a directory fails too, and leaves no temporary file behind.
    let o = kioskctl(&[
        "render",
        "--type",
        "RES-COPY",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn dump_layout_holds_every_text_line_of_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("p.pdf");
    let json = dir.path().join("p.json");
    let (payload, _) = render(&pdf, &["--dump-layout", json.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["payload"], payload.as_str());
    assert_eq!(v["code"], "RES-COPY");
    let pages = v["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 1);
    let elements = pages[0]["elements"].as_array().unwrap();
    let texts: Vec<&str> = elements
        .iter()
        .filter(|e| e["kind"] == "text")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"주민등록표 등본"), "{texts:?}");
    let issue = v["issue_number"].as_str().unwrap();
    assert!(texts.iter().any(|t| t.contains(issue)));
    assert_eq!(elements.iter().filter(|e| e["kind"] == "qr").count(), 1);
    assert!(elements.iter().any(|e| e["kind"] == "line"));
    assert!(elements.iter().any(|e| e["kind"] == "fill"));
    for e in elements.iter().filter(|e| e["kind"] == "text") {
        for k in ["x", "y", "size", "width", "max_x"] {
            assert!(e[k].is_number(), "{e}");
        }
    }
}
