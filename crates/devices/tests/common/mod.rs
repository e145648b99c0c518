//! Shared helpers for the device tests: fast line settings and event waiting.
#![allow(dead_code)]

use std::time::Duration;

use kiosk_devices::api::Event;
use kiosk_devices::cctalk::bus::BusConfig;
use kiosk_devices::cctalk::frame::ChecksumKind;
use kiosk_devices::sim::cctalk::SimLine;
use tokio::sync::mpsc::Receiver;

/// Upper bound for waiting on anything in a test; never asserted as a duration.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn bus(echo: bool, checksum: ChecksumKind) -> BusConfig {
    BusConfig {
        checksum,
        echo,
        reply_timeout: Duration::from_millis(60),
        inter_byte_gap: Duration::from_millis(20),
        retries: 3,
    }
}

pub fn line(address: u8, echo: bool, checksum: ChecksumKind) -> SimLine {
    SimLine {
        address,
        checksum,
        echo,
    }
}

/// Waits for the first event matching `pred`, returning it and every event before it.
pub async fn until<E: Clone + std::fmt::Debug>(
    rx: &mut Receiver<Event<E>>,
    mut pred: impl FnMut(&E) -> bool,
) -> (E, Vec<E>) {
    let mut before = Vec::new();
    let res = tokio::time::timeout(PATIENCE, async {
        loop {
            let ev = rx.recv().await.expect("device actor stopped");
            if pred(&ev.body) {
                return ev.body;
            }
            before.push(ev.body);
        }
    })
    .await;
    match res {
        Ok(e) => (e, before),
        Err(_) => panic!("no matching event; saw {before:?}"),
    }
}
