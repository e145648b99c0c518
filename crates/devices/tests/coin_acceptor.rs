//! The shipping coin acceptor driver against the simulated acceptor over a real pty.

mod common;

use common::{bus, line, until};
use kiosk_core::Coin;
use kiosk_devices::api::{CompletionCode, QueueSizes};
use kiosk_devices::cctalk::acceptor::{
    self, AcceptorCommand, AcceptorConfig, AcceptorEvent, AcceptorPayload, MemoryCounterStore,
};
use kiosk_devices::cctalk::frame::ChecksumKind;
use kiosk_devices::link::SerialLink;
use kiosk_devices::sim::{CoinAcceptorSim, LineFault, SimCommand};
use std::time::Duration;

fn config(echo: bool, checksum: ChecksumKind) -> AcceptorConfig {
    AcceptorConfig {
        bus: bus(echo, checksum),
        poll_interval: Duration::from_millis(15),
        ..AcceptorConfig::default()
    }
}

type Rx = tokio::sync::mpsc::Receiver<kiosk_devices::api::Event<AcceptorEvent>>;
type Handle = kiosk_devices::api::DeviceHandle<AcceptorCommand, AcceptorPayload>;

async fn start(
    echo: bool,
    checksum: ChecksumKind,
    store: MemoryCounterStore,
) -> (CoinAcceptorSim, Handle, Rx) {
    let (sim, host) = CoinAcceptorSim::spawn(line(2, echo, checksum)).expect("pty");
    let (h, mut rx) = acceptor::spawn(
        SerialLink::new(host),
        config(echo, checksum),
        Box::new(store),
        QueueSizes::default(),
    );
    until(&mut rx, |e| matches!(e, AcceptorEvent::Ready { .. })).await;
    let c = h.call(AcceptorCommand::Enable).await.expect("ack");
    assert_eq!(c.code, CompletionCode::Success, "{c:?}");
    (sim, h, rx)
}

async fn credit(rx: &mut Rx) -> (Coin, Vec<AcceptorEvent>) {
    let (e, before) = until(rx, |e| matches!(e, AcceptorEvent::CoinCredited { .. })).await;
    let AcceptorEvent::CoinCredited { coin, .. } = e else {
        unreachable!()
    };
    (coin, before)
}

fn credits_in(events: &[AcceptorEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, AcceptorEvent::CoinCredited { .. }))
        .count()
}

async fn credits_each_coin_once_with(echo: bool, checksum: ChecksumKind) {
    let (sim, h, mut rx) = start(echo, checksum, MemoryCounterStore::new()).await;
    let identity = h.call(AcceptorCommand::Identify).await.expect("ack");
    let Some(AcceptorPayload::Identity(id, coins)) = identity.payload else {
        panic!("{identity:?}")
    };
    assert_eq!(id.category, "Coin Acceptor");
    assert_eq!(id.serial, 0x0A_1B_2C);
    assert_eq!(coins.len(), 4);
    assert!(sim.state().accepting);
    assert_eq!(sim.state().inhibit_mask, 0b1111);

    for coin in [Coin::W100, Coin::W500, Coin::W10, Coin::W100] {
        sim.insert_coin(coin);
        let (got, before) = credit(&mut rx).await;
        assert_eq!(got, coin);
        assert_eq!(credits_in(&before), 0);
    }
    let units = h.call(AcceptorCommand::CashUnits).await.expect("ack");
    let Some(AcceptorPayload::CashUnits(units)) = units.payload else {
        panic!()
    };
    let hundred = units.iter().find(|u| u.value.get() == 100).expect("unit");
    assert_eq!((hundred.in_count, hundred.count()), (2, 2));
}

#[tokio::test]
async fn credits_each_coin_once() {
    credits_each_coin_once_with(false, ChecksumKind::Simple).await;
}

#[tokio::test]
async fn credits_with_echo_on_the_line() {
    credits_each_coin_once_with(true, ChecksumKind::Simple).await;
}

#[tokio::test]
async fn credits_with_crc16_frames() {
    credits_each_coin_once_with(true, ChecksumKind::Crc16).await;
}

#[tokio::test]
async fn disabled_acceptor_rejects_and_credits_nothing() {
    let (sim, h, mut rx) = start(false, ChecksumKind::Simple, MemoryCounterStore::new()).await;
    h.call(AcceptorCommand::Disable).await.expect("ack");
    assert!(!sim.state().accepting);
    sim.insert_coin(Coin::W500);
    let (e, before) = until(&mut rx, |e| matches!(e, AcceptorEvent::CoinRejected { .. })).await;
    assert_eq!(e, AcceptorEvent::CoinRejected { code: 2 });
    assert_eq!(credits_in(&before), 0);
    assert!(sim.state().accepted.is_empty());
}

