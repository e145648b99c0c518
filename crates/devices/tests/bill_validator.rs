//! The shipping SSP bill validator driver against the simulated validator over a real pty.

mod common;

use common::until;
use kiosk_core::Note;
use kiosk_devices::api::{CompletionCode, DeviceHandle, Event, QueueSizes};
use kiosk_devices::link::SerialLink;
use kiosk_devices::sim::validator::DEFAULT_SERIAL;
use kiosk_devices::sim::{LineFault, SimCommand, ValidatorSim};
use kiosk_devices::ssp::cmd;
use kiosk_devices::ssp::validator::{
    self, NoteEvent, ValidatorCommand, ValidatorConfig, ValidatorPayload,
};
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

type Handle = DeviceHandle<ValidatorCommand, ValidatorPayload>;

struct Rig {
    sim: ValidatorSim,
    h: Handle,
    rx: Receiver<Event<NoteEvent>>,
}

async fn rig_with(config: ValidatorConfig) -> Rig {
    let (sim, host) = ValidatorSim::spawn(0).expect("pty");
    rig_on(sim, host, config).await
}

/// Starts a driver on `host`, checks its start-up reports and enables it.
async fn rig_on(sim: ValidatorSim, host: serialport::TTYPort, config: ValidatorConfig) -> Rig {
    let (h, mut rx) = validator::spawn(SerialLink::new(host), config, QueueSizes::default());
    let (ready, _) = until(&mut rx, |e| matches!(e, NoteEvent::Ready(_))).await;
    let NoteEvent::Ready(setup) = ready else {
        unreachable!()
    };
    assert_eq!(setup.channels, vec![1_000, 5_000, 10_000, 50_000]);
    assert_eq!(setup.country, "KRW");
    // Right after Ready: who it is and where its stacked counter stands.
    let (id, _) = until(&mut rx, |_| true).await;
    let state = sim.state();
    assert_eq!(
        id,
        NoteEvent::Identified {
            serial: state.serial,
            stacked: state.stacked_counter
        }
    );
    let c = h.call(ValidatorCommand::Enable).await.expect("ack");
    assert!(c.is_success(), "{c:?}");
    Rig { sim, h, rx }
}

/// Waits for the next credit: its note and stacked count.
async fn credited(r: &mut Rig) -> ((Note, u32), Vec<NoteEvent>) {
    let (e, before) = until(&mut r.rx, |e| matches!(e, NoteEvent::Credited { .. })).await;
    let NoteEvent::Credited { note, stacked } = e else {
        unreachable!()
    };
    ((note, stacked), before)
}

fn config() -> ValidatorConfig {
    ValidatorConfig {
        poll_interval: Duration::from_millis(10),
        reply_timeout: Duration::from_millis(60),
        ..ValidatorConfig::default()
    }
}

async fn rig() -> Rig {
    rig_with(config()).await
}

fn credits(events: &[NoteEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, NoteEvent::Credited { .. }))
        .count()
}

async fn escrow(r: &mut Rig, value: u64) -> Vec<NoteEvent> {
    r.sim.insert_note(value).expect("sim");
    let (e, mut before) = until(&mut r.rx, |e| matches!(e, NoteEvent::Escrowed(_))).await;
    assert_eq!(
        e,
        NoteEvent::Escrowed(Note::from_value(kiosk_core::Won::new(value)).expect("note"))
    );
    assert_eq!(credits(&before), 0, "{before:?}");
    before.push(e);
    before
}

#[tokio::test]
async fn a_held_note_stacks_and_credits_once() {
    let mut r = rig().await;
    assert!(r.sim.state().enabled);
    assert_eq!(r.sim.state().inhibit_mask, 0b1111);
    escrow(&mut r, 10_000).await;
    // The kiosk takes its time: the driver holds the note (HOLD, not POLL).
    let polls = r.sim.state().polls;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.sim.state().escrow, Some(10_000));
    assert_eq!(
        r.sim.state().polls,
        polls,
        "a POLL would have stacked the note"
    );
    let c = r.h.call(ValidatorCommand::Stack).await.expect("ack");
    assert_eq!(
        c.payload,
        Some(ValidatorPayload::Stacked {
            note: Note::W10000,
            stacked: 1
        }),
        "{c:?}"
    );
    let ((note, stacked), before) = credited(&mut r).await;
    assert_eq!((note, stacked), (Note::W10000, 1));
    assert!(before.contains(&NoteEvent::Stacking));
    assert_eq!(r.sim.state().stacked, vec![10_000]);
    let u = r.h.call(ValidatorCommand::CashUnits).await.expect("ack");
    let Some(ValidatorPayload::CashUnits(u)) = u.payload else {
        panic!()
    };
    let unit = u.iter().find(|u| u.value.get() == 10_000).expect("unit");
    assert_eq!(unit.count(), 1);
}

