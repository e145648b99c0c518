//! End-to-end tests of the certificate renderer with the real templates and NanumGothic.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kiosk_core::{DocCode, IssueNumber};
use kiosk_render::layout::{BODY_BOTTOM, BODY_TOP, MARGIN_BOTTOM, MARGIN_X, PAGE_H, PAGE_W};
use kiosk_render::*;
use serde_json::{Value, json};

const TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/templates");
const CATALOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/documents.toml");
const T0: i64 = 1_795_000_000; // 2026-11-18 20:06:40 KST

fn renderer() -> &'static Renderer {
    static R: OnceLock<Renderer> = OnceLock::new();
    R.get_or_init(|| {
        let font_path = std::env::var("KIOSK_FONT").unwrap_or_else(|_| DEFAULT_FONT_PATH.into());
        assert!(
            std::path::Path::new(&font_path).exists(),
            "font {font_path} missing: install the Debian package fonts-nanum (or set KIOSK_FONT)"
        );
        Renderer::from_paths(&font_path, TEMPLATES).expect("templates and font load")
    })
}

fn code(s: &str) -> DocCode {
    DocCode::new(s).unwrap()
}

fn key() -> SigningKey {
    demo_signing_key(42)
}

fn request(c: &str, data: Value, options: &[(&str, &str)]) -> RenderRequest {
    RenderRequest {
        code: code(c),
        issue_number: IssueNumber::new("1234-5678-9012-3456").unwrap(),
        issued_at: IssuedAt::from_unix(T0).unwrap(),
        kiosk_id: "KIOSK-0042".into(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        data,
    }
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("kiosk-render-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "{:x}.pdf",
        pdf.len() ^ pdf.iter().map(|&b| b as usize).sum::<usize>()
    ));
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run pdftotext ({e}): install the Debian package poppler-utils")
        });
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every element stays on the page; body text stays in the body area and inside its column.
fn assert_on_page(layout: &Layout) {
    for (pi, page) in layout.pages.iter().enumerate() {
        for e in &page.elements {
            match e {
                Element::Text {
                    x,
                    y,
                    size,
                    text,
                    width,
                    max_x,
                    ..
                } => {
                    let at = format!("page {} text {text:?} at ({x}, {y})", pi + 1);
                    assert!(*x >= MARGIN_X - 0.5, "{at}: left of the margin");
                    assert!(
                        x + width <= max_x + 0.01,
                        "{at}: wider ({width}) than its box"
                    );
                    assert!(
                        *max_x <= PAGE_W - MARGIN_X + 0.01,
                        "{at}: box beyond the margin"
                    );
                    let header = *y >= BODY_TOP + 5.0;
                    let footer = *y <= MARGIN_BOTTOM + 71.0 && *y >= MARGIN_BOTTOM;
                    if header {
                        assert!(y + size <= PAGE_H, "{at}: above the page");
                    } else if !footer {
                        assert!(y - 0.25 * size >= BODY_BOTTOM, "{at}: into the footer");
                        assert!(y + 0.95 * size <= BODY_TOP, "{at}: into the header");
                    }
                }
                Element::Line { x1, y1, x2, y2, .. } => {
                    for (x, y) in [(x1, y1), (x2, y2)] {
                        assert!(
                            *x >= MARGIN_X - 0.01 && *x <= PAGE_W - MARGIN_X + 0.01,
                            "line x {x}"
                        );
                        assert!(*y >= MARGIN_BOTTOM && *y <= PAGE_H - 40.0, "line y {y}");
                        if *y > MARGIN_BOTTOM + 86.5 && *y < PAGE_H - 40.0 - 62.5 {
                            assert!(
                                *y >= BODY_BOTTOM - 0.01 && *y <= BODY_TOP + 0.01,
                                "line y {y} outside body"
                            );
                        }
                    }
                }
                Element::Fill { x, y, w, h, .. } => {
                    assert!(*x >= MARGIN_X - 0.01 && x + w <= PAGE_W - MARGIN_X + 0.01);
                    assert!(
                        *y >= BODY_BOTTOM - 0.01 && y + h <= BODY_TOP + 0.01,
                        "fill at {y}+{h}"
                    );
                }
                Element::Qr { x, y, size } => {
                    assert!(*x >= MARGIN_X && x + size <= PAGE_W - MARGIN_X);
                    assert!(*y >= MARGIN_BOTTOM && y + size <= BODY_BOTTOM);
                }
            }
        }
    }
}

