//! `kiosk-sim all --config FILE`: a whole kiosk's set of simulated devices in one process.
//!
//! The file names the devices a kiosk has; every one is started on its own pty with its
//! own control socket, and one JSON line maps device names to `{port, control}` (the A4
//! printer, on a TCP port, to `{uri, control}`).

use serde::Deserialize;
use std::path::PathBuf;

/// A kiosk's devices. Unknown fields are refused, so a typo never silently drops a device.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskDevices {
    /// Where the control sockets go (default: the temp directory).
    pub control_dir: Option<PathBuf>,
    /// The ccTalk coin acceptor.
    pub coin_acceptor: Option<CcTalkDevice>,
    /// One change hopper per coin; at most one per coin.
    #[serde(default)]
    pub hopper: Vec<HopperDevice>,
    /// The SSP bill validator.
    pub bill_validator: Option<Validator>,
    /// The ESC/POS receipt printer.
    pub receipt_printer: Option<Empty>,
    /// The I/O board running the firmware logic.
    pub io_board: Option<IoBoard>,
    /// The IPP A4 printer.
    pub a4_printer: Option<A4Printer>,
}

/// The A4 printer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct A4Printer {
    /// Sheets in the tray at start.
    #[serde(default = "default_paper")]
    pub paper: u32,
    /// Milliseconds per printed page (0: a job prints at once).
    #[serde(default = "default_page_ms")]
    pub page_ms: u64,
    /// Where completed jobs' PDFs are saved, if anywhere.
    pub save_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1, a free port).
    pub listen: Option<std::net::SocketAddr>,
}

fn default_paper() -> u32 {
    500
}

fn default_page_ms() -> u64 {
    200
}

/// A ccTalk device's line settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CcTalkDevice {
    /// Bus address (default by device kind).
    pub address: Option<u8>,
    /// Whether the line echoes the host's bytes.
    #[serde(default)]
    pub echo: bool,
    /// CRC-16 instead of the simple checksum.
    #[serde(default)]
    pub crc16: bool,
}

/// One hopper.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopperDevice {
    /// Face value of its coin in won (10, 50, 100, 500).
    pub coin: u64,
    /// Coins in it at start.
    #[serde(default = "default_level")]
    pub level: u32,
    /// The serial-number dispense variant instead of no-encryption.
    #[serde(default)]
    pub serial_auth: bool,
    /// Milliseconds per coin paid out.
    #[serde(default = "default_pay_every")]
    pub pay_every_ms: u64,
    /// Line settings.
    #[serde(flatten)]
    pub line: CcTalkDevice,
}

fn default_level() -> u32 {
    200
}

fn default_pay_every() -> u64 {
    100
}

/// The bill validator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    /// SSP device id.
    #[serde(default)]
    pub id: u8,
    /// Its serial number, part of every note's device key (default
    /// [`kiosk_devices::sim::validator::DEFAULT_SERIAL`]).
    #[serde(default = "default_validator_serial")]
    pub serial: u32,
}

impl Default for Validator {
    fn default() -> Self {
        Validator {
            id: 0,
            serial: default_validator_serial(),
        }
    }
}

fn default_validator_serial() -> u32 {
    kiosk_devices::sim::validator::DEFAULT_SERIAL
}

/// A device with no settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// The I/O board. The key comes from a file, never from this file's text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoBoard {
    /// A file holding the per-board key as 64 hex digits.
    pub key_file: PathBuf,
    /// The board identity.
    #[serde(default = "default_board_id")]
    pub board_id: u32,
    /// Host watchdog timeout in seconds (0 = off, else 10..=3600).
    #[serde(default = "default_watchdog")]
    pub host_watchdog_s: u16,
}

fn default_board_id() -> u32 {
    1
}

fn default_watchdog() -> u16 {
    60
}

impl KioskDevices {
    /// Parses and checks a device file; every error names the file.
    pub fn parse(text: &str) -> anyhow::Result<KioskDevices> {
        let d: KioskDevices = toml::from_str(text)?;
        let mut coins = std::collections::BTreeSet::new();
        for h in &d.hopper {
            if !matches!(h.coin, 10 | 50 | 100 | 500) {
                anyhow::bail!("hopper coin must be 10, 50, 100 or 500, not {}", h.coin);
            }
            if !coins.insert(h.coin) {
                anyhow::bail!("two hoppers for the {}-won coin", h.coin);
            }
        }
        if let Some(p) = &d.a4_printer {
            if p.paper > crate::a4_printer::device::MAX_TRAY {
                anyhow::bail!(
                    "a4_printer paper must be at most {}",
                    crate::a4_printer::device::MAX_TRAY
                );
            }
        }
        if d.hopper.len() > 8 {
            anyhow::bail!("at most 8 hoppers (ccTalk addresses 3..10)");
        }
        Ok(d)
    }
}