#[tokio::test]
async fn a_returned_note_is_never_credited() {
    let mut r = rig().await;
    escrow(&mut r, 50_000).await;
    let c = r.h.call(ValidatorCommand::Return).await.expect("ack");
    assert_eq!(
        c.payload,
        Some(ValidatorPayload::Returned(Note::W50000)),
        "{c:?}"
    );
    assert_eq!(r.sim.state().returned, vec![50_000]);
    assert!(r.sim.state().stacked.is_empty());
    // Then a note that is stacked: the only credit seen is that one.
    escrow(&mut r, 1_000).await;
    let c = r.h.call(ValidatorCommand::Stack).await.expect("ack");
    assert!(c.is_success());
    let ((note, _), before) = credited(&mut r).await;
    assert_eq!(note, Note::W1000);
    assert_eq!(credits(&before), 0);
    let c = r.h.call(ValidatorCommand::Stack).await.expect("ack");
    assert_eq!(c.code, CompletionCode::SequenceError);
}

#[tokio::test]
async fn a_note_pulled_back_while_stacking_is_fraud_not_credit() {
    let mut r = rig().await;
    escrow(&mut r, 5_000).await;
    r.sim.apply(SimCommand::PullBackNextNote).expect("sim");
    let c = r.h.call(ValidatorCommand::Stack).await.expect("ack");
    assert_eq!(c.code, CompletionCode::FraudAttempt, "{c:?}");
    let (e, before) = until(&mut r.rx, |e| matches!(e, NoteEvent::FraudAttempt { .. })).await;
    assert_eq!(
        e,
        NoteEvent::FraudAttempt {
            note: Some(Note::W5000)
        }
    );
    assert_eq!(credits(&before), 0);
    assert!(r.sim.state().stacked.is_empty());
    // Nothing is credited afterwards either: the next credit is the next note's.
    escrow(&mut r, 1_000).await;
    r.h.call(ValidatorCommand::Stack).await.expect("ack");
    let ((note, stacked), before) = credited(&mut r).await;
    // The pulled-back note never counted as stacked.
    assert_eq!((note, stacked), (Note::W1000, 1));
    assert_eq!(credits(&before), 0);
}

#[tokio::test]
async fn an_undecided_note_is_returned_after_the_escrow_timeout() {
    let mut r = rig_with(ValidatorConfig {
        escrow_timeout: Duration::from_millis(80),
        ..config()
    })
    .await;
    escrow(&mut r, 1_000).await;
    let (_, before) = until(&mut r.rx, |e| matches!(e, NoteEvent::Returned)).await;
    assert!(before.contains(&NoteEvent::EscrowTimeout));
    assert_eq!(credits(&before), 0);
    assert_eq!(r.sim.state().returned, vec![1_000]);
}

#[tokio::test]
async fn device_events_are_reported() {
    let mut r = rig().await;
    r.sim.apply(SimCommand::RemoveCashbox).expect("sim");
    until(&mut r.rx, |e| matches!(e, NoteEvent::CashboxRemoved)).await;
    r.sim.apply(SimCommand::ReplaceCashbox).expect("sim");
    until(&mut r.rx, |e| matches!(e, NoteEvent::CashboxReplaced)).await;
    r.sim.apply(SimCommand::FillStacker).expect("sim");
    until(&mut r.rx, |e| matches!(e, NoteEvent::StackerFull)).await;
    // A full stacker refuses the note: read, rejected, no escrow, no credit.
    r.sim.insert_note(1_000).expect("sim");
    let (_, before) = until(&mut r.rx, |e| matches!(e, NoteEvent::Returned)).await;
    assert_eq!(credits(&before), 0);
    assert!(!before.iter().any(|e| matches!(e, NoteEvent::Escrowed(_))));
    r.sim.apply(SimCommand::EmptyStacker).expect("sim");
    r.sim.apply(SimCommand::Jam).expect("sim");
    let (e, _) = until(&mut r.rx, |e| matches!(e, NoteEvent::Jam { .. })).await;
    assert_eq!(e, NoteEvent::Jam { safe: false });
    r.sim.apply(SimCommand::ClearJam).expect("sim");
    r.sim.apply(SimCommand::Fraud).expect("sim");
    until(&mut r.rx, |e| matches!(e, NoteEvent::FraudAttempt { .. })).await;
    // Disable: the device says so once.
    r.h.call(ValidatorCommand::Disable).await.expect("ack");
    until(&mut r.rx, |e| matches!(e, NoteEvent::Disabled)).await;
    assert!(!r.sim.state().enabled);
}

