//! The shipping hopper driver against the simulated hopper over a real pty.

mod common;

use common::{bus, line, until};
use kiosk_core::Coin;
use kiosk_devices::api::{Completion, CompletionCode, DeviceHandle, Event, QueueSizes};
use kiosk_devices::cctalk::frame::ChecksumKind;
use kiosk_devices::cctalk::hopper::{
    self, DispenseAuth, HopperCommand, HopperConfig, HopperEvent, HopperPayload, Settlement,
};
use kiosk_devices::cctalk::{HopperStatus, header};
use kiosk_devices::link::{SerialLink, pty_pair};
use kiosk_devices::sim::{HopperSim, LineFault, SimCommand};
use serialport::TTYPort;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

type Handle = DeviceHandle<HopperCommand, HopperPayload>;

struct Rig {
    sim: HopperSim,
    h: Handle,
    rx: Receiver<Event<HopperEvent>>,
    /// The status reported with Ready.
    ready: HopperStatus,
}

fn hopper_config(level: u32, auth: DispenseAuth) -> HopperConfig {
    let mut config = HopperConfig::new(5, Coin::W100);
    config.bus = bus(true, ChecksumKind::Simple);
    config.auth = auth;
    config.initial = level;
    config.status_interval = Duration::from_millis(5);
    config.per_coin_timeout = Duration::from_millis(300);
    config
}

/// Waits for Ready and returns its status.
async fn ready(rx: &mut Receiver<Event<HopperEvent>>) -> HopperStatus {
    let (e, _) = until(rx, |e| matches!(e, HopperEvent::Ready { .. })).await;
    let HopperEvent::Ready { identity, status } = e else {
        unreachable!()
    };
    assert_eq!(identity.category, "Payout");
    status
}

async fn rig(
    level: u32,
    sim_auth: DispenseAuth,
    driver_auth: DispenseAuth,
    pay_every: Duration,
) -> Rig {
    let (sim, host) = HopperSim::spawn(
        line(5, true, ChecksumKind::Simple),
        Coin::W100,
        level,
        sim_auth,
        pay_every,
    )
    .expect("pty");
    let config = hopper_config(level, driver_auth);
    let (h, mut rx) = hopper::spawn(SerialLink::new(host), config, QueueSizes::default());
    let ready = ready(&mut rx).await;
    Rig { sim, h, rx, ready }
}

async fn dispense(r: &Rig, count: u32) -> (Completion<HopperPayload>, Settlement) {
    let c =
        r.h.call(HopperCommand::Dispense { count })
            .await
            .expect("ack");
    let Some(HopperPayload::Settled(s)) = c.payload else {
        panic!("no settlement: {c:?}")
    };
    assert_eq!(s.paid + s.unpaid, count);
    (c, s)
}

async fn fast() -> Rig {
    rig(
        100,
        DispenseAuth::NoEncryption,
        DispenseAuth::NoEncryption,
        Duration::from_millis(1),
    )
    .await
}

#[tokio::test]
async fn dispenses_and_books_the_cash_unit() {
    let r = fast().await;
    let (c, s) = dispense(&r, 5).await;
    assert_eq!(c.code, CompletionCode::Success, "{c:?}");
    assert_eq!((s.paid, s.unpaid), (5, 0));
    let st = r.sim.state();
    assert_eq!((st.level, st.paid_total, st.dispense_commands), (95, 5, 1));
    // The settlement carries the hopper's own dispense counter: the dispense's key.
    assert_eq!(s.counter, st.counter);
    assert_eq!(s.counter, 1);
    let u = r.h.call(HopperCommand::CashUnits).await.expect("ack");
    let Some(HopperPayload::CashUnits(u)) = u.payload else {
        panic!()
    };
    assert_eq!((u[0].initial, u[0].out_count, u[0].count()), (100, 5, 95));
}

#[tokio::test]
async fn a_lost_dispense_reply_pays_exactly_once() {
    let mut r = fast().await;
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: header::DISPENSE,
                count: 1,
            },
        })
        .expect("sim");
    let before = r.sim.state();
    let (c, s) = dispense(&r, 7).await;
    assert_eq!(c.code, CompletionCode::Success, "{c:?}");
    assert_eq!((s.paid, s.unpaid), (7, 0));
    let after = r.sim.state();
    assert_eq!(before.level - after.level, 7);
    assert_eq!(after.dispense_commands - before.dispense_commands, 1);
    let (_, _) = until(&mut r.rx, |e| matches!(e, HopperEvent::DispenseReplyLost)).await;
}