fn member(i: usize) -> Value {
    json!({
        "no": i + 1,
        "relation": if i == 0 { "본인" } else { "자녀" },
        "name": format!("홍길동{}", i + 1),
        "rrn": format!("{:02}0101-3{:06}", i % 100, 100_000 + i),
        "moved_in": "2020-03-01",
    })
}

fn household(n: usize) -> Value {
    json!({
        "household": {
            "head_name": "홍길동1",
            "formed": "전입",
            "address": "서울특별시 종로구 세종대로 209",
        },
        "members": (0..n).map(member).collect::<Vec<_>>(),
        "address_history": [],
    })
}

#[test]
fn all_66_templates_load_and_render_with_synthetic_data() {
    let r = renderer();
    assert_eq!(r.templates().len(), 66);
    // Every catalog code has a template and vice versa.
    let catalog: toml::Value = toml::from_str(&std::fs::read_to_string(CATALOG).unwrap()).unwrap();
    let mut codes: Vec<String> = catalog["document"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    let ours: Vec<String> = r.templates().codes().map(|c| c.to_string()).collect();
    assert_eq!(ours, codes);

    let vk = key().verifying_key();
    for c in r.templates().codes() {
        let opts = SyntheticOptions {
            seed: 7,
            ..Default::default()
        };
        let doc = r
            .render_synthetic(c, &opts, IssuedAt::from_unix(T0).unwrap(), &key())
            .unwrap_or_else(|e| panic!("{c}: {e}"));
        assert!(doc.pdf.starts_with(b"%PDF-"), "{c}");
        assert!(doc.pages >= 1);
        let v = verify_payload(&doc.payload, &vk).unwrap();
        assert_eq!(&v.code, c);
        let layout = r
            .layout(
                &r.synthetic_request(c, &opts, IssuedAt::from_unix(T0).unwrap())
                    .unwrap(),
            )
            .unwrap();
        assert_on_page(&layout);
    }
}

#[test]
fn pdftotext_shows_hangul_title_issue_number_and_page_numbers() {
    let r = renderer();
    let opts = SyntheticOptions {
        seed: 3,
        pages: Some(2),
        ..Default::default()
    };
    let req = r
        .synthetic_request(&code("RES-COPY"), &opts, IssuedAt::from_unix(T0).unwrap())
        .unwrap();
    let doc = r.render(&req, &key()).unwrap();
    assert_eq!(doc.pages, 2);
    let text = pdftotext(&doc.pdf);
    assert!(text.contains("주민등록표 등본"), "{text}");
    assert!(text.contains(req.issue_number.as_str()), "{text}");
    assert!(text.contains("1/2") && text.contains("2/2"), "{text}");
    assert!(text.contains("KIOSK-DEMO-0001"));
    assert!(text.contains("2026-11-18 20:06:40"));
    assert!(text.contains("행정안전부장관"));
}

#[test]
fn household_of_30_paginates_with_repeated_headers() {
    let r = renderer();
    let layout = r.layout(&request("RES-COPY", household(30), &[])).unwrap();
    assert_on_page(&layout);
    assert!(
        (2..=3).contains(&layout.pages.len()),
        "{} pages",
        layout.pages.len()
    );
    let mut seen = 0;
    for p in 0..layout.pages.len() {
        let texts = layout.page_texts(p);
        let names = texts.iter().filter(|t| t.starts_with("홍길동")).count();
        if names > 0 && p > 0 {
            assert!(
                texts.contains(&"세대주 관계"),
                "page {} lacks the table header",
                p + 1
            );
        }
        seen += names;
    }
    // 30 rows plus the head of household in the fields section.
    assert_eq!(seen, 31);
}

#[test]
fn address_history_of_80_lines_paginates() {
    let r = renderer();
    let history: Vec<Value> = (0..80)
        .map(|i| {
            json!({
                "no": i + 1,
                "address": format!("경기도 성남시 분당구 정자일로 {} 한빛아파트 {}동 {}호 (정자동, 주소 변동 기록이 길어 칸을 넘기면 줄을 바꿉니다)", i + 1, 100 + i, 1000 + i),
                "moved_in": "2001-02-03",
                "reason": "전입",
                "head": "홍길동",
            })
        })
        .collect();
    let data = json!({
        "person": {"name": "홍길동", "rrn": "900101-1234567", "address": "서울특별시 종로구 세종대로 209", "head": "홍길동"},
        "address_history": history,
        "military": [],
    });
    let req = request("RES-ABSTRACT", data, &[("address-history", "include")]);
    let layout = r.layout(&req).unwrap();
    assert_on_page(&layout);
    assert!(layout.pages.len() >= 3, "{} pages", layout.pages.len());
    let mut numbers = Vec::new();
    for p in 0..layout.pages.len() {
        let texts = layout.page_texts(p);
        let rows: Vec<u32> = texts
            .iter()
            .filter(|t| t.parse::<u32>().is_ok_and(|n| (1..=80).contains(&n)))
            .map(|t| t.parse().unwrap())
            .collect();
        if !rows.is_empty() && p > 0 {
            assert!(
                texts.contains(&"변동 사유"),
                "page {} lacks the table header",
                p + 1
            );
        }
        numbers.extend(rows);
    }
    assert_eq!(
        numbers,
        (1..=80).collect::<Vec<_>>(),
        "every row once, in order"
    );
    // Without the option the history is left out.
    let short = r
        .layout(&request("RES-ABSTRACT", req.data.clone(), &[]))
        .unwrap();
    assert_eq!(short.pages.len(), 1);
    let doc = r.render(&req, &key()).unwrap();
    assert_eq!(doc.pages, layout.pages.len());
}

#[test]
fn over_long_field_wraps_across_pages() {
    let r = renderer();
    let mut data = household(2);
    let long = "가나다라마바사 아자차카타파하 ".repeat(250); // 4000 characters
    data["household"]["address"] = json!(long.trim_end());
    let layout = r.layout(&request("RES-COPY", data.clone(), &[])).unwrap();
    assert_on_page(&layout);
    assert!(layout.pages.len() >= 2);
    // One character too many is refused, naming the field.
    data["household"]["address"] = json!("가".repeat(4001));
    match r.layout(&request("RES-COPY", data, &[])).unwrap_err() {
        RenderError::TooLong { path, .. } => assert_eq!(path, "household.address"),
        e => panic!("{e}"),
    }
}

#[test]
fn unbroken_values_wrap_inside_their_columns_and_paginate() {
    let r = renderer();
    let mut data = household(3);
    // No spaces to break at: the engine breaks between characters.
    data["members"][1]["name"] = json!("가".repeat(600));
    data["members"][2]["relation"] = json!("W".repeat(900));
    data["household"]["head_name"] = json!("ABCDEFGHIJ".repeat(400)); // the 4000 limit
    let layout = r.layout(&request("RES-COPY", data.clone(), &[])).unwrap();
    assert_on_page(&layout);
    assert!(layout.pages.len() >= 2, "{} pages", layout.pages.len());
    // Nothing is lost: every character is printed once.
    let count = |only: char| -> usize {
        (0..layout.pages.len())
            .flat_map(|p| layout.page_texts(p))
            .filter(|t| t.chars().all(|c| c == only))
            .map(|t| t.chars().count())
            .sum()
    };
    assert_eq!(count('가'), 600);
    assert_eq!(count('W'), 900);
    let doc = r.render(&request("RES-COPY", data, &[]), &key()).unwrap();
    assert_eq!(doc.pages, layout.pages.len());
}

#[test]
fn resident_numbers_masked_unless_shown() {
    let r = renderer();
    let data = household(2);
    let masked = r.layout(&request("RES-COPY", data.clone(), &[])).unwrap();
    let texts = masked.page_texts(0);
    assert!(texts.contains(&"000101-3******"), "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains("3100000")));
    let hidden = r
        .layout(&request(
            "RES-COPY",
            data.clone(),
            &[("resident-number", "hide")],
        ))
        .unwrap();
    assert!(hidden.page_texts(0).contains(&"000101-3******"));
    let shown = r
        .layout(&request(
            "RES-COPY",
            data.clone(),
            &[("resident-number", "show")],
        ))
        .unwrap();
    assert!(shown.page_texts(0).contains(&"000101-3100000"));
    // And in the PDF itself.
    let doc = r.render(&request("RES-COPY", data, &[]), &key()).unwrap();
    let text = pdftotext(&doc.pdf);
    assert!(text.contains("000101-3******"), "{text}");
    assert!(!text.contains("000101-3100000"));
}

#[test]
fn bad_data_is_refused_naming_the_field() {
    let r = renderer();
    let mut data = household(3);
    data["members"][1]["name"] = json!("홍길\u{0007}동");
    match r.layout(&request("RES-COPY", data, &[])).unwrap_err() {
        RenderError::InvalidText { path, reason } => {
            assert_eq!(path, "members[1].name");
            assert!(reason.contains("U+0007"));
        }
        e => panic!("{e}"),
    }
    let mut data = household(3);
    data["household"]
        .as_object_mut()
        .unwrap()
        .remove("head_name");
    match r.layout(&request("RES-COPY", data, &[])).unwrap_err() {
        RenderError::MissingField { path } => assert_eq!(path, "household.head_name"),
        e => panic!("{e}"),
    }
    let mut data = household(3);
    data["members"][2]["moved_in"] = json!(20200301);
    match r.layout(&request("RES-COPY", data, &[])).unwrap_err() {
        RenderError::WrongType { path, .. } => assert_eq!(path, "members[2].moved_in"),
        e => panic!("{e}"),
    }
    let mut data = household(3);
    data["members"][0]["rrn"] = json!("900101");
    assert!(matches!(
        r.layout(&request("RES-COPY", data, &[])).unwrap_err(),
        RenderError::WrongType { .. }
    ));
    let mut data = household(3);
    data["members"] = json!({"not": "an array"});
    assert!(matches!(
        r.layout(&request("RES-COPY", data, &[])).unwrap_err(),
        RenderError::WrongType { .. }
    ));
    // A bidirectional override anywhere in the data, even in an unused field.
    let mut data = household(1);
    data["extra"] = json!("abc\u{202E}def");
    assert!(matches!(
        r.layout(&request("RES-COPY", data, &[])).unwrap_err(),
        RenderError::InvalidText { .. }
    ));
    // A character the font cannot draw.
    let mut data = household(1);
    data["household"]["formed"] = json!("전입 \u{1F600}");
    assert!(matches!(
        r.layout(&request("RES-COPY", data, &[])).unwrap_err(),
        RenderError::InvalidText { .. }
    ));
    // Unpaired surrogate in the raw JSON.
    assert!(parse_document_data(br#"{"household":{"head_name":"\udc00"}}"#).is_err());
    // Unknown document type.
    let mut bad = request("RES-COPY", household(1), &[]);
    bad.code = code("NO-SUCH-DOC");
    assert!(matches!(
        r.layout(&bad).unwrap_err(),
        RenderError::UnknownDocument(_)
    ));
}

#[test]
fn qr_payload_verifies_and_detects_tampering() {
    let r = renderer();
    let req = request("RES-COPY", household(4), &[]);
    let doc = r.render(&req, &key()).unwrap();
    let vk = key().verifying_key();
    let v = verify_payload(&doc.payload, &vk).unwrap();
    assert_eq!(v.code, req.code);
    assert_eq!(v.issue_number, req.issue_number);
    assert_eq!(v.issued_at_unix, T0);
    assert_eq!(v.data_sha256, canonical_data_sha256(&req.data));
    assert!(
        doc.payload.len() < 260,
        "payload {} chars",
        doc.payload.len()
    );

    let raw = URL_SAFE_NO_PAD.decode(&doc.payload).unwrap();
    for i in 0..raw.len() {
        let mut t = raw.clone();
        t[i] ^= 0x01;
        let p = URL_SAFE_NO_PAD.encode(&t);
        assert!(
            verify_payload(&p, &vk).is_err(),
            "byte {i} changed but still verifies"
        );
    }
    // One character of the text changed.
    let mut chars: Vec<char> = doc.payload.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    assert!(verify_payload(&chars.into_iter().collect::<String>(), &vk).is_err());
    // It names its key, and another authority's key is told apart by that name.
    assert_eq!(v.key_id, Some(key_id(&vk)));
    assert_eq!(payload_key_id(&doc.payload), Ok(Some(key_id(&vk))));
    let other = demo_signing_key(43).verifying_key();
    assert!(matches!(
        verify_payload(&doc.payload, &other).unwrap_err(),
        VerifyError::OtherKey { .. }
    ));
    // A forger who writes the other key's id into the payload still fails the signature.
    let mut forged = raw.clone();
    forged[1..9].copy_from_slice(&key_id(&other));
    assert_eq!(
        verify_payload(&URL_SAFE_NO_PAD.encode(&forged), &other).unwrap_err(),
        VerifyError::Signature
    );
    // Truncated.
    assert!(verify_payload(&doc.payload[..doc.payload.len() - 4], &vk).is_err());
    // Different data gives a different digest.
    let mut other_req = req.clone();
    other_req.data["members"][0]["name"] = json!("홍길순");
    let other_doc = r.render(&other_req, &key()).unwrap();
    assert_ne!(
        verify_payload(&other_doc.payload, &vk).unwrap().data_sha256,
        v.data_sha256
    );
}

/// Rasterizes page `page` (1-based) with pdftoppm to a greyscale PGM and returns
/// (width, height, pixels).
fn rasterize(pdf: &[u8], page: usize) -> (usize, usize, Vec<u8>) {
    let dir =
        std::env::temp_dir().join(format!("kiosk-render-raster-{}-{page}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.pdf");
    std::fs::write(&input, pdf).unwrap();
    let out = Command::new("pdftoppm")
        .args([
            "-gray",
            "-r",
            "300",
            "-f",
            &page.to_string(),
            "-l",
            &page.to_string(),
            "-singlefile",
        ])
        .arg(&input)
        .arg(dir.join("page"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run pdftoppm ({e}): install the Debian package poppler-utils")
        });
    assert!(out.status.success(), "pdftoppm failed");
    let pgm = std::fs::read(dir.join("page.pgm")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // Binary PGM: "P5\n<w> <h>\n<max>\n" then one byte per pixel.
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while pgm[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !pgm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8(pgm[start..i].to_vec()).unwrap());
    }
    assert_eq!(fields[0], "P5");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = pgm[i + 1..].to_vec();
    assert_eq!(pixels.len(), w * h);
    (w, h, pixels)
}

#[test]
fn printed_qr_code_decodes_to_the_verifying_payload() {
    let r = renderer();
    let opts = SyntheticOptions {
        seed: 21,
        pages: Some(2),
        ..Default::default()
    };
    let doc = r
        .render_synthetic(
            &code("FAM-RELATION"),
            &opts,
            IssuedAt::from_unix(T0).unwrap(),
            &key(),
        )
        .unwrap();
    assert_eq!(doc.pages, 2);
    for page in 1..=2 {
        let (w, h, px) = rasterize(&doc.pdf, page);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| px[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "page {page}: one QR code");
        let (_, text) = grids[0].decode().unwrap();
        assert_eq!(text, doc.payload, "page {page}");
        verify_payload(&text, &key().verifying_key()).unwrap();
    }
}

/// The `/FontFile2` stream's declared length, and the `/FontName`.
fn font_facts(pdf: &[u8]) -> (usize, String) {
    let s = String::from_utf8_lossy(pdf);
    let name_at = s.find("/FontName/").expect("a FontName");
    let name: String = s[name_at + 10..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '+')
        .collect();
    // The font program is the stream carrying /Length1 (the uncompressed TrueType size).
    let l1 = s
        .find("/Length1 ")
        .expect("a FontFile2 stream with Length1");
    let len1: usize = s[l1 + 9..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    (len1, name)
}

#[test]
fn pdf_embeds_a_small_tagged_subset_font() {
    let r = renderer();
    let doc = r
        .render(&request("RES-COPY", household(5), &[]), &key())
        .unwrap();
    let (font_len, name) = font_facts(&doc.pdf);
    assert!(r.font().file_size() > 4_000_000);
    assert!(
        font_len < 200_000,
        "embedded font program is {font_len} bytes"
    );
    assert!(doc.pdf.len() < 100_000, "PDF is {} bytes", doc.pdf.len());
    let (tag, family) = name.split_once('+').expect("subset tag");
    assert_eq!(family, "NanumGothic");
    assert_eq!(tag.len(), 6);
    assert!(tag.chars().all(|c| c.is_ascii_uppercase()), "{tag}");
    assert!(String::from_utf8_lossy(&doc.pdf).contains("/ToUnicode"));
}

#[test]
fn identical_input_gives_identical_bytes() {
    let r = renderer();
    let req = request("RES-COPY", household(12), &[("resident-number", "show")]);
    let a = r.render(&req, &key()).unwrap();
    // Other documents in between must not perturb the output.
    let _ = r
        .render(&request("RES-COPY", household(3), &[]), &key())
        .unwrap();
    let _ = r
        .render_synthetic(
            &code("LAND-REGISTER"),
            &SyntheticOptions::default(),
            IssuedAt::from_unix(T0).unwrap(),
            &key(),
        )
        .unwrap();
    let b = r.render(&req, &key()).unwrap();
    assert!(a.pdf == b.pdf, "PDF bytes differ");
    assert_eq!(a.payload, b.payload);
    // Key order in the incoming JSON does not matter.
    let reordered: Value = serde_json::from_str(&{
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in req.data.as_object().unwrap().iter().rev() {
            m.insert(k.clone(), v.clone());
        }
        serde_json::to_string(&m).unwrap()
    })
    .unwrap();
    let mut req2 = req.clone();
    req2.data = reordered;
    assert!(r.render(&req2, &key()).unwrap().pdf == a.pdf);
    // A different issue time changes the bytes.
    let mut later = req.clone();
    later.issued_at = IssuedAt::from_unix(T0 + 1).unwrap();
    assert!(r.render(&later, &key()).unwrap().pdf != a.pdf);
}

#[test]
fn synthetic_generator_is_seeded_and_forces_pages() {
    let r = renderer();
    let t = IssuedAt::from_unix(T0).unwrap();
    let c = code("LAND-PRICE");
    let a = r
        .synthetic_request(
            &c,
            &SyntheticOptions {
                seed: 9,
                ..Default::default()
            },
            t,
        )
        .unwrap();
    let b = r
        .synthetic_request(
            &c,
            &SyntheticOptions {
                seed: 9,
                ..Default::default()
            },
            t,
        )
        .unwrap();
    let d = r
        .synthetic_request(
            &c,
            &SyntheticOptions {
                seed: 10,
                ..Default::default()
            },
            t,
        )
        .unwrap();
    assert_eq!(a.data, b.data);
    assert_ne!(a.data, d.data);
    for n in [1, 4] {
        let opts = SyntheticOptions {
            seed: 5,
            pages: Some(n),
            ..Default::default()
        };
        let doc = r
            .render_synthetic(&code("EMP-DAY-LABOUR"), &opts, t, &key())
            .unwrap();
        assert_eq!(doc.pages, n);
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever a QR reader hands over (any bytes, as base64url or as raw text) is
        /// verified or refused, never a panic, and never verified under a wrong key.
        #[test]
        fn any_payload_is_refused_or_verified_never_a_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            version in prop::sample::select(vec![1u8, 2, 3]),
            text in "\\PC{0,300}",
        ) {
            let mut b = bytes;
            if let Some(first) = b.first_mut() {
                *first = version;
            }
            let p = URL_SAFE_NO_PAD.encode(&b);
            let vk = key().verifying_key();
            let _ = payload_key_id(&p);
            prop_assert!(verify_payload(&p, &vk).is_err());
            let _ = payload_key_id(&text);
            prop_assert!(verify_payload(&text, &vk).is_err());
        }

        /// Arbitrary strings (controls, surrogate-free Unicode, huge, empty) in data fields
        /// are rendered or refused, never a panic.
        #[test]
        fn random_strings_never_panic(
            name in any::<String>(),
            addr in "\\PC{0,300}",
            rel in prop::sample::select(vec!["본인", "", " ", "\u{0}", "\u{FEFF}", "ㄱ\u{302}", "𝕏"]),
            words in prop::collection::vec("[가-힣a-zA-Z0-9 ]{0,40}", 0..40),
        ) {
            let r = renderer();
            let mut data = household(3);
            data["members"][0]["name"] = json!(name);
            data["household"]["address"] = json!(addr);
            data["members"][1]["relation"] = json!(rel);
            data["members"][2]["reason"] = json!(words.join(" "));
            let req = request("RES-COPY", data, &[]);
            match r.render(&req, &key()) {
                Ok(doc) => prop_assert!(doc.pdf.starts_with(b"%PDF-")),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}

#[test]
fn a_version_1_payload_printed_before_key_ids_still_verifies() {
    use ed25519_dalek::Signer;
    let (code, issue, at, digest) = ("RES-COPY", "2026-0001-0002", T0, [9u8; 32]);
    let mut b = vec![1u8, code.len() as u8];
    b.extend_from_slice(code.as_bytes());
    b.push(issue.len() as u8);
    b.extend_from_slice(issue.as_bytes());
    b.extend_from_slice(&at.to_be_bytes());
    b.extend_from_slice(&digest);
    let sig = key().sign(&[b"kiosk-render/verify/v1\0".as_slice(), &b].concat());
    b.extend_from_slice(&sig.to_bytes());
    let p = URL_SAFE_NO_PAD.encode(&b);
    assert_eq!(payload_key_id(&p), Ok(None));
    let v = verify_payload(&p, &key().verifying_key()).unwrap();
    assert_eq!(
        (v.key_id, v.issued_at_unix, v.data_sha256),
        (None, T0, digest)
    );
    assert_eq!(v.issue_number.as_str(), issue);
    assert_eq!(
        verify_payload(&p, &demo_signing_key(43).verifying_key()).unwrap_err(),
        VerifyError::Signature
    );
    // Version 3 is not known.
    b[0] = 3;
    assert_eq!(
        payload_key_id(&URL_SAFE_NO_PAD.encode(&b)),
        Err(VerifyError::Version(3))
    );
}
