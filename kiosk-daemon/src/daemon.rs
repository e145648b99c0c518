//! The daemon's start, run and stop: the imperative shell around the orchestrator.
//!
//! Start: open the ledger and settle what a crash left; load the catalog, the templates
//! and the font; start the drivers; bind the local API and metrics on loopback; tell the
//! service manager we are ready. Run: a tick for timeouts and the schedule, watchdog pings
//! while the orchestrator answers, reconciliation with the network in the background.
//! Stop (SIGTERM, Ctrl-C, the daily restart): take no new session, let the current one
//! finish, exit 0 so the service manager starts a fresh process.

use anyhow::{Context, Result};
use kiosk_catalog::{Catalog, KioskCatalog, Overrides};
use kiosk_core::session::SessionConfig;
use kiosk_ledger::Ledger;
use kiosk_render::{KioskFont, Renderer, SigningKey, TemplateSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};
use zeroize::Zeroizing;

use crate::api::{self, ApiState, SpeechCache};
use crate::clock::{Clock, SystemClock};
use crate::config::Validated;
use crate::hardware::SerialHardware;
use crate::kiosk::{ApiRequest, Kiosk, Msg, Parts, Settings};
use crate::metrics::Metrics;
use crate::ports::Network;
use crate::recovery;
use crate::schedule::Schedule;

/// The ledger file inside the data directory.
pub const LEDGER_FILE: &str = "ledger.db";

/// Loads the catalog with the district's overrides.
pub fn load_catalog(cfg: &Validated) -> Result<KioskCatalog> {
    let c = &cfg.raw.catalog;
    let catalog = Catalog::load(&c.documents).map_err(|p| anyhow::anyhow!("{p}"))?;
    let overrides = match &c.overrides {
        Some(p) => Overrides::load(p).map_err(|p| anyhow::anyhow!("{p}"))?,
        None => Overrides::none(),
    };
    KioskCatalog::new(catalog, overrides).map_err(|p| anyhow::anyhow!("{p}"))
}

/// The key that signs certificates' verification codes, at `path` (`kiosk.signing_key`,
/// by default `signing.key` in the data directory; 64 hex digits, readable by the daemon's
/// user only). Without it the daemon does not start: a certificate signed with a key
/// anyone can derive could be forged.
pub fn signing_key(path: &Path) -> Result<SigningKey> {
    let p = path;
    let text = crate::secrets::read_private(p, "the certificate signing key").with_context(
        || "the kiosk issues no certificate it cannot sign: provision signing.key (docs/VERIFYING.md)",
    )?;
    let bytes = Zeroizing::new(hex::decode(text.trim()).context("signing.key: not hex")?);
    let b: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("signing.key: 32 bytes expected"))?;
    Ok(SigningKey::from_bytes(&b))
}