#[tokio::test]
async fn lost_event_gap_raises_an_alarm_and_credits_nothing() {
    let (sim, _h, mut rx) = start(false, ChecksumKind::Simple, MemoryCounterStore::new()).await;
    sim.apply(SimCommand::InsertCoins {
        value: 100,
        count: 7,
    })
    .expect("sim");
    let (e, before) = until(&mut rx, |e| matches!(e, AcceptorEvent::EventsLost { .. })).await;
    assert_eq!(
        e,
        AcceptorEvent::EventsLost {
            previous: 0,
            current: 7
        }
    );
    assert_eq!(credits_in(&before), 0);
    // The next coin is credited alone: nothing from the gap slips in.
    sim.insert_coin(Coin::W500);
    let (coin, before) = credit(&mut rx).await;
    assert_eq!(coin, Coin::W500);
    assert_eq!(credits_in(&before), 0);
}

#[tokio::test]
async fn fraud_codes_alarm_and_never_credit() {
    let (sim, _h, mut rx) = start(false, ChecksumKind::Simple, MemoryCounterStore::new()).await;
    for code in [20, 17, 254] {
        sim.apply(SimCommand::ErrorCode { code }).expect("sim");
        let (e, before) = until(&mut rx, |e| matches!(e, AcceptorEvent::FraudAttempt { .. })).await;
        assert_eq!(e, AcceptorEvent::FraudAttempt { code });
        assert_eq!(credits_in(&before), 0);
    }
    sim.apply(SimCommand::Jam).expect("sim");
    let (e, _) = until(&mut rx, |e| matches!(e, AcceptorEvent::Jam { .. })).await;
    assert_eq!(e, AcceptorEvent::Jam { code: 14 });
    sim.insert_coin(Coin::W50);
    let (coin, before) = credit(&mut rx).await;
    assert_eq!(coin, Coin::W50);
    assert_eq!(credits_in(&before), 0);
}

#[tokio::test]
async fn garbage_is_reported_resynchronised_and_credits_nothing() {
    let (sim, _h, mut rx) = start(false, ChecksumKind::Simple, MemoryCounterStore::new()).await;
    // Garbage that contains a plausible header and a long length field.
    sim.apply(SimCommand::Line {
        fault: LineFault::Garbage {
            bytes: vec![0x01, 0xC8, 0x02, 0x00, 0x55, 0xAA],
        },
    })
    .expect("sim");
    sim.apply(SimCommand::Line {
        fault: LineFault::CorruptReplies { count: 2 },
    })
    .expect("sim");
    let (_, before) = until(&mut rx, |e| matches!(e, AcceptorEvent::LineNoise { .. })).await;
    assert_eq!(credits_in(&before), 0);
    sim.insert_coin(Coin::W100);
    let (coin, before) = credit(&mut rx).await;
    assert_eq!(coin, Coin::W100);
    assert_eq!(credits_in(&before), 0);
}

#[tokio::test]
async fn device_reset_resends_inhibits_and_credits_nothing() {
    let (sim, _h, mut rx) = start(false, ChecksumKind::Simple, MemoryCounterStore::new()).await;
    sim.insert_coin(Coin::W10);
    credit(&mut rx).await;
    sim.apply(SimCommand::Reset).expect("sim");
    let (_, before) = until(&mut rx, |e| matches!(e, AcceptorEvent::DeviceReset)).await;
    assert_eq!(credits_in(&before), 0);
    // Inhibits and master inhibit were sent again: the next coin is accepted.
    sim.insert_coin(Coin::W500);
    let (coin, before) = credit(&mut rx).await;
    assert_eq!(coin, Coin::W500);
    assert_eq!(credits_in(&before), 0);
    assert!(sim.state().accepting);
    assert_eq!(sim.state().inhibit_mask, 0b1111);
}

#[tokio::test]
async fn a_restart_never_credits_twice() {
    let store = MemoryCounterStore::new();
    let (sim, host) = CoinAcceptorSim::spawn(line(2, false, ChecksumKind::Simple)).expect("pty");
    let mut credited = Vec::new();
    {
        let (h, mut rx) = acceptor::spawn(
            SerialLink::new(host.try_clone_native().expect("clone")),
            config(false, ChecksumKind::Simple),
            Box::new(store.clone()),
            QueueSizes::default(),
        );
        until(&mut rx, |e| matches!(e, AcceptorEvent::Ready { .. })).await;
        h.call(AcceptorCommand::Enable).await.expect("ack");
        sim.insert_coin(Coin::W100);
        sim.insert_coin(Coin::W500);
        credited.push(credit(&mut rx).await.0);
        credited.push(credit(&mut rx).await.0);
        drop(h);
        while rx.recv().await.is_some() {}
    }
    assert_eq!(store.get(), Some(2));
    // A coin drops in while the daemon is down.
    sim.insert_coin(Coin::W50);
    let (h, mut rx) = acceptor::spawn(
        SerialLink::new(host),
        config(false, ChecksumKind::Simple),
        Box::new(store.clone()),
        QueueSizes::default(),
    );
    let (coin, before) = credit(&mut rx).await;
    assert_eq!(coin, Coin::W50);
    assert_eq!(credits_in(&before), 0);
    credited.push(coin);
    h.call(AcceptorCommand::Enable).await.expect("ack");
    sim.insert_coin(Coin::W10);
    let (coin, before) = credit(&mut rx).await;
    assert_eq!(credits_in(&before), 0);
    credited.push(coin);
    assert_eq!(credited, sim.state().accepted);
}