#[tokio::test]
async fn a_device_reset_runs_start_up_again() {
    let mut r = rig().await;
    escrow(&mut r, 10_000).await;
    r.sim.apply(SimCommand::Reset).expect("sim");
    // HOLD fails after a reset (no escrow, sequence lost); the driver re-syncs, polls and
    // sees the reset.
    let (_, before) = until(&mut r.rx, |e| matches!(e, NoteEvent::DeviceReset)).await;
    assert_eq!(credits(&before), 0);
    until(&mut r.rx, |e| matches!(e, NoteEvent::Ready(_))).await;
    // Start-up ran again: enabled with the channel inhibits.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let s = r.sim.state();
    assert!(s.enabled);
    assert_eq!(s.inhibit_mask, 0b1111);
    escrow(&mut r, 5_000).await;
    let c = r.h.call(ValidatorCommand::Stack).await.expect("ack");
    assert_eq!(
        c.payload,
        Some(ValidatorPayload::Stacked {
            note: Note::W5000,
            stacked: 1
        })
    );
}

#[tokio::test]
async fn a_lost_poll_reply_is_retransmitted_and_credits_once() {
    let mut r = rig().await;
    escrow(&mut r, 50_000).await;
    // The reply to the POLL that carries the credit is lost; the retransmission (same
    // sequence flag) gets the same reply without the device executing the POLL again.
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: cmd::POLL,
                count: 2,
            },
        })
        .expect("sim");
    let c = r.h.call(ValidatorCommand::Stack).await.expect("ack");
    assert_eq!(
        c.payload,
        Some(ValidatorPayload::Stacked {
            note: Note::W50000,
            stacked: 1
        }),
        "{c:?}"
    );
    let (_, before) = credited(&mut r).await;
    assert_eq!(credits(&before), 0);
    assert!(before.contains(&NoteEvent::Retransmitted));
    // Exactly one note stacked, exactly one credit: the next credit is the next note's.
    escrow(&mut r, 1_000).await;
    r.h.call(ValidatorCommand::Stack).await.expect("ack");
    let ((note, stacked), before) = credited(&mut r).await;
    assert_eq!((note, stacked), (Note::W1000, 2));
    assert_eq!(credits(&before), 0);
    assert_eq!(r.sim.state().stacked, vec![50_000, 1_000]);
}

#[tokio::test]
async fn fault_matrix() {
    let mut r = rig().await;
    let faults = vec![
        SimCommand::Line {
            fault: LineFault::Garbage {
                bytes: vec![0x7F, 0x00, 0x05, 0xEE, 0x01],
            },
        },
        SimCommand::Line {
            fault: LineFault::Garbage {
                bytes: vec![0x12, 0x34, 0x7F, 0x7F],
            },
        },
        SimCommand::Line {
            fault: LineFault::CorruptReplies { count: 2 },
        },
        SimCommand::Line {
            fault: LineFault::DropReplies { count: 2 },
        },
        SimCommand::Line {
            fault: LineFault::CorruptReplyTo {
                header: cmd::POLL,
                count: 3,
            },
        },
        SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: cmd::HOLD,
                count: 2,
            },
        },
        SimCommand::Line {
            fault: LineFault::DelayReplies { ms: 90, count: 1 },
        },
        SimCommand::Reset,
    ];
    let values = [1_000u64, 5_000, 10_000, 50_000];
    let mut notes = Vec::new();
    for (i, fault) in faults.into_iter().enumerate() {
        r.sim.apply(fault.clone()).expect("sim");
        if fault == SimCommand::Reset {
            until(&mut r.rx, |e| matches!(e, NoteEvent::Ready(_))).await;
        }
        let v = values[i % 4];
        r.sim.insert_note(v).expect("sim");
        let (_, before) = until(&mut r.rx, |e| matches!(e, NoteEvent::Escrowed(_))).await;
        assert_eq!(credits(&before), 0, "{fault:?}: {before:?}");
        let c = r.h.call(ValidatorCommand::Stack).await.expect("ack");
        assert!(c.is_success(), "{fault:?}: {c:?}");
        let ((n, stacked), before) = credited(&mut r).await;
        assert_eq!(credits(&before), 0, "{fault:?}");
        // Whatever the line did, the key is the device's own count.
        assert_eq!(stacked, r.sim.state().stacked_counter, "{fault:?}");
        notes.push(n.value().get());
    }
    assert_eq!(notes, r.sim.state().stacked);
}