/// Runs the daemon until it is told to stop or the daily restart is due.
pub async fn run<N: Network>(cfg: Validated, net: Arc<N>) -> Result<()> {
    let started = std::time::Instant::now();
    let data = cfg.raw.kiosk.data_dir.clone();
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let ledger_path = data.join(LEDGER_FILE);
    let mut ledger = Ledger::open(&ledger_path)
        .with_context(|| format!("cannot open the ledger {}", ledger_path.display()))?;
    // The reconciler's connection, opened now and never through `Ledger::open` again in
    // this process (see `Ledger::second_connection`).
    let rec_ledger = ledger.second_connection()?;
    let catalog = Arc::new(load_catalog(&cfg)?);
    let templates = TemplateSet::load_dir(&cfg.raw.catalog.templates)
        .map_err(|e| anyhow::anyhow!("templates: {e}"))?;
    let font = KioskFont::load(&cfg.raw.catalog.font).map_err(|e| anyhow::anyhow!("font: {e}"))?;
    let renderer = Arc::new(Renderer::new(font, templates).map_err(|e| anyhow::anyhow!("{e}"))?);
    let signing = Arc::new(signing_key(&cfg.raw.kiosk.signing_key_path())?);
    let metrics = Arc::new(Metrics::new());

    if let Some(w) = crate::config::printer_link_warning(&cfg.raw.devices.a4_printer.uri) {
        warn!(incident = "printer-link-plain", "{w}");
    }
    let queue = Kiosk::<SerialHardware, N>::queue();
    // The acceptor resumes after the last coin the journal booked.
    let resume = ledger
        .cursor(crate::keys::device::COIN_ACCEPTOR)?
        .and_then(|c| u8::try_from(c.counter).ok());
    let hw = SerialHardware::start(&cfg.raw.devices, &cfg.hopper_coins, resume, queue.0.clone())?;
    // What a crash left: first what the devices say they did (payouts, stacks, print
    // jobs), then the money nobody can claim any more (escrow, credit).
    let devices = recovery::settle_devices(&mut ledger, &hw, clock.unix_ms()).await?;
    if devices != recovery::DevicesSettled::default() {
        warn!(
            ?devices,
            "settled with the devices what the last run left open"
        );
    }
    let settled = recovery::settle_ledger(&mut ledger, clock.unix_ms())?;
    if settled != recovery::Settled::default() {
        warn!(?settled, "settled what the last run left open");
    }
    // Where the ledger stood at the last start, signed: a ledger restored from an older
    // copy or cut short no longer reaches it (crate::heads).
    let head =
        crate::heads::check_and_sign(&data, &ledger, &cfg.raw.kiosk.id, &signing, clock.unix_ms())?;
    match &head {
        crate::heads::HeadCheck::Behind(why) => {
            error!(incident = "ledger-behind-signed-head", "{why}");
        }
        h => info!(?h, "signed the ledger's head"),
    }
    let s = &cfg.raw.session;
    let settings = Settings {
        kiosk_id: cfg.raw.kiosk.id.clone(),
        site: cfg.raw.kiosk.site.clone(),
        session: SessionConfig {
            max_lines: s.max_lines,
            max_copies: s.max_copies,
            fingerprint_tries: s.fingerprint_tries,
            warn_after_ms: s.warn_after_s * 1000,
            grace_ms: s.grace_s * 1000,
            ..SessionConfig::default()
        },
        schedule: Schedule {
            hours: cfg.hours,
            restart: cfg.restart,
        },
        hopper_coins: cfg.hopper_coins.clone(),
        where_else: cfg.raw.where_else.clone(),
        linger_ms: 60_000,
        accessibility: cfg.raw.accessibility.clone(),
    };
    let (kiosk, rx, handle) = Kiosk::new(
        Parts {
            settings,
            ledger,
            catalog: catalog.clone(),
            renderer,
            signing,
            hw,
            net: net.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
        },
        queue,
    )?;
    let mut kiosk = kiosk;
    if matches!(head, crate::heads::HeadCheck::Behind(_)) {
        kiosk.hold_money("the ledger does not reach the head signed at the last start");
    } else if devices.unresolved > 0 {
        kiosk.hold_money("recovery: a device could not say what it did");
    } else if devices.unexplained_notes > 0 {
        kiosk.hold_money("recovery: the stacker holds notes the books do not");
    }
    let orchestrator = tokio::spawn(kiosk.run(rx));

    // Reconcile what earlier runs left with the network, on a connection of its own
    // (it writes only the message log, never the journal).
    let before = clock.unix_ms();
    let rec_clock = clock.clone();
    tokio::spawn(recovery::reconcile_until_done(
        rec_ledger,
        net.clone(),
        before,
        move || rec_clock.unix_ms(),
    ));

    let api_listener = tokio::net::TcpListener::bind(cfg.api_listen)
        .await
        .with_context(|| format!("cannot bind the local API on {}", cfg.api_listen))?;
    let metrics_listener = tokio::net::TcpListener::bind(cfg.metrics_listen)
        .await
        .with_context(|| format!("cannot bind metrics on {}", cfg.metrics_listen))?;
    let api_addr = api_listener.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;
    let state = ApiState {
        kiosk: handle.clone(),
        documents: Arc::new(api::documents_json(&catalog)),
        ui_dir: cfg.raw.api.ui_dir.clone(),
        speech: Arc::new(SpeechCache::default()),
        hosts: Arc::new(api::loopback_hosts(api_addr)),
        streams: Arc::default(),
    };
    tokio::spawn(async move {
        let _ = axum::serve(api_listener, api::router(state)).await;
    });
    tokio::spawn(async move {
        let _ = axum::serve(metrics_listener, api::metrics_router(metrics)).await;
    });

    // Ticks: timeouts and the schedule. Watchdog: pinged only while the orchestrator
    // still answers, so a stuck daemon is restarted by the service manager.
    let tick_tx = handle.tx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if tick_tx
                .send(Msg::Input(crate::ports::Input::Tick))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let wd = handle.clone();
    tokio::spawn(async move {
        let mut usec = 0;
        if !sd_notify::watchdog_enabled(false, &mut usec) {
            return;
        }
        let period = Duration::from_micros(usec / 2);
        loop {
            tokio::time::sleep(period).await;
            // A cheap round trip through the orchestrator's queue.
            let alive = tokio::time::timeout(period, wd.call(ApiRequest::Ping)).await;
            if matches!(alive, Ok(Ok(()))) {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
    });

    // Free disk every 30 s (no session starts below the reserve); the self-check at start
    // and then daily.
    let reserve = cfg.raw.kiosk.disk_reserve_mib << 20;
    let (disk_tx, disk_dir) = (handle.tx.clone(), data.clone());
    tokio::spawn(async move {
        let mut low = false;
        loop {
            let free = crate::selfcheck::disk_free(&disk_dir).unwrap_or(u64::MAX);
            if (free < reserve) != low {
                low = free < reserve;
                if disk_tx.send(Msg::DiskLow(low)).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    let (sc_tx, sc_dir, sc_cert) = (
        handle.tx.clone(),
        data.clone(),
        cfg.raw.egov.client_cert.clone(),
    );
    let sc_clock = clock.clone();
    tokio::spawn(async move {
        // The devices report their first status within a few polls after start.
        tokio::time::sleep(Duration::from_secs(5)).await;
        loop {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if sc_tx.send(Msg::Inspect(tx)).await.is_err() {
                return;
            }
            if let Ok(i) = rx.await {
                let readings = crate::selfcheck::Readings {
                    printer_ok: i.printer_ok,
                    paper: i.paper,
                    hoppers: i.hoppers,
                    stacker_full: i.stacker_full,
                    network_ok: i.network_ok,
                    disk_free: crate::selfcheck::disk_free(&sc_dir).unwrap_or(0),
                    disk_reserve: reserve,
                    now_s: sc_clock.unix_ms() / 1000,
                    last_entry_s: i.last_entry_ms / 1000,
                    cert_not_after_s: crate::selfcheck::cert_not_after(&sc_cert),
                };
                let items = crate::selfcheck::judge(&readings);
                let failed = crate::selfcheck::failed(&items);
                let report = serde_json::json!({"at_ms": sc_clock.unix_ms(), "items": items});
                let _ = std::fs::write(sc_dir.join("selfcheck.json"), report.to_string());
                if failed {
                    warn!(incident = "self-check", report = %report, "self-check failed");
                } else {
                    info!(report = %report, "self-check passed");
                }
            }
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        }
    });

    info!(
        api = %api_addr,
        metrics = %metrics_addr,
        ready_ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let stop_tx = handle.tx.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("stop requested: finishing the current session");
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        let _ = stop_tx.send(Msg::Drain).await;
    });
    let ledger = orchestrator.await.context("the orchestrator failed")?;
    drop(ledger);
    info!("stopped cleanly");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // No signal handlers: never stop on a signal (the service manager will kill us).
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
