//! `kiosk-sim`: device simulators on pseudo-terminals.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use kiosk_firmware::Config;
use kiosk_ioproto::Key;
use kiosk_sim::io_board::{IoBoardOptions, IoBoardSim};

#[derive(Parser)]
#[command(name = "kiosk-sim", about = "Simulators of the kiosk's devices")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The I/O board (doors, locks, sensors, watchdog) running the real firmware logic.
    /// Prints `{"port": ..., "control": ...}` on one line and serves until killed.
    IoBoard {
        /// The per-board key, 64 hex digits.
        #[arg(long, conflicts_with = "key_file")]
        key_hex: Option<String>,
        /// A file holding the per-board key as 64 hex digits.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The board identity (part of every unlock MAC).
        #[arg(long, default_value_t = 1)]
        board_id: u32,
        /// Path of the control socket (default: a fresh path in the temp directory).
        #[arg(long)]
        control: Option<PathBuf>,
        /// Host watchdog timeout in seconds (0 = off, else 10..=3600).
        #[arg(long, default_value_t = 60)]
        host_watchdog_s: u16,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::IoBoard {
            key_hex,
            key_file,
            board_id,
            control,
            host_watchdog_s,
        } => {
            let key = read_key(key_hex, key_file)?;
            let control_path = control.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("kiosk-sim-io-board-{}.sock", std::process::id()))
            });
            let config = Config {
                host_watchdog_s,
                ..Config::default()
            };
            let sim = IoBoardSim::start(IoBoardOptions {
                key,
                board_id,
                control_path,
                config,
            })?;
            println!(
                "{}",
                serde_json::json!({
                    "port": sim.port(),
                    "control": sim.control_path().display().to_string(),
                })
            );
            sim.wait();
            Ok(())
        }
    }
}

fn read_key(hex: Option<String>, file: Option<PathBuf>) -> anyhow::Result<Key> {
    // The key is never printed, not even in error messages.
    let text = match (hex, file) {
        (Some(h), None) => h,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .with_context(|| format!("reading the key file {}", path.display()))?,
        _ => bail!("give the board key with --key-hex or --key-file"),
    };
    Key::from_hex(text.trim()).context("the key must be exactly 64 hexadecimal digits")
}
