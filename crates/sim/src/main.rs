//! `kiosk-sim`: device simulators on pseudo-terminals (and the A4 printer on IPP/HTTP).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use kiosk_core::{Coin, Won};
use kiosk_devices::cctalk::frame::ChecksumKind;
use kiosk_devices::cctalk::hopper::DispenseAuth;
use kiosk_devices::escpos::PrinterModel;
use kiosk_devices::sim::cctalk::SimLine;
use kiosk_devices::sim::validator::DEFAULT_SERIAL;
use kiosk_devices::sim::{CoinAcceptorSim, HopperSim, ReceiptPrinterSim, ValidatorSim};
use kiosk_firmware::Config;
use kiosk_ioproto::Key;
use kiosk_sim::a4_printer::{A4PrinterOptions, A4PrinterSim, DEFAULT_MAX_DOCUMENT};
use kiosk_sim::control::{ControlServer, ControlledSim};
use kiosk_sim::io_board::{IoBoardOptions, IoBoardSim};
use serialport::{SerialPort as _, TTYPort};

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
    /// A ccTalk coin acceptor taking 10, 50, 100 and 500 won in positions 1..=4.
    /// Prints `{"port": ..., "control": ...}` on one line and serves until killed.
    CoinAcceptor {
        #[command(flatten)]
        line: CcTalkLine,
        #[command(flatten)]
        control: ControlArg,
    },
    /// A ccTalk hopper paying out one kind of coin.
    /// Prints `{"port": ..., "control": ...}` on one line and serves until killed.
    Hopper {
        /// The coin it pays, in won (10, 50, 100 or 500).
        #[arg(long)]
        coin: u64,
        /// Coins in it at start.
        #[arg(long, default_value_t = 200)]
        level: u32,
        /// Dispenses carry the hopper's serial number instead of eight zero bytes.
        #[arg(long)]
        serial_auth: bool,
        /// Milliseconds between two paid coins.
        #[arg(long, default_value_t = 100)]
        pay_every_ms: u64,
        #[command(flatten)]
        line: CcTalkLine,
        #[command(flatten)]
        control: ControlArg,
    },
    /// An SSP bill validator taking 1,000, 5,000, 10,000 and 50,000 won notes.
    /// Prints `{"port": ..., "control": ...}` on one line and serves until killed.
    BillValidator {
        /// The SSP id it answers to.
        #[arg(long, default_value_t = 0)]
        id: u8,
        /// Its serial number (decimal), part of every note's device key.
        #[arg(long, default_value_t = DEFAULT_SERIAL)]
        serial: u32,
        #[command(flatten)]
        control: ControlArg,
    },
    /// An ESC/POS receipt printer (80 mm, Hangul in two-byte mode).
    /// Prints `{"port": ..., "control": ...}` on one line and serves until killed.
    ReceiptPrinter {
        #[command(flatten)]
        control: ControlArg,
    },
    /// An IPP A4 laser printer on HTTP (paper tray, toner, faults injected over the control
    /// socket). Prints `{"uri": ..., "control": ...}` on one line and serves until SIGTERM or
    /// SIGINT.
    A4Printer {
        /// Address to listen on (port 0: a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Sheets in the tray at start.
        #[arg(long, default_value_t = 500)]
        paper: u32,
        /// Milliseconds per printed page (0: a job prints at once).
        #[arg(long, default_value_t = 200)]
        page_ms: u64,
        /// Save every completed job's PDF here, as `<job-id>-<job-name>.pdf`.
        #[arg(long)]
        save_dir: Option<PathBuf>,
        /// The largest document accepted, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_DOCUMENT)]
        max_document: usize,
        #[command(flatten)]
        control: ControlArg,
    },
    /// A whole kiosk's devices from a TOML file (see docs/SIMULATORS.md); prints one JSON line
    /// mapping each device to its `{port, control}` and serves until killed.
    All {
        /// The device file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// How a simulated ccTalk device sits on its line.
#[derive(Args)]
struct CcTalkLine {
    /// Its bus address (default: 2 for the coin acceptor, 3 for a hopper).
    #[arg(long)]
    address: Option<u8>,
    /// Echo the host's bytes back, as a single-wire bus does.
    #[arg(long)]
    echo: bool,
    /// CRC-16 frames instead of the simple checksum.
    #[arg(long)]
    crc16: bool,
}

impl CcTalkLine {
    fn sim_line(&self, default_address: u8) -> SimLine {
        SimLine {
            address: self.address.unwrap_or(default_address),
            checksum: if self.crc16 {
                ChecksumKind::Crc16
            } else {
                ChecksumKind::Simple
            },
            echo: self.echo,
        }
    }
}

/// Where the control socket goes.
#[derive(Args)]
struct ControlArg {
    /// Path of the control socket (default: a fresh path in the temp directory).
    #[arg(long)]
    control: Option<PathBuf>,
}

impl ControlArg {
    fn path(self, device: &str) -> PathBuf {
        self.control.unwrap_or_else(|| default_control_path(device))
    }
}

fn default_control_path(device: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kiosk-sim-{device}-{}.sock", std::process::id()))
}

/// Serves a started simulator: control socket up, one JSON line out, then forever.
fn serve(sim: Arc<dyn ControlledSim>, host: TTYPort, control: PathBuf) -> anyhow::Result<()> {
    let port = host
        .name()
        .context("the pty pair has no host device name")?;
    let server = ControlServer::start(control, sim)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "port": port,
            "control": server.path().display().to_string(),
        })
    )?;
    out.flush()?;
    drop(out);
    // The host side stays open while the simulator serves, or the pty would close.
    let _host = host;
    server.wait();
    Ok(())
}

