//! Render time per page and PDF size: `cargo bench -p kiosk-render`.
#![allow(missing_docs)] // criterion_group! generates an undocumented function
//!
//! The font and templates are loaded once, as on a kiosk; each iteration is a full render
//! (checks, layout, subsetting, signing, QR, PDF serialization).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kiosk_core::DocCode;
use kiosk_render::{DEFAULT_FONT_PATH, IssuedAt, Renderer, SyntheticOptions, demo_signing_key};

const TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/templates");

fn bench(c: &mut Criterion) {
    let r = Renderer::from_paths(DEFAULT_FONT_PATH, TEMPLATES).expect("font and templates");
    let key = demo_signing_key(1);
    let at = IssuedAt::from_unix(1_795_000_000).expect("valid time");
    let code = DocCode::new("RES-COPY").expect("valid code");
    for (name, pages) in [("one_page", 1usize), ("three_pages", 3)] {
        let opts = SyntheticOptions {
            seed: 11,
            pages: Some(pages),
            ..Default::default()
        };
        let req = r.synthetic_request(&code, &opts, at).expect("request");
        let doc = r.render(&req, &key).expect("render");
        assert_eq!(doc.pages, pages);
        eprintln!(
            "RES-COPY {name}: {} pages, {} bytes ({:.1} KB)",
            doc.pages,
            doc.pdf.len(),
            doc.pdf.len() as f64 / 1024.0
        );
        c.bench_function(&format!("render_res_copy_{name}"), |b| {
            b.iter(|| black_box(r.render(black_box(&req), &key).expect("render")))
        });
    }
    // Size of a one-page certificate of every type.
    let mut sizes: Vec<(usize, String)> = r
        .templates()
        .codes()
        .map(|code| {
            let doc = r
                .render_synthetic(
                    code,
                    &SyntheticOptions {
                        seed: 11,
                        ..Default::default()
                    },
                    at,
                    &key,
                )
                .expect("render");
            (doc.pdf.len(), format!("{code} ({} p)", doc.pages))
        })
        .collect();
    sizes.sort();
    if let (Some(min), Some(max)) = (sizes.first(), sizes.last()) {
        eprintln!(
            "synthetic certificates, all 66 types: smallest {} bytes {}, largest {} bytes {}",
            min.0, min.1, max.0, max.1
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(60);
    targets = bench
}
criterion_main!(benches);
