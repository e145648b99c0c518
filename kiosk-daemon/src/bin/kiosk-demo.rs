//! kiosk-demo: the whole system on a laptop.
//!
//! Starts egov-sim, every device simulator and a kiosk-daemon with its own data directory,
//! and a simulation panel (insert coins and notes, jam the printer, cut the network). When
//! everything is ready it prints one JSON line with the URLs, then runs until Ctrl-C and
//! stops every part cleanly. Each printed certificate is saved as a PDF under
//! `<data>/printed/`.

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use kiosk_daemon::stack::{Bins, Controls, Stack, StackOptions};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;

/// The whole kiosk system on one machine, with simulated devices and network.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Data directory (ledger, logs, printed PDFs, certificates).
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,
    /// The touchscreen's port on 127.0.0.1.
    #[arg(long, default_value_t = 7300)]
    port: u16,
    /// The simulation panel's port on 127.0.0.1.
    #[arg(long, default_value_t = 7301)]
    panel_port: u16,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of first fingerprint tries that fail (real kiosks: about 0.32).
    #[arg(long, default_value_t = 0.32)]
    fingerprint_fail_rate: f64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let repo = std::env::current_dir()?;
    if !repo.join("config/documents.toml").is_file() {
        anyhow::bail!("run kiosk-demo from the repository's top directory");
    }
    std::fs::create_dir_all(&cli.data)?;
    let data = cli.data.canonicalize()?;
    let mut opts = StackOptions::new(data.clone(), repo);
    opts.api_port = cli.port;
    opts.page_ms = 400;
    opts.pay_every_ms = 150;
    opts.seed = cli.seed;
    opts.fingerprint_fail_rate = cli.fingerprint_fail_rate;
    let mut stack = Stack::start(opts, Bins::beside_me()?).await?;
    stack.start_daemon().await?;
    let controls = stack.controls();
    let panel = tokio::net::TcpListener::bind(("127.0.0.1", cli.panel_port))
        .await
        .with_context(|| format!("cannot bind the panel on 127.0.0.1:{}", cli.panel_port))?;
    let panel_addr = panel.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(panel, panel_router(controls)).await;
    });
    let api = stack.api.context("no API address")?;
    let people = stack.controls().people(5).await.unwrap_or_default();
    println!(
        "{}",
        json!({
            "touchscreen": format!("http://{api}/"),
            "simulation": format!("http://{panel_addr}/"),
            "metrics": stack.metrics.map(|m| format!("http://{m}/metrics")),
            "district": null,
            "data_dir": data,
            "printed": data.join("printed"),
            "public_keys": data.join(kiosk_daemon::stack::PUBLIC_KEYS),
            "synthetic_resident_numbers": people,
        })
    );
    // Ctrl-C, or SIGTERM from a service manager or a script: stop every part cleanly.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    eprintln!("stopping…");
    stack.stop().await?;
    eprintln!("stopped");
    Ok(())
}

fn panel_router(c: Controls) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PANEL) }))
        .route("/sim", post(sim))
        .with_state(c)
}

#[derive(Deserialize)]
struct Action {
    what: String,
    #[serde(default)]
    value: Option<u64>,
}

async fn sim(State(c): State<Controls>, Query(a): Query<Action>) -> Response {
    let v = a.value.unwrap_or(0);
    let r = match a.what.as_str() {
        "coin" => c.insert_coin(v).await,
        "note" => c.insert_note(v).await,
        "pull-back" => c
            .sim("bill-validator", json!({"cmd": "pull_back_next_note"}))
            .await
            .map(drop),
        "jam" => c
            .sim("a4-printer", json!({"cmd": "jam", "after_pages": v}))
            .await
            .map(drop),
        "clear-jam" => c.sim("a4-printer", json!({"cmd": "clear"})).await.map(drop),
        "toner-empty" => c
            .sim("a4-printer", json!({"cmd": "toner", "state": "empty"}))
            .await
            .map(drop),
        "toner-ok" => c
            .sim("a4-printer", json!({"cmd": "toner", "state": "ok"}))
            .await
            .map(drop),
        "empty-hopper" => c
            .sim(&format!("hopper-{v}"), json!({"cmd": "empty_hopper"}))
            .await
            .map(drop),
        "earphone-in" => c
            .sim("io-board", json!({"cmd": "earphone", "inserted": true}))
            .await
            .map(drop),
        "earphone-out" => c
            .sim("io-board", json!({"cmd": "earphone", "inserted": false}))
            .await
            .map(drop),
        "door-open" => c
            .sim(
                "io-board",
                json!({"cmd": "door", "door": "front", "open": true}),
            )
            .await
            .map(drop),
        "door-close" => c
            .sim(
                "io-board",
                json!({"cmd": "door", "door": "front", "open": false}),
            )
            .await
            .map(drop),
        "network-down" => c.egov_fault(json!({"mode": "down"})).await,
        "network-up" => c.egov_fault(json!({"mode": "none"})).await,
        _ => Err(anyhow::anyhow!("unknown action")),
    };
    match r {
        Ok(()) => json!({"ok": true}).to_string().into_response(),
        Err(e) => (
            axum::http::StatusCode::BAD_REQUEST,
            json!({"ok": false, "error": e.to_string()}).to_string(),
        )
            .into_response(),
    }
}

const PANEL: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kiosk simulation panel</title>
<style>body{font:16px system-ui,sans-serif;margin:2rem;max-width:40rem}
button{font-size:1rem;margin:.25rem;padding:.5rem 1rem}h2{margin-top:1.5rem}</style></head>
<body><h1>Simulation panel</h1>
<p>Plays the world around the kiosk: the citizen's money, the printer, the network.</p>
<h2>Coins</h2>
<button data-a="coin" data-v="10">10원</button><button data-a="coin" data-v="50">50원</button>
<button data-a="coin" data-v="100">100원</button><button data-a="coin" data-v="500">500원</button>
<h2>Notes</h2>
<button data-a="note" data-v="1000">1,000원</button><button data-a="note" data-v="5000">5,000원</button>
<button data-a="note" data-v="10000">10,000원</button><button data-a="pull-back">Pull the next note back (fraud)</button>
<h2>A4 printer</h2>
<button data-a="jam" data-v="0">Jam the next job at once</button><button data-a="jam" data-v="1">Jam after 1 page</button>
<button data-a="clear-jam">Clear</button><button data-a="toner-empty">Toner empty</button><button data-a="toner-ok">Toner ok</button>
<h2>Hoppers</h2>
<button data-a="empty-hopper" data-v="100">Empty the 100원 hopper</button><button data-a="empty-hopper" data-v="500">Empty the 500원 hopper</button>
<h2>I/O board</h2>
<button data-a="earphone-in">Plug earphones in</button><button data-a="earphone-out">Unplug them</button>
<button data-a="door-open">Open the front door</button><button data-a="door-close">Close it</button>
<h2>Network</h2>
<button data-a="network-down">Cut the e-government network</button><button data-a="network-up">Restore it</button>
<p id="out" role="status"></p>
<script>
document.querySelectorAll('button').forEach(b => b.onclick = async () => {
  const q = new URLSearchParams({what: b.dataset.a}); if (b.dataset.v) q.set('value', b.dataset.v);
  const r = await fetch('/sim?' + q, {method: 'POST'});
  document.getElementById('out').textContent = b.textContent + ': ' + (await r.text());
});
</script></body></html>"#;
