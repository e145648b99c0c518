//! `config/kiosk.toml`: everything that differs from one kiosk to the next.
//!
//! The file is read once at start and validated as a whole: every problem is reported at
//! once (with its field), so a technician on site fixes the file in one go instead of
//! restarting the daemon once per mistake. Nothing here is trusted before [`KioskConfig::validate`]
//! has passed.

use kiosk_core::Coin;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::schedule::{ClockTime, Hours, RestartWindow};

/// The whole configuration of one kiosk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskConfig {
    /// Who and where the kiosk is.
    pub kiosk: KioskSection,
    /// When citizens may use it.
    #[serde(default)]
    pub hours: HoursSection,
    /// The daily restart.
    #[serde(default)]
    pub restart: RestartSection,
    /// The devices and how to reach them.
    pub devices: DevicesSection,
    /// The e-government network.
    pub egov: EgovSection,
    /// The district server (the sync issue uses it).
    #[serde(default)]
    pub district: Option<DistrictSection>,
    /// The document catalog and how certificates are rendered.
    pub catalog: CatalogSection,
    /// The local API the touchscreen uses.
    #[serde(default)]
    pub api: ApiSection,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// Session limits and timeouts.
    #[serde(default)]
    pub session: SessionSection,
    /// What the touchscreen starts with.
    #[serde(default)]
    pub accessibility: AccessibilitySection,
    /// Where else a citizen can go when this kiosk cannot serve them.
    #[serde(default)]
    pub where_else: Vec<Elsewhere>,
}

/// Who and where the kiosk is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskSection {
    /// The kiosk id printed on every certificate and sent with every request.
    pub id: String,
    /// Where it stands, shown on screen ("서초구청 1층").
    pub site: String,
    /// Where its ledger, counters and printed files live (overridable by `--data`).
    pub data_dir: PathBuf,
    /// Free disk space below which no new session starts, in MiB.
    #[serde(default = "default_disk_reserve")]
    pub disk_reserve_mib: u64,
    /// The certificate signing key (64 hex digits, readable by the daemon's user only).
    /// Default `signing.key` in the data directory; a deployment puts it outside, e.g.
    /// `/etc/kiosk/signing.key` (the daemon's user, 0600), which the service sees read-only
    /// (`ProtectSystem=strict`): what can write the ledger and the printed files cannot
    /// replace the key that signs certificates.
    #[serde(default)]
    pub signing_key: Option<PathBuf>,
}

impl KioskSection {
    /// Where the signing key is read from (see [`KioskSection::signing_key`]).
    pub fn signing_key_path(&self) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing.key"))
    }
}

fn default_disk_reserve() -> u64 {
    64
}

/// Opening hours: `always = true`, or `open`/`close` as "HH:MM" (close may be "24:00").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursSection {
    /// Open around the clock (subway stations).
    #[serde(default)]
    pub always: bool,
    /// Opening time.
    #[serde(default)]
    pub open: Option<String>,
    /// Closing time.
    #[serde(default)]
    pub close: Option<String>,
}

impl Default for HoursSection {
    fn default() -> Self {
        HoursSection {
            always: true,
            open: None,
            close: None,
        }
    }
}

/// The daily restart: between `at` and `at + window_minutes`, after draining.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartSection {
    /// Start of the window, "HH:MM" local time (the rules say 02:00).
    #[serde(default = "default_restart_at")]
    pub at: String,
    /// Length of the window.
    #[serde(default = "default_restart_window")]
    pub window_minutes: u32,
    /// No new session starts this many minutes before the window.
    #[serde(default = "default_drain")]
    pub drain_minutes: u32,
}

fn default_restart_at() -> String {
    "02:00".into()
}
fn default_restart_window() -> u32 {
    30
}
fn default_drain() -> u32 {
    5
}

impl Default for RestartSection {
    fn default() -> Self {
        RestartSection {
            at: default_restart_at(),
            window_minutes: default_restart_window(),
            drain_minutes: default_drain(),
        }
    }
}

