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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    let ((coin, _), before) = keyed_credit(rx).await;
    (coin, before)
}

/// The next credit with its counter (the coin's device key).
async fn keyed_credit(rx: &mut Rx) -> ((Coin, u8), Vec<AcceptorEvent>) {
    let (e, before) = until(rx, |e| matches!(e, AcceptorEvent::CoinCredited { .. })).await;
    let AcceptorEvent::CoinCredited { coin, counter, .. } = e else {
        unreachable!()
    };
    ((coin, counter), before)
}

/// The next event, whatever it is.
async fn next(rx: &mut Rx) -> AcceptorEvent {
    until(rx, |_| true).await.0
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
    assert_eq!(
        sim.state().rejected,
        1,
        "the simulator counts the coin it sent back"
    );
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
    // The five events still in the device's buffer are coins: listed with their counters
    // for the suspense account, not credited.
    assert_eq!(
        e,
        AcceptorEvent::EventsLost {
            previous: 0,
            current: 7,
            coins: (3..=7).map(|c| (c, Coin::W100)).collect(),
        }
    );
    assert_eq!(credits_in(&before), 0);
    assert_eq!(
        next(&mut rx).await,
        AcceptorEvent::CounterAdvanced { counter: 7 }
    );
    // The next coin is credited alone: nothing from the gap slips in.
    sim.insert_coin(Coin::W500);
    let ((coin, counter), before) = keyed_credit(&mut rx).await;
    assert_eq!((coin, counter), (Coin::W500, 8));
    assert_eq!(credits_in(&before), 0);
}

#[tokio::test]
async fn events_lost_lists_only_the_buffered_coins_and_counters_wrap_255_to_1() {
    let (sim, _h, mut rx) = start(false, ChecksumKind::Simple, MemoryCounterStore::new()).await;
    // 250 coins, then a reject and a fraud code: the buffer holds three coins and two
    // error events when the driver looks.
    sim.apply(SimCommand::InsertCoins {
        value: 50,
        count: 250,
    })
    .expect("sim");
    sim.apply(SimCommand::ErrorCode { code: 1 }).expect("sim");
    sim.apply(SimCommand::ErrorCode { code: 20 }).expect("sim");
    let (e, before) = until(&mut rx, |e| matches!(e, AcceptorEvent::EventsLost { .. })).await;
    assert_eq!(credits_in(&before), 0);
    assert_eq!(
        e,
        AcceptorEvent::EventsLost {
            previous: 0,
            current: 252,
            coins: vec![(248, Coin::W50), (249, Coin::W50), (250, Coin::W50)],
        }
    );
    assert_eq!(
        next(&mut rx).await,
        AcceptorEvent::CounterAdvanced { counter: 252 }
    );
    // Five coins in one reply: each carries its own event's counter, across the wrap.
    sim.apply(SimCommand::InsertCoins {
        value: 500,
        count: 5,
    })
    .expect("sim");
    let mut keys = Vec::new();
    for _ in 0..5 {
        match next(&mut rx).await {
            AcceptorEvent::CoinCredited { coin, counter, .. } => keys.push((counter, coin)),
            other => panic!("expected a credit, got {other:?}"),
        }
    }
    assert_eq!(
        keys,
        [253, 254, 255, 1, 2].map(|c| (c, Coin::W500)).to_vec()
    );
    assert_eq!(
        next(&mut rx).await,
        AcceptorEvent::CounterAdvanced { counter: 2 }
    );
    assert_eq!(sim.state().counter, 2);
}

#[tokio::test]
async fn a_batch_of_coins_carries_each_coins_own_counter() {
    let store = MemoryCounterStore::new();
    let (sim, _h, mut rx) = start(false, ChecksumKind::Simple, store.clone()).await;
    sim.insert_coin(Coin::W10);
    let ((coin, counter), _) = keyed_credit(&mut rx).await;
    assert_eq!((coin, counter), (Coin::W10, 1));
    assert_eq!(
        next(&mut rx).await,
        AcceptorEvent::CounterAdvanced { counter: 1 }
    );
    // Four coins between two polls: one reply, four events, oldest first.
    sim.apply(SimCommand::InsertCoins {
        value: 100,
        count: 4,
    })
    .expect("sim");
    let mut got = Vec::new();
    for _ in 0..4 {
        match next(&mut rx).await {
            AcceptorEvent::CoinCredited {
                coin,
                position,
                counter,
            } => got.push((counter, coin, position)),
            other => panic!("expected a credit, got {other:?}"),
        }
    }
    assert_eq!(
        got,
        vec![
            (2, Coin::W100, 3),
            (3, Coin::W100, 3),
            (4, Coin::W100, 3),
            (5, Coin::W100, 3)
        ]
    );
    // Then, once, the resume point; the store has it only after that.
    assert_eq!(
        next(&mut rx).await,
        AcceptorEvent::CounterAdvanced { counter: 5 }
    );
    let deadline = Instant::now() + common::PATIENCE;
    while store.get() != Some(5) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(store.get(), Some(5));
}

