//! Renders one synthetic certificate to a file (a stand-in until `kioskctl render` exists):
//!
//! `cargo run -p kiosk-render --example render_synthetic -- CODE OUT.pdf [SEED] [PAGES]`
#![allow(missing_docs)]

use kiosk_render::{DEFAULT_FONT_PATH, IssuedAt, Renderer, SyntheticOptions, demo_signing_key};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(code), Some(out)) = (args.first(), args.get(1)) else {
        eprintln!("usage: render_synthetic CODE OUT.pdf [SEED] [PAGES]");
        std::process::exit(2);
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/templates");
    let r = Renderer::from_paths(DEFAULT_FONT_PATH, dir)?;
    let opts = SyntheticOptions {
        seed: args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1),
        pages: args.get(3).map(|p| p.parse()).transpose()?,
        ..Default::default()
    };
    let code = kiosk_core::DocCode::new(code)?;
    let at = IssuedAt::from_unix(1_795_000_000)?;
    let doc = r.render_synthetic(&code, &opts, at, &demo_signing_key(1))?;
    std::fs::write(out, &doc.pdf)?;
    println!("{} pages, {} bytes", doc.pages, doc.pdf.len());
    println!("verification payload: {}", doc.payload);
    Ok(())
}