/// Starts every device of `config`, then prints the map of ports and control sockets.
fn serve_all(config: &std::path::Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let devices = kiosk_sim::all::KioskDevices::parse(&text)
        .with_context(|| format!("{}", config.display()))?;
    let dir = devices
        .control_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let pid = std::process::id();
    let sock = |name: &str| dir.join(format!("kiosk-sim-{name}-{pid}.sock"));
    let line = |l: &kiosk_sim::all::CcTalkDevice, default: u8| SimLine {
        address: l.address.unwrap_or(default),
        checksum: if l.crc16 {
            ChecksumKind::Crc16
        } else {
            ChecksumKind::Simple
        },
        echo: l.echo,
    };
    let mut map = serde_json::Map::new();
    let mut servers = Vec::new();
    let mut hosts = Vec::new();
    let mut start =
        |name: String, sim: Arc<dyn ControlledSim>, host: TTYPort| -> anyhow::Result<()> {
            let port = host
                .name()
                .context("the pty pair has no host device name")?;
            let server = ControlServer::start(sock(&name), sim)?;
            map.insert(
                name,
                serde_json::json!({"port": port, "control": server.path().display().to_string()}),
            );
            servers.push(server);
            hosts.push(host);
            Ok(())
        };
    if let Some(a) = &devices.coin_acceptor {
        let (sim, host) = CoinAcceptorSim::spawn(line(a, 2))?;
        start("coin-acceptor".into(), Arc::new(sim), host)?;
    }
    for (i, h) in devices.hopper.iter().enumerate() {
        let coin = Coin::from_value(Won::new(h.coin)).context("hopper coin")?;
        let auth = if h.serial_auth {
            DispenseAuth::SerialNumber
        } else {
            DispenseAuth::NoEncryption
        };
        let address = 3 + u8::try_from(i).unwrap_or(0);
        let (sim, host) = HopperSim::spawn(
            line(&h.line, address),
            coin,
            h.level,
            auth,
            Duration::from_millis(h.pay_every_ms),
        )?;
        start(format!("hopper-{}", h.coin), Arc::new(sim), host)?;
    }
    if let Some(v) = &devices.bill_validator {
        let (sim, host) = ValidatorSim::spawn_with_serial(v.id, v.serial)?;
        start("bill-validator".into(), Arc::new(sim), host)?;
    }
    if devices.receipt_printer.is_some() {
        let (sim, host) = ReceiptPrinterSim::spawn(PrinterModel::default())?;
        start("receipt-printer".into(), Arc::new(sim), host)?;
    }
    let mut board = None;
    if let Some(b) = &devices.io_board {
        let key = read_key(None, Some(b.key_file.clone()))?;
        let sim = IoBoardSim::start(IoBoardOptions {
            key,
            board_id: b.board_id,
            control_path: sock("io-board"),
            config: Config {
                host_watchdog_s: b.host_watchdog_s,
                ..Config::default()
            },
        })?;
        map.insert(
            "io-board".into(),
            serde_json::json!({"port": sim.port(), "control": sim.control_path().display().to_string()}),
        );
        board = Some(sim);
    }
    let mut printer = None;
    if let Some(p) = &devices.a4_printer {
        let mut options = A4PrinterOptions::new(sock("a4-printer"));
        if let Some(listen) = p.listen {
            options.listen = listen;
        }
        options.paper = p.paper;
        options.page = Duration::from_millis(p.page_ms);
        options.save_dir.clone_from(&p.save_dir);
        let sim = A4PrinterSim::start(options)?;
        map.insert(
            "a4-printer".into(),
            serde_json::json!({"uri": sim.uri(), "control": sim.control_path().display().to_string()}),
        );
        printer = Some(sim);
    }
    // Serve until SIGTERM or SIGINT: the servers run on their own threads.
    until_signal(|| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::Value::Object(map))?;
        out.flush()?;
        Ok(())
    })?;
    drop(printer);
    drop(board);
    drop(servers);
    drop(hosts);
    Ok(())
}