/// Every device the daemon drives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesSection {
    /// The ccTalk coin acceptor.
    pub coin_acceptor: SerialDevice,
    /// The ccTalk hoppers, one per coin that is paid out.
    #[serde(default)]
    pub hopper: Vec<HopperDevice>,
    /// The SSP bill validator.
    pub bill_validator: SerialDevice,
    /// The ESC/POS receipt printer.
    pub receipt_printer: SerialDevice,
    /// The IPP A4 printer.
    pub a4_printer: A4Device,
    /// The I/O board (doors, locks, sensors, watchdog).
    #[serde(default)]
    pub io_board: Option<IoBoardDevice>,
    /// The fingerprint scanner.
    #[serde(default)]
    pub fingerprint: FingerprintDevice,
}

/// A device on a serial port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialDevice {
    /// The port, e.g. `/dev/ttyUSB0`.
    pub port: PathBuf,
    /// The bus address (ccTalk) or device id (SSP), where the protocol has one.
    #[serde(default)]
    pub address: Option<u8>,
}

/// A hopper.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HopperDevice {
    /// The port.
    pub port: PathBuf,
    /// Its ccTalk address.
    #[serde(default = "default_hopper_address")]
    pub address: u8,
    /// The coin it pays out, in won (10, 50, 100 or 500).
    pub coin: u64,
}

fn default_hopper_address() -> u8 {
    3
}

/// The A4 printer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct A4Device {
    /// Its IPP URI.
    pub uri: String,
}

/// The I/O board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoBoardDevice {
    /// The port.
    pub port: PathBuf,
    /// A file holding the 64 hex digits of the unlock key (never in this file).
    pub key_file: PathBuf,
}

/// The fingerprint scanner. Real scanners are vendor devices; `simulated` stands in for
/// one in the demo and tests, taking the template the e-government simulator publishes.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FingerprintDevice {
    /// Where the simulated scanner reads synthetic templates (`GET <url>?limit=N`).
    #[serde(default)]
    pub simulated_people_url: Option<String>,
}

/// The e-government network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgovSection {
    /// `https://host:port`.
    pub endpoint: String,
    /// The network's CA (pinned; no system roots).
    pub ca_cert: PathBuf,
    /// The kiosk's certificate.
    pub client_cert: PathBuf,
    /// The kiosk's key.
    pub client_key: PathBuf,
    /// The issuing authority's ed25519 public key (64 hex digits in a file).
    pub authority_key: PathBuf,
    /// Connect timeout.
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// Whole-request timeout.
    #[serde(default = "default_request_ms")]
    pub request_timeout_ms: u64,
    /// Attempts per request (1 = no retry).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Consecutive failures that declare a back end (or the network) down.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// Seconds a back end declared down is not asked again.
    #[serde(default = "default_breaker_open")]
    pub breaker_open_s: u64,
}

fn default_breaker_failures() -> u32 {
    3
}
fn default_breaker_open() -> u64 {
    30
}

fn default_connect_ms() -> u64 {
    2_000
}
fn default_request_ms() -> u64 {
    8_000
}
fn default_attempts() -> u32 {
    3
}

/// The district server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistrictSection {
    /// `https://host:port`.
    pub endpoint: String,
}

/// The catalog and rendering.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSection {
    /// `documents.toml`.
    pub documents: PathBuf,
    /// The district's overrides (fees by ordinance, switched-off types).
    #[serde(default)]
    pub overrides: Option<PathBuf>,
    /// The certificate templates.
    pub templates: PathBuf,
    /// The Korean font.
    #[serde(default = "default_font")]
    pub font: PathBuf,
}

fn default_font() -> PathBuf {
    PathBuf::from(kiosk_render::DEFAULT_FONT_PATH)
}

/// The local API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Must be a loopback address.
    #[serde(default = "default_api_listen")]
    pub listen: String,
    /// The touchscreen's static files.
    #[serde(default = "default_ui_dir")]
    pub ui_dir: PathBuf,
}