#[tokio::test]
async fn credits_carry_stacked_counts_one_up_per_note_across_a_restart() {
    let (sim, host) = ValidatorSim::spawn(0).expect("pty");
    let clone = host.try_clone_native().expect("clone");
    let mut r = rig_on(sim, clone, config()).await;
    assert_eq!(r.sim.state().serial, DEFAULT_SERIAL);
    let mut keys = Vec::new();
    for v in [1_000u64, 50_000, 1_000] {
        escrow(&mut r, v).await;
        let c = r.h.call(ValidatorCommand::Stack).await.expect("ack");
        let ((note, stacked), _) = credited(&mut r).await;
        assert_eq!(
            c.payload,
            Some(ValidatorPayload::Stacked { note, stacked }),
            "{c:?}"
        );
        assert_eq!(stacked, r.sim.state().stacked_counter);
        keys.push(stacked);
    }
    assert_eq!(keys, vec![1, 2, 3]);
    // A returned note is not stacked: no key is used up.
    escrow(&mut r, 5_000).await;
    r.h.call(ValidatorCommand::Return).await.expect("ack");
    let Rig { sim, h, mut rx } = r;
    drop(h);
    while rx.recv().await.is_some() {}
    // The next driver starts from the device's counter (checked in rig_on) and goes on.
    let mut r = rig_on(sim, host, config()).await;
    escrow(&mut r, 10_000).await;
    r.h.call(ValidatorCommand::Stack).await.expect("ack");
    let ((note, stacked), _) = credited(&mut r).await;
    assert_eq!((note, stacked), (Note::W10000, 4));
    assert_eq!(r.sim.state().stacked_counter, 4);
    assert_eq!(r.sim.state().rejected_counter, 1);
}

#[tokio::test]
async fn a_note_left_in_escrow_is_returned_by_the_next_driver_not_stacked() {
    let (sim, host) = ValidatorSim::spawn(0).expect("pty");
    let clone = host.try_clone_native().expect("clone");
    let mut r = rig_on(sim, clone, config()).await;
    escrow(&mut r, 50_000).await;
    // The host dies with the note in escrow, undecided.
    let Rig { sim, h, mut rx } = r;
    drop(h);
    while rx.recv().await.is_some() {}
    assert_eq!(sim.state().escrow, Some(50_000));

    let (h, mut rx) = validator::spawn(SerialLink::new(host), config(), QueueSizes::default());
    let (_, before) = until(&mut rx, |e| matches!(e, NoteEvent::Returned)).await;
    assert_eq!(credits(&before), 0, "{before:?}");
    assert!(before.contains(&NoteEvent::Rejecting), "{before:?}");
    let state = sim.state();
    assert_eq!(state.returned, vec![50_000]);
    assert!(state.stacked.is_empty());
    assert_eq!((state.stacked_counter, state.rejected_counter), (0, 1));
    // Polling goes on; nothing reaches the stacker later either.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sim.state().stacked.is_empty());
    let u = h.call(ValidatorCommand::CashUnits).await.expect("ack");
    let Some(ValidatorPayload::CashUnits(u)) = u.payload else {
        panic!()
    };
    assert!(u.iter().all(|u| u.count() == 0), "{u:?}");
}

#[tokio::test]
async fn settle_returns_the_escrowed_note_and_answers_the_devices_counters() {
    let (sim, host) = ValidatorSim::spawn_with_serial(0, 0x1234_5678).expect("pty");
    let mut r = rig_on(sim, host, config()).await;
    for v in [1_000u64, 10_000] {
        escrow(&mut r, v).await;
        r.h.call(ValidatorCommand::Stack).await.expect("ack");
        credited(&mut r).await;
    }
    escrow(&mut r, 5_000).await;
    r.h.call(ValidatorCommand::Return).await.expect("ack");
    // A note waits in escrow when recovery asks.
    escrow(&mut r, 50_000).await;
    let c = r.h.call(ValidatorCommand::Settle).await.expect("ack");
    let state = r.sim.state();
    assert_eq!(
        c.payload,
        Some(ValidatorPayload::Counters {
            serial: 0x1234_5678,
            stacked: state.stacked_counter,
            rejected: state.rejected_counter,
        }),
        "{c:?}"
    );
    assert!(c.is_success(), "{c:?}");
    assert_eq!((state.stacked_counter, state.rejected_counter), (2, 2));
    // The escrowed note went back, reported as usual, and nothing is in motion.
    assert_eq!(state.escrow, None);
    assert_eq!(state.returned, vec![5_000, 50_000]);
    assert_eq!(state.stacked, vec![1_000, 10_000]);
    let (_, before) = until(&mut r.rx, |e| matches!(e, NoteEvent::Returned)).await;
    assert_eq!(credits(&before), 0);
    // Settling an idle validator just reads the counters again.
    let c = r.h.call(ValidatorCommand::Settle).await.expect("ack");
    assert_eq!(
        c.payload,
        Some(ValidatorPayload::Counters {
            serial: 0x1234_5678,
            stacked: 2,
            rejected: 2,
        })
    );
}