#[tokio::test]
async fn a_corrupt_dispense_reply_pays_exactly_once() {
    let r = fast().await;
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::CorruptReplyTo {
                header: header::DISPENSE,
                count: 1,
            },
        })
        .expect("sim");
    let (c, s) = dispense(&r, 4).await;
    assert_eq!(c.code, CompletionCode::Success, "{c:?}");
    assert_eq!(s.paid, 4);
    assert_eq!(
        (r.sim.state().level, r.sim.state().dispense_commands),
        (96, 1)
    );
}

#[tokio::test]
async fn an_empty_hopper_settles_the_shortfall() {
    let mut r = rig(
        3,
        DispenseAuth::NoEncryption,
        DispenseAuth::NoEncryption,
        Duration::from_millis(1),
    )
    .await;
    let (c, s) = dispense(&r, 5).await;
    assert_eq!(c.code, CompletionCode::HardwareError);
    assert_eq!((s.paid, s.unpaid), (3, 2));
    until(&mut r.rx, |e| matches!(e, HopperEvent::Empty)).await;
    r.sim
        .apply(SimCommand::RefillHopper { coins: 10 })
        .expect("sim");
    let (c, s) = dispense(&r, 2).await;
    assert!(c.is_success(), "{c:?}");
    assert_eq!(s.paid, 2);
    assert_eq!(r.sim.state().paid_total, 5);
}

#[tokio::test]
async fn serial_number_variant_and_a_refused_dispense() {
    let r = rig(
        50,
        DispenseAuth::SerialNumber,
        DispenseAuth::SerialNumber,
        Duration::from_millis(1),
    )
    .await;
    let (c, s) = dispense(&r, 3).await;
    assert!(c.is_success(), "{c:?}");
    assert_eq!(s.paid, 3);
    // A driver speaking the wrong variant is refused (NAK): nothing paid, nothing resent.
    let r = rig(
        50,
        DispenseAuth::NoEncryption,
        DispenseAuth::SerialNumber,
        Duration::from_millis(1),
    )
    .await;
    let (c, s) = dispense(&r, 3).await;
    assert_eq!(c.code, CompletionCode::HardwareError);
    assert_eq!((s.paid, s.unpaid), (0, 3));
    assert_eq!(r.sim.state().dispense_commands, 0);
}

#[tokio::test]
async fn cancel_stops_the_hopper_and_settles_what_left() {
    let mut r = rig(
        100,
        DispenseAuth::NoEncryption,
        DispenseAuth::NoEncryption,
        Duration::from_millis(20),
    )
    .await;
    let pending =
        r.h.submit(HopperCommand::Dispense { count: 60 })
            .expect("ack");
    until(
        &mut r.rx,
        |e| matches!(e, HopperEvent::Progress { paid, .. } if *paid >= 2),
    )
    .await;
    r.h.cancel(pending.id());
    let c = pending.completion().await;
    assert_eq!(c.code, CompletionCode::Canceled);
    let Some(HopperPayload::Settled(s)) = c.payload else {
        panic!()
    };
    assert!(s.paid >= 2 && s.paid < 60, "{s:?}");
    assert_eq!(s.paid + s.unpaid, 60);
    assert_eq!(r.sim.state().paid_total, s.paid);
}

#[tokio::test]
async fn jam_fraud_and_levels_are_reported() {
    let mut r = fast().await;
    r.sim.apply(SimCommand::Jam).expect("sim");
    let (c, s) = dispense(&r, 3).await;
    assert_eq!(c.code, CompletionCode::HardwareError);
    assert_eq!(s.paid, 0);
    until(&mut r.rx, |e| matches!(e, HopperEvent::Jam)).await;
    r.sim.apply(SimCommand::ClearJam).expect("sim");
    r.sim.apply(SimCommand::Fraud).expect("sim");
    let t = r.h.call(HopperCommand::Test).await.expect("ack");
    let Some(HopperPayload::Faults(f)) = t.payload else {
        panic!()
    };
    assert!(f.fraud());
    r.sim
        .apply(SimCommand::RefillHopper { coins: 5 })
        .expect("sim");
    let l = r.h.call(HopperCommand::Levels).await.expect("ack");
    let Some(HopperPayload::Levels(l)) = l.payload else {
        panic!()
    };
    assert!(l.low && l.low_supported);
}