fn default_api_listen() -> String {
    "127.0.0.1:7300".into()
}
fn default_ui_dir() -> PathBuf {
    PathBuf::from("ui")
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: default_api_listen(),
            ui_dir: default_ui_dir(),
        }
    }
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Must be a loopback address.
    #[serde(default = "default_metrics_listen")]
    pub listen: String,
}

fn default_metrics_listen() -> String {
    "127.0.0.1:9300".into()
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: default_metrics_listen(),
        }
    }
}

/// Session limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSection {
    /// Fingerprint tries before the citizen is sent to the counter.
    #[serde(default = "default_tries")]
    pub fingerprint_tries: u8,
    /// Seconds of inactivity before the warning.
    #[serde(default = "default_warn")]
    pub warn_after_s: u64,
    /// Seconds between the warning and the end.
    #[serde(default = "default_grace")]
    pub grace_s: u64,
    /// Documents in one basket.
    #[serde(default = "default_lines")]
    pub max_lines: usize,
    /// Copies of one document.
    #[serde(default = "default_copies")]
    pub max_copies: u8,
}

fn default_tries() -> u8 {
    3
}
fn default_warn() -> u64 {
    60
}
fn default_grace() -> u64 {
    30
}
fn default_lines() -> usize {
    10
}
fn default_copies() -> u8 {
    10
}

impl Default for SessionSection {
    fn default() -> Self {
        SessionSection {
            fingerprint_tries: default_tries(),
            warn_after_s: default_warn(),
            grace_s: default_grace(),
            max_lines: default_lines(),
            max_copies: default_copies(),
        }
    }
}

/// What the touchscreen starts with.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessibilitySection {
    /// `ko`, `en`, `zh` or `vi`.
    #[serde(default = "default_language")]
    pub language: String,
    /// Voice guidance on from the start.
    #[serde(default)]
    pub voice: bool,
    /// Volume 0..=100.
    #[serde(default = "default_volume")]
    pub volume: u8,
    /// Speech rate 0.5..=2.0.
    #[serde(default = "default_rate")]
    pub speech_rate: f32,
    /// Start in the high-contrast theme.
    #[serde(default)]
    pub high_contrast: bool,
}

fn default_language() -> String {
    "ko".into()
}
fn default_volume() -> u8 {
    70
}
fn default_rate() -> f32 {
    1.0
}

impl Default for AccessibilitySection {
    fn default() -> Self {
        AccessibilitySection {
            language: default_language(),
            voice: false,
            volume: default_volume(),
            speech_rate: default_rate(),
            high_contrast: false,
        }
    }
}

/// Another place to get documents.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Elsewhere {
    /// Its name.
    pub name: String,
    /// Its hours, as shown.
    #[serde(default)]
    pub hours: Option<String>,
    /// An online portal.
    #[serde(default)]
    pub url: Option<String>,
}

/// Everything wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<String>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s) in the configuration:", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigProblems {}

/// The parts of the configuration the rest of the daemon uses, checked.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The file as read.
    pub raw: KioskConfig,
    /// Opening hours.
    pub hours: Hours,
    /// The restart window.
    pub restart: RestartWindow,
    /// Hopper coins, in configuration order.
    pub hopper_coins: Vec<Coin>,
    /// The API address (loopback).
    pub api_listen: SocketAddr,
    /// The metrics address (loopback).
    pub metrics_listen: SocketAddr,
}

/// A warning when the A4 printer is reached over plain IPP/HTTP on another host: every
/// certificate (with the citizen's data on it) then crosses the site's network unencrypted.
/// Loopback (a printer behind a local CUPS) is fine.
pub fn printer_link_warning(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("ipp://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback).then(|| {
        format!(
            "the A4 printer {host} is reached over plain IPP: certificates cross the network unencrypted (use a local CUPS queue or an isolated printer link)"
        )
    })
}

