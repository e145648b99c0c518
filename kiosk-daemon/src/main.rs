//! kiosk-daemon: the program that runs each kiosk.
//!
//! `kiosk-daemon --config /etc/kiosk/kiosk.toml` runs it under the service manager
//! (config/kiosk-daemon.service); `--check` only validates the configuration.

use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The program that runs each kiosk.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The kiosk's configuration.
    #[arg(long, default_value = "/etc/kiosk/kiosk.toml")]
    config: PathBuf,
    /// Overrides `kiosk.data_dir`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Validate the configuration, report every problem, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // JSON lines on stdout (journald keeps them); no field ever holds personal data.
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stdout)
        .init();
    let mut cfg = match kiosk_daemon::config::KioskConfig::load(&cli.config) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("{}: {problems}", cli.config.display());
            return ExitCode::from(2);
        }
    };
    if let Some(d) = cli.data {
        cfg.raw.kiosk.data_dir = d;
    }
    if cli.check {
        println!("{}: ok", cli.config.display());
        return ExitCode::SUCCESS;
    }
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "the daemon stopped on an error");
            eprintln!("kiosk-daemon: {e:#}");
            // A key missing or exposed does not mend itself: 78 (EX_CONFIG) tells the
            // service manager not to restart it in a loop (RestartPreventExitStatus).
            let key = e
                .chain()
                .any(|c| c.is::<kiosk_daemon::secrets::SecretError>());
            if key {
                ExitCode::from(78)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cfg: kiosk_daemon::config::Validated) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let net = Arc::new(kiosk_daemon::net::EgovNet::new(&cfg)?);
        kiosk_daemon::daemon::run(cfg, net).await
    })
}
