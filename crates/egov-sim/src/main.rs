//! `egov-sim`: the e-government endpoint simulator.
//!
//! `egov-sim --gen-certs DIR` writes a CA, certificates and the authority key;
//! `egov-sim --certs DIR [--seed N] [--fingerprint-fail-rate R]` serves and prints one JSON
//! line (`url`, `admin`, `authority_key`) when ready, until SIGTERM or SIGINT.

use anyhow::Result;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A simulator of the e-government endpoint, for tests and the demo.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Write a CA, server and kiosk certificates and the authority key into DIR, then exit.
    #[arg(long, value_name = "DIR", conflicts_with = "certs")]
    gen_certs: Option<PathBuf>,
    /// The kiosk id in the generated client certificate.
    #[arg(long, default_value = "KIOSK-DEMO-01")]
    kiosk_id: String,
    /// Serve with the certificates in DIR.
    #[arg(long, value_name = "DIR")]
    certs: Option<PathBuf>,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of fingerprint checks that fail with the right finger (real kiosks: 0.32).
    #[arg(long, default_value_t = 0.32)]
    fingerprint_fail_rate: f64,
    /// Where the kiosk connects (mutual TLS).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The admin port (plain HTTP, loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    admin: SocketAddr,
    /// The document catalog.
    #[arg(long, default_value = "config/documents.toml")]
    documents: PathBuf,
    /// The certificate templates.
    #[arg(long, default_value = "config/templates")]
    templates: PathBuf,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(dir) = cli.gen_certs {
        return egov_sim::certs::generate(&dir, &cli.kiosk_id);
    }
    let Some(certs) = cli.certs else {
        anyhow::bail!("give --certs DIR (make one with --gen-certs DIR)");
    };
    if !(0.0..=1.0).contains(&cli.fingerprint_fail_rate) {
        anyhow::bail!("--fingerprint-fail-rate must be between 0 and 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let h = egov_sim::serve(egov_sim::SimConfig {
            certs,
            seed: cli.seed,
            fingerprint_fail_rate: cli.fingerprint_fail_rate,
            listen: cli.listen,
            admin: cli.admin,
            documents: cli.documents,
            templates: cli.templates,
        })
        .await?;
        println!(
            "{}",
            serde_json::json!({"url": h.url, "admin": h.admin, "authority_key": h.authority_key})
        );
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        h.stop();
        Ok(())
    })
}