#[tokio::test]
async fn large_payouts_go_in_batches() {
    let r = rig(
        400,
        DispenseAuth::NoEncryption,
        DispenseAuth::NoEncryption,
        Duration::from_micros(200),
    )
    .await;
    let (c, s) = dispense(&r, 300).await;
    assert!(c.is_success(), "{c:?}");
    assert_eq!(s.paid, 300);
    let st = r.sim.state();
    assert_eq!((st.level, st.dispense_commands), (100, 2));
    // The counter after the last batch.
    assert_eq!((s.counter, st.counter), (2, 2));
}

#[tokio::test]
async fn fault_matrix() {
    let r = fast().await;
    let faults = vec![
        SimCommand::Line {
            fault: LineFault::Garbage {
                bytes: vec![0x01, 0x10, 0x77, 0x00],
            },
        },
        SimCommand::Line {
            fault: LineFault::CorruptReplies { count: 2 },
        },
        SimCommand::Line {
            fault: LineFault::DropReplies { count: 2 },
        },
        SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: header::DISPENSE,
                count: 1,
            },
        },
        SimCommand::Line {
            fault: LineFault::CorruptReplyTo {
                header: header::DISPENSE,
                count: 1,
            },
        },
        SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: header::HOPPER_STATUS,
                count: 2,
            },
        },
        SimCommand::Line {
            fault: LineFault::DelayReplies { ms: 90, count: 1 },
        },
        SimCommand::Reset,
    ];
    for fault in faults {
        let before = r.sim.state();
        r.sim.apply(fault.clone()).expect("sim");
        let (c, s) = dispense(&r, 3).await;
        let after = r.sim.state();
        // Whatever happened, the settlement matches the coins that physically left, and
        // the dispense was sent at most once.
        assert_eq!(after.paid_total - before.paid_total, s.paid, "{fault:?}");
        assert!(
            after.dispense_commands - before.dispense_commands <= 1,
            "{fault:?}"
        );
        let delayed = matches!(
            fault,
            SimCommand::Line {
                fault: LineFault::DelayReplies { .. }
            }
        );
        if delayed && !c.is_success() {
            // On a loaded machine a late reply can outlast every retry; the dispense must
            // then have failed safely (checked above) and the next one must work.
            let before = r.sim.state();
            let (c, s) = dispense(&r, 3).await;
            assert!(c.is_success(), "after {fault:?}: {c:?}");
            assert_eq!(r.sim.state().paid_total - before.paid_total, s.paid);
            assert_eq!(s.paid, 3, "after {fault:?}");
            continue;
        }
        assert!(c.is_success(), "{fault:?}: {c:?}");
        assert_eq!(s.paid, 3, "{fault:?}");
    }
}

#[tokio::test]
async fn settlement_counter_is_the_hoppers_counter_even_when_short() {
    let r = rig(
        4,
        DispenseAuth::NoEncryption,
        DispenseAuth::NoEncryption,
        Duration::from_millis(1),
    )
    .await;
    assert_eq!(r.ready.counter, 0);
    for (count, paid) in [(3, 3), (2, 1)] {
        let (_, s) = dispense(&r, count).await;
        let st = r.sim.state();
        assert_eq!((s.paid, s.counter), (paid, st.counter), "{s:?} {st:?}");
    }
    // Empty now: the hopper takes the dispense, pays nothing, and its counter moves.
    let (_, s) = dispense(&r, 1).await;
    assert_eq!((s.paid, s.counter), (0, 3));
    assert_eq!(r.sim.state().counter, 3);
}

#[tokio::test]
async fn ready_carries_the_status_read_at_start_up() {
    let (sim, host) = HopperSim::spawn(
        line(5, true, ChecksumKind::Simple),
        Coin::W100,
        3,
        DispenseAuth::NoEncryption,
        Duration::from_millis(1),
    )
    .expect("pty");
    {
        let (h, mut rx) = hopper::spawn(
            SerialLink::new(host.try_clone_native().expect("clone")),
            hopper_config(3, DispenseAuth::NoEncryption),
            QueueSizes::default(),
        );
        let st = ready(&mut rx).await;
        assert_eq!(
            st,
            HopperStatus {
                counter: 0,
                remaining: 0,
                paid: 0,
                unpaid: 0
            }
        );
        let c = h
            .call(HopperCommand::Dispense { count: 5 })
            .await
            .expect("ack");
        assert_eq!(c.code, CompletionCode::HardwareError, "{c:?}");
        drop(h);
        while rx.recv().await.is_some() {}
    }
    // The next driver reports what the last dispense paid and did not pay.
    let (_h, mut rx) = hopper::spawn(
        SerialLink::new(host),
        hopper_config(3, DispenseAuth::NoEncryption),
        QueueSizes::default(),
    );
    let st = ready(&mut rx).await;
    let sim = sim.state();
    assert_eq!(
        st,
        HopperStatus {
            counter: sim.counter,
            remaining: 0,
            paid: sim.paid,
            unpaid: sim.unpaid
        }
    );
    assert_eq!((st.counter, st.paid, st.unpaid), (1, 3, 2));
}