/// Runs `ready` once SIGTERM and SIGINT are caught, then blocks until one arrives, so a
/// signal sent right after the ready line still stops the process cleanly (sockets removed).
fn until_signal(ready: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        ready()?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::All { config } => serve_all(&config),
        Command::A4Printer {
            listen,
            paper,
            page_ms,
            save_dir,
            max_document,
            control,
        } => {
            if paper > kiosk_sim::a4_printer::device::MAX_TRAY {
                bail!(
                    "--paper must be at most {}",
                    kiosk_sim::a4_printer::device::MAX_TRAY
                );
            }
            let sim = A4PrinterSim::start(A4PrinterOptions {
                listen,
                control_path: control.path("a4-printer"),
                paper,
                page: Duration::from_millis(page_ms),
                save_dir,
                max_document,
            })?;
            until_signal(|| {
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "uri": sim.uri(),
                        "control": sim.control_path().display().to_string(),
                    })
                )?;
                out.flush()?;
                Ok(())
            })?;
            drop(sim);
            Ok(())
        }
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
        Command::CoinAcceptor { line, control } => {
            let (sim, host) = CoinAcceptorSim::spawn(line.sim_line(2))?;
            serve(Arc::new(sim), host, control.path("coin-acceptor"))
        }
        Command::Hopper {
            coin,
            level,
            serial_auth,
            pay_every_ms,
            line,
            control,
        } => {
            let Some(coin) = Coin::from_value(Won::new(coin)) else {
                bail!("--coin must be 10, 50, 100 or 500 (won), not {coin}");
            };
            let auth = if serial_auth {
                DispenseAuth::SerialNumber
            } else {
                DispenseAuth::NoEncryption
            };
            let (sim, host) = HopperSim::spawn(
                line.sim_line(3),
                coin,
                level,
                auth,
                Duration::from_millis(pay_every_ms),
            )?;
            serve(Arc::new(sim), host, control.path("hopper"))
        }
        Command::BillValidator {
            id,
            serial,
            control,
        } => {
            let (sim, host) = ValidatorSim::spawn_with_serial(id, serial)?;
            serve(Arc::new(sim), host, control.path("bill-validator"))
        }
        Command::ReceiptPrinter { control } => {
            let (sim, host) = ReceiptPrinterSim::spawn(PrinterModel::default())?;
            serve(Arc::new(sim), host, control.path("receipt-printer"))
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