#[tokio::test]
async fn fault_matrix() {
    let (sim, h, mut rx) = start(true, ChecksumKind::Simple, MemoryCounterStore::new()).await;
    let faults = vec![
        SimCommand::Line {
            fault: LineFault::Garbage {
                bytes: vec![0xFF; 40],
            },
        },
        SimCommand::Line {
            fault: LineFault::CorruptReplies { count: 3 },
        },
        SimCommand::Line {
            fault: LineFault::DropReplies { count: 3 },
        },
        SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: 229,
                count: 2,
            },
        },
        SimCommand::Line {
            fault: LineFault::CorruptReplyTo {
                header: 229,
                count: 2,
            },
        },
        SimCommand::Line {
            fault: LineFault::DelayReplies { ms: 90, count: 2 },
        },
        SimCommand::ErrorCode { code: 25 },
        SimCommand::Jam,
        SimCommand::Reset,
    ];
    let mut credited = Vec::new();
    for (i, fault) in faults.into_iter().enumerate() {
        sim.apply(fault.clone()).expect("sim");
        if fault == SimCommand::Reset {
            // A reset acceptor refuses coins until the host has sent the inhibits again.
            until(&mut rx, |e| matches!(e, AcceptorEvent::DeviceReset)).await;
        }
        let coin = Coin::ALL[i % 4];
        sim.insert_coin(coin);
        let (got, before) = credit(&mut rx).await;
        assert_eq!(got, coin, "after {fault:?}");
        assert_eq!(credits_in(&before), 0, "after {fault:?}: {before:?}");
        credited.push(got);
    }
    // Every physical coin was credited exactly once.
    assert_eq!(credited, sim.state().accepted);
    let units = h.call(AcceptorCommand::CashUnits).await.expect("ack");
    let Some(AcceptorPayload::CashUnits(units)) = units.payload else {
        panic!()
    };
    let total: u32 = units.iter().map(|u| u.in_count).sum();
    assert_eq!(total as usize, credited.len());
}

#[tokio::test]
async fn sim_commands_are_json() {
    let cmd: SimCommand =
        serde_json::from_str(r#"{"cmd":"insert_coin","value":500}"#).expect("json");
    assert_eq!(cmd, SimCommand::InsertCoin { value: 500 });
    let cmd: SimCommand = serde_json::from_str(
        r#"{"cmd":"line","fault":{"fault":"drop_reply_to","header":167,"count":1}}"#,
    )
    .expect("json");
    assert_eq!(
        cmd,
        SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: 167,
                count: 1
            }
        }
    );
    let (sim, _host) = CoinAcceptorSim::spawn(line(2, false, ChecksumKind::Simple)).expect("pty");
    assert!(sim.apply(SimCommand::InsertCoin { value: 1000 }).is_err());
    assert!(sim.apply(SimCommand::FillStacker).is_err());
}

/// A store that works `ok` times and then fails.
struct FailingStore {
    ok: u32,
}

impl acceptor::CounterStore for FailingStore {
    fn load(&self) -> Option<u8> {
        None
    }
    fn save(&mut self, _counter: u8) -> Result<(), acceptor::StoreError> {
        if self.ok == 0 {
            return Err(acceptor::StoreError("disk full".into()));
        }
        self.ok -= 1;
        Ok(())
    }
}

#[tokio::test]
async fn a_counter_that_cannot_be_saved_inhibits_and_credits_nothing() {
    let (sim, host) = CoinAcceptorSim::spawn(line(2, false, ChecksumKind::Simple)).expect("pty");
    let (h, mut rx) = acceptor::spawn(
        SerialLink::new(host),
        config(false, ChecksumKind::Simple),
        Box::new(FailingStore { ok: 1 }),
        QueueSizes::default(),
    );
    until(&mut rx, |e| matches!(e, AcceptorEvent::Ready { .. })).await;
    h.call(AcceptorCommand::Enable).await.expect("ack");
    sim.insert_coin(Coin::W500);
    let (e, before) = until(&mut rx, |e| {
        matches!(e, AcceptorEvent::CounterStoreFailed { .. })
    })
    .await;
    assert_eq!(credits_in(&before), 0);
    let AcceptorEvent::CounterStoreFailed { uncredited, .. } = e else {
        unreachable!()
    };
    assert_eq!(uncredited, vec![Coin::W500]);
    assert!(!sim.state().accepting);
}