#[tokio::test]
async fn a_reject_only_batch_still_advances_the_counter() {
    let store = MemoryCounterStore::new();
    let (sim, h, mut rx) = start(false, ChecksumKind::Simple, store.clone()).await;
    h.call(AcceptorCommand::Disable).await.expect("ack");
    sim.insert_coin(Coin::W500);
    sim.apply(SimCommand::ErrorCode { code: 20 }).expect("sim");
    let (e, before) = until(
        &mut rx,
        |e| matches!(e, AcceptorEvent::CounterAdvanced { counter } if *counter != 0),
    )
    .await;
    // No money moved, but the resume point did: the daemon records it.
    assert_eq!(e, AcceptorEvent::CounterAdvanced { counter: 2 });
    assert_eq!(credits_in(&before), 0);
    assert!(
        before.contains(&AcceptorEvent::CoinRejected { code: 2 }),
        "{before:?}"
    );
    assert!(
        before.contains(&AcceptorEvent::FraudAttempt { code: 20 }),
        "{before:?}"
    );
    assert!(sim.state().accepted.is_empty());
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
    let ((coin, counter), before) = keyed_credit(&mut rx).await;
    assert_eq!((coin, counter), (Coin::W50, 3));
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

/// A store whose saves always fail.
struct FailingStore;

impl acceptor::CounterStore for FailingStore {
    fn load(&self) -> Option<u8> {
        None
    }
    fn save(&mut self, _counter: u8) -> Result<(), acceptor::StoreError> {
        Err(acceptor::StoreError("disk full".into()))
    }
}

#[tokio::test]
async fn a_store_that_cannot_save_never_holds_a_credit_back() {
    let (sim, host) = CoinAcceptorSim::spawn(line(2, false, ChecksumKind::Simple)).expect("pty");
    let (h, mut rx) = acceptor::spawn(
        SerialLink::new(host),
        config(false, ChecksumKind::Simple),
        Box::new(FailingStore),
        QueueSizes::default(),
    );
    // Even the baseline cannot be saved: an alarm, not a failed start.
    until(&mut rx, |e| matches!(e, AcceptorEvent::Ready { .. })).await;
    assert_eq!(
        next(&mut rx).await,
        AcceptorEvent::CounterAdvanced { counter: 0 }
    );
    assert!(matches!(
        next(&mut rx).await,
        AcceptorEvent::CounterStoreFailed { .. }
    ));
    let c = h.call(AcceptorCommand::Enable).await.expect("ack");
    assert!(c.is_success(), "{c:?}");
    for (coin, key) in [(Coin::W500, 1), (Coin::W100, 2)] {
        sim.insert_coin(coin);
        // The credit comes first, with its key; the failed save after it is only an alarm.
        assert_eq!(
            next(&mut rx).await,
            AcceptorEvent::CoinCredited {
                coin,
                position: if coin == Coin::W500 { 4 } else { 3 },
                counter: key
            }
        );
        assert_eq!(
            next(&mut rx).await,
            AcceptorEvent::CounterAdvanced { counter: key }
        );
        let AcceptorEvent::CounterStoreFailed { reason, uncredited } = next(&mut rx).await else {
            panic!("expected the store alarm")
        };
        assert!(reason.contains("disk full"), "{reason}");
        assert!(uncredited.is_empty());
        // The acceptor keeps taking coins: the daemon's journal is the real store.
        assert!(sim.state().accepting);
    }
    assert_eq!(sim.state().accepted, vec![Coin::W500, Coin::W100]);
}

/// A store that records, for every save, whether the test had already received the credit
/// of that counter; it waits a while for the test before it decides.
#[derive(Clone, Default)]
struct WitnessStore {
    /// Counters of the credits the test has received.
    reported: Arc<Mutex<Vec<u8>>>,
    /// `(counter, was its credit already reported?)` per save.
    saves: Arc<Mutex<Vec<(u8, bool)>>>,
}

impl acceptor::CounterStore for WitnessStore {
    fn load(&self) -> Option<u8> {
        Some(0)
    }
    fn save(&mut self, counter: u8) -> Result<(), acceptor::StoreError> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let seen = loop {
            if self.reported.lock().expect("lock").contains(&counter) {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        self.saves.lock().expect("lock").push((counter, seen));
        Ok(())
    }
}

#[tokio::test]
async fn the_counter_is_saved_only_after_the_credit_is_reported() {
    let store = WitnessStore::default();
    let (sim, host) = CoinAcceptorSim::spawn(line(2, false, ChecksumKind::Simple)).expect("pty");
    let (h, mut rx) = acceptor::spawn(
        SerialLink::new(host),
        config(false, ChecksumKind::Simple),
        Box::new(store.clone()),
        QueueSizes::default(),
    );
    until(&mut rx, |e| matches!(e, AcceptorEvent::Ready { .. })).await;
    h.call(AcceptorCommand::Enable).await.expect("ack");
    for (coin, key) in [(Coin::W100, 1u8), (Coin::W10, 2)] {
        sim.insert_coin(coin);
        let ((got, counter), _) = keyed_credit(&mut rx).await;
        assert_eq!((got, counter), (coin, key));
        store.reported.lock().unwrap().push(counter);
        until(&mut rx, |e| {
            matches!(e, AcceptorEvent::CounterAdvanced { .. })
        })
        .await;
    }
    let deadline = Instant::now() + common::PATIENCE;
    while store.saves.lock().unwrap().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Each save came after its credit was in the daemon's hands, never before.
    assert_eq!(*store.saves.lock().unwrap(), vec![(1, true), (2, true)]);
}