/// A wire between a host's port and the simulator's that the test can cut, as a host that
/// dies (or a pulled cable) leaves the hopper alone. The simulator's port itself stays
/// open for the next host.
struct Wire {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Wire {
    /// Connects a new pty (whose host end is returned) to `device`.
    fn connect(device: TTYPort) -> (Wire, TTYPort) {
        let (near, host) = pty_pair().expect("pty");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut ends = [SerialLink::new(near), SerialLink::new(device)];
            let mut buf = [0u8; 256];
            while !s.load(Ordering::Relaxed) {
                for from in 0..2 {
                    if let Ok(n) = ends[from].read_some(&mut buf, Duration::from_millis(1)) {
                        if n > 0 {
                            let _ = ends[1 - from].write_all(&buf[..n]);
                        }
                    }
                }
            }
        });
        (
            Wire {
                stop,
                thread: Some(thread),
            },
            host,
        )
    }

    fn cut(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("wire thread");
        }
    }
}

#[test]
fn last_dispense_reports_a_payout_the_dead_host_left_running() {
    // 12 coins in the hopper, 20 asked: it pays 12, one every 60 ms, and then cannot pay 8.
    let (sim, host) = HopperSim::spawn(
        line(5, true, ChecksumKind::Simple),
        Coin::W100,
        12,
        DispenseAuth::NoEncryption,
        Duration::from_millis(60),
    )
    .expect("pty");
    let (wire, far) = Wire::connect(host.try_clone_native().expect("clone"));
    // The first host runs on a runtime of its own, abandoned when it "dies": its driver
    // thread may go on talking to the cut wire, as a hung process would.
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    first.block_on(async {
        let (h, mut rx) = hopper::spawn(
            SerialLink::new(far),
            hopper_config(12, DispenseAuth::NoEncryption),
            QueueSizes::default(),
        );
        ready(&mut rx).await;
        let pending = h
            .submit(HopperCommand::Dispense { count: 20 })
            .expect("ack");
        until(
            &mut rx,
            |e| matches!(e, HopperEvent::Progress { paid, .. } if *paid >= 2),
        )
        .await;
        // The host dies mid-way: nothing canceled, nothing stopped, the wire goes dead.
        wire.cut();
        drop((pending, h, rx));
    });
    first.shutdown_background();
    assert!(
        sim.state().remaining > 0,
        "the payout should still be running: {:?}",
        sim.state()
    );

    let second = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    second.block_on(async {
        let (h, mut rx) = hopper::spawn(
            SerialLink::new(host),
            hopper_config(12, DispenseAuth::NoEncryption),
            QueueSizes::default(),
        );
        let at_start = ready(&mut rx).await;
        assert_eq!(at_start.counter, 1);
        let c = h.call(HopperCommand::LastDispense).await.expect("ack");
        assert!(c.is_success(), "{c:?}");
        let Some(HopperPayload::Status(st)) = c.payload else {
            panic!("{c:?}")
        };
        let sim = sim.state();
        assert_eq!(st.remaining, 0);
        assert_eq!(
            (st.counter, st.paid, st.unpaid),
            (sim.counter, sim.paid, sim.unpaid)
        );
        assert_eq!((st.paid, st.unpaid), (12, 8));
        assert_eq!(sim.paid_total, 12);
        assert_eq!(sim.dispense_commands, 1);
    });
}

#[tokio::test]
async fn last_dispense_on_an_idle_hopper_answers_at_once() {
    let r = fast().await;
    let (_, s) = dispense(&r, 4).await;
    let c = r.h.call(HopperCommand::LastDispense).await.expect("ack");
    assert_eq!(
        c.payload,
        Some(HopperPayload::Status(HopperStatus {
            counter: s.counter,
            remaining: 0,
            paid: 4,
            unpaid: 0
        })),
        "{c:?}"
    );
    // A hopper that does not answer: a hardware error, not a made-up status.
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: header::HOPPER_STATUS,
                count: 20,
            },
        })
        .expect("sim");
    let c = r.h.call(HopperCommand::LastDispense).await.expect("ack");
    assert_eq!(c.code, CompletionCode::HardwareError, "{c:?}");
}