impl KioskConfig {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Validated, ConfigProblems> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigProblems(vec![format!("cannot read {}: {e}", path.display())]))?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses and validates text; relative paths are taken from `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Validated, ConfigProblems> {
        let mut raw: KioskConfig = toml::from_str(text).map_err(|e| {
            let span = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!("line {line}: ")
                })
                .unwrap_or_default();
            ConfigProblems(vec![format!("{span}{}", e.message())])
        })?;
        raw.resolve_paths(base);
        raw.validate()
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.kiosk.data_dir);
        if let Some(k) = &mut self.kiosk.signing_key {
            fix(k);
        }
        fix(&mut self.egov.ca_cert);
        fix(&mut self.egov.client_cert);
        fix(&mut self.egov.client_key);
        fix(&mut self.egov.authority_key);
        fix(&mut self.catalog.documents);
        if let Some(o) = &mut self.catalog.overrides {
            fix(o);
        }
        fix(&mut self.catalog.templates);
        fix(&mut self.catalog.font);
        fix(&mut self.api.ui_dir);
        if let Some(io) = &mut self.devices.io_board {
            fix(&mut io.key_file);
        }
    }

    /// Checks every rule; collects every problem.
    pub fn validate(self) -> Result<Validated, ConfigProblems> {
        let mut p = Vec::new();
        let id_ok = !self.kiosk.id.is_empty()
            && self.kiosk.id.len() <= 32
            && self
                .kiosk
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !id_ok {
            p.push(format!(
                "kiosk.id {:?}: 1 to 32 ASCII letters, digits or '-'",
                self.kiosk.id
            ));
        }
        if self.kiosk.site.trim().is_empty() || self.kiosk.site.chars().count() > 60 {
            p.push("kiosk.site: 1 to 60 characters".into());
        }
        let hours = match (&self.hours.always, &self.hours.open, &self.hours.close) {
            (true, None, None) => Some(Hours::Always),
            (false, Some(o), Some(c)) => match (ClockTime::parse(o), ClockTime::parse(c)) {
                (Ok(o), Ok(c)) if o < c => Some(Hours::Between { open: o, close: c }),
                (Ok(_), Ok(_)) => {
                    p.push("hours: open must be before close".into());
                    None
                }
                (a, b) => {
                    for e in [a.err(), b.err()].into_iter().flatten() {
                        p.push(format!("hours: {e}"));
                    }
                    None
                }
            },
            _ => {
                p.push(
                    "hours: either `always = true`, or both `open` and `close` (\"HH:MM\")".into(),
                );
                None
            }
        };
        let restart = match ClockTime::parse(&self.restart.at) {
            Ok(at) => {
                if !(1..=120).contains(&self.restart.window_minutes) {
                    p.push("restart.window_minutes: 1 to 120".into());
                }
                if self.restart.drain_minutes > 30 {
                    p.push("restart.drain_minutes: at most 30".into());
                }
                Some(RestartWindow {
                    at,
                    window_min: self.restart.window_minutes,
                    drain_min: self.restart.drain_minutes,
                })
            }
            Err(e) => {
                p.push(format!("restart.at: {e}"));
                None
            }
        };
        let mut hopper_coins = Vec::new();
        for (i, h) in self.devices.hopper.iter().enumerate() {
            match Coin::from_value(kiosk_core::Won::new(h.coin)) {
                Some(c) if hopper_coins.contains(&c) => {
                    p.push(format!("devices.hopper[{i}].coin: two hoppers for {c:?}"))
                }
                Some(c) => hopper_coins.push(c),
                None => p.push(format!(
                    "devices.hopper[{i}].coin: {} is not a Korean coin (10, 50, 100, 500)",
                    h.coin
                )),
            }
        }
        if !self.devices.a4_printer.uri.starts_with("ipp://")
            && !self.devices.a4_printer.uri.starts_with("http://")
        {
            p.push("devices.a4_printer.uri: an ipp:// URI".into());
        }
        if !self.egov.endpoint.starts_with("https://") {
            p.push("egov.endpoint: must be https:// (mutual TLS)".into());
        }
        if !(100..=60_000).contains(&self.egov.connect_timeout_ms) {
            p.push("egov.connect_timeout_ms: 100 to 60000".into());
        }
        if !(100..=120_000).contains(&self.egov.request_timeout_ms) {
            p.push("egov.request_timeout_ms: 100 to 120000".into());
        }
        if !(1..=5).contains(&self.egov.max_attempts) {
            p.push("egov.max_attempts: 1 to 5".into());
        }
        if !(1..=20).contains(&self.egov.breaker_failures) {
            p.push("egov.breaker_failures: 1 to 20".into());
        }
        if !(1..=3600).contains(&self.egov.breaker_open_s) {
            p.push("egov.breaker_open_s: 1 to 3600".into());
        }
        for (name, path) in [
            ("egov.ca_cert", &self.egov.ca_cert),
            ("egov.client_cert", &self.egov.client_cert),
            ("egov.client_key", &self.egov.client_key),
            ("egov.authority_key", &self.egov.authority_key),
            ("catalog.documents", &self.catalog.documents),
            ("catalog.font", &self.catalog.font),
        ] {
            if !path.is_file() {
                p.push(format!("{name}: no file at {}", path.display()));
            }
        }
        if let Some(o) = self.catalog.overrides.as_ref().filter(|o| !o.is_file()) {
            p.push(format!("catalog.overrides: no file at {}", o.display()));
        }
        if !self.catalog.templates.is_dir() {
            p.push(format!(
                "catalog.templates: no directory at {}",
                self.catalog.templates.display()
            ));
        }
        if let Some(io) = self
            .devices
            .io_board
            .as_ref()
            .filter(|io| !io.key_file.is_file())
        {
            p.push(format!(
                "devices.io_board.key_file: no file at {}",
                io.key_file.display()
            ));
        }
        let api_listen = loopback(&mut p, "api.listen", &self.api.listen);
        let metrics_listen = loopback(&mut p, "metrics.listen", &self.metrics.listen);
        let s = &self.session;
        if !(1..=5).contains(&s.fingerprint_tries) {
            p.push("session.fingerprint_tries: 1 to 5".into());
        }
        if !(10..=600).contains(&s.warn_after_s) {
            p.push("session.warn_after_s: 10 to 600".into());
        }
        if !(10..=300).contains(&s.grace_s) {
            p.push("session.grace_s: 10 to 300".into());
        }
        if !(1..=20).contains(&s.max_lines) {
            p.push("session.max_lines: 1 to 20".into());
        }
        if !(1..=20).contains(&s.max_copies) {
            p.push("session.max_copies: 1 to 20".into());
        }
        let a = &self.accessibility;
        if !["ko", "en", "zh", "vi"].contains(&a.language.as_str()) {
            p.push("accessibility.language: ko, en, zh or vi".into());
        }
        if a.volume > 100 {
            p.push("accessibility.volume: 0 to 100".into());
        }
        if !(0.5..=2.0).contains(&a.speech_rate) {
            p.push("accessibility.speech_rate: 0.5 to 2.0".into());
        }
        for (i, w) in self.where_else.iter().enumerate() {
            if w.name.trim().is_empty() || w.name.chars().count() > 60 {
                p.push(format!("where_else[{i}].name: 1 to 60 characters"));
            }
            if w.url.as_ref().is_some_and(|u| !u.starts_with("https://")) {
                p.push(format!("where_else[{i}].url: an https:// address"));
            }
        }
        match (p.is_empty(), hours, restart, api_listen, metrics_listen) {
            (true, Some(hours), Some(restart), Some(api_listen), Some(metrics_listen)) => {
                Ok(Validated {
                    raw: self,
                    hours,
                    restart,
                    hopper_coins,
                    api_listen,
                    metrics_listen,
                })
            }
            _ => Err(ConfigProblems(p)),
        }
    }
}

fn loopback(p: &mut Vec<String>, name: &str, value: &str) -> Option<SocketAddr> {
    match value.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_loopback() => Some(a),
        Ok(a) => {
            p.push(format!(
                "{name}: {a} is not a loopback address; the kiosk opens no port to the network"
            ));
            None
        }
        Err(e) => {
            p.push(format!("{name}: {value:?}: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_plain_printer_link_off_this_machine_is_warned_about() {
        for local in [
            "ipp://127.0.0.1:631/ipp/print",
            "ipp://localhost/printers/a4",
            "http://[::1]:631/ipp/print",
        ] {
            assert_eq!(printer_link_warning(local), None, "{local}");
        }
        for remote in [
            "ipp://192.168.0.20/ipp/print",
            "http://printer.lan:631/ipp/print",
            "ipp://[fe80::1]/ipp/print",
        ] {
            assert!(printer_link_warning(remote).is_some(), "{remote}");
        }
    }

    use super::*;

    fn files(dir: &Path) {
        for f in [
            "ca.pem",
            "kiosk.pem",
            "kiosk.key",
            "authority.pub",
            "documents.toml",
            "font.ttf",
        ] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        std::fs::create_dir_all(dir.join("templates")).unwrap();
    }

    const GOOD: &str = r#"
[kiosk]
id = "KIOSK-01"
site = "서초구청 1층"
data_dir = "data"
[hours]
always = false
open = "06:00"
close = "24:00"
[devices.coin_acceptor]
port = "/dev/ttyS0"
[[devices.hopper]]
port = "/dev/ttyS1"
coin = 100
[[devices.hopper]]
port = "/dev/ttyS2"
coin = 500
address = 4
[devices.bill_validator]
port = "/dev/ttyS3"
[devices.receipt_printer]
port = "/dev/ttyS4"
[devices.a4_printer]
uri = "ipp://127.0.0.1:631/ipp/print"
[egov]
endpoint = "https://127.0.0.1:9443"
ca_cert = "ca.pem"
client_cert = "kiosk.pem"
client_key = "kiosk.key"
authority_key = "authority.pub"
[catalog]
documents = "documents.toml"
templates = "templates"
font = "font.ttf"
[[where_else]]
name = "서초구청 민원실"
hours = "09:00-18:00"
"#;

    #[test]
    fn a_good_file_validates() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let v = KioskConfig::from_toml(GOOD, dir.path()).unwrap();
        assert_eq!(v.hopper_coins, vec![Coin::W100, Coin::W500]);
        assert!(matches!(v.hours, Hours::Between { .. }));
        assert_eq!(v.api_listen.port(), 7300);
        assert_eq!(v.raw.kiosk.data_dir, dir.path().join("data"));
        assert_eq!(
            v.raw.kiosk.signing_key_path(),
            dir.path().join("data/signing.key"),
            "by default the key is in the data directory"
        );
    }

    #[test]
    fn the_signing_key_can_live_outside_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let with = GOOD.replacen(
            "[kiosk]\n",
            "[kiosk]\nsigning_key = \"keys/signing.key\"\n",
            1,
        );
        assert_ne!(with, GOOD);
        let v = KioskConfig::from_toml(&with, dir.path()).unwrap();
        assert_eq!(
            v.raw.kiosk.signing_key_path(),
            dir.path().join("keys/signing.key"),
            "relative to the configuration's directory"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let bad = GOOD
            .replace("KIOSK-01", "KIOSK 01")
            .replace("coin = 500", "coin = 300")
            .replace("https://127.0.0.1:9443", "http://127.0.0.1:9443")
            .replace("close = \"24:00\"", "close = \"25:00\"")
            + "[api]\nlisten = \"0.0.0.0:7300\"\n";
        let e = KioskConfig::from_toml(&bad, dir.path()).unwrap_err();
        let all = e.to_string();
        for want in [
            "kiosk.id",
            "hopper[1].coin",
            "egov.endpoint",
            "hours",
            "api.listen",
        ] {
            assert!(all.contains(want), "{want} missing from:\n{all}");
        }
        assert_eq!(e.0.len(), 5, "{all}");
    }

    #[test]
    fn missing_files_and_unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = KioskConfig::from_toml(GOOD, dir.path()).unwrap_err();
        assert!(e.to_string().contains("egov.ca_cert: no file"), "{e}");
        files(dir.path());
        let e = KioskConfig::from_toml(&format!("{GOOD}\n[surprise]\nx = 1\n"), dir.path())
            .unwrap_err();
        assert!(e.to_string().contains("surprise"), "{e}");
    }
}
