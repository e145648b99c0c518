//! The shipping ESC/POS receipt printer driver against the simulated printer over a real pty.

mod common;

use std::time::Duration;

use common::{PATIENCE, until};
use kiosk_devices::api::{CompletionCode, DeviceHandle, Event, QueueSizes};
use kiosk_devices::escpos::printer::{
    self, ReceiptCommand, ReceiptEvent, ReceiptPayload, ReceiptPrinterConfig,
};
use kiosk_devices::escpos::{Cut, Receipt};
use kiosk_devices::link::SerialLink;
use kiosk_devices::sim::{LineFault, ReceiptPrinterSim, SimCommand};
use tokio::sync::mpsc::Receiver;

type Handle = DeviceHandle<ReceiptCommand, ReceiptPayload>;

struct Rig {
    sim: ReceiptPrinterSim,
    h: Handle,
    rx: Receiver<Event<ReceiptEvent>>,
}

fn config(poll: Duration) -> ReceiptPrinterConfig {
    ReceiptPrinterConfig {
        poll_interval: poll,
        reply_timeout: Duration::from_millis(60),
        settle: Duration::from_millis(10),
        retries: 3,
        offline_after: 2,
        ..ReceiptPrinterConfig::default()
    }
}

async fn rig_with(config: ReceiptPrinterConfig) -> Rig {
    let (sim, host) = ReceiptPrinterSim::spawn(config.model).expect("pty");
    let (h, mut rx) = printer::spawn(SerialLink::new(host), config, QueueSizes::default());
    let (ready, _) = until(&mut rx, |e| matches!(e, ReceiptEvent::Ready(_))).await;
    assert_eq!(ready, ReceiptEvent::Ready(Default::default()));
    Rig { sim, h, rx }
}

/// Polls only when asked: every status request comes from a command.
async fn quiet_rig() -> Rig {
    rig_with(config(Duration::from_secs(3600))).await
}

fn receipt() -> Receipt {
    Receipt {
        lines: vec![
            "무인민원발급기 영수증".into(),
            "주민등록표 등본 1통".into(),
            "수수료      1,200원".into(),
            "받은 금액   5,000원".into(),
            "거스름돈    3,800원".into(),
            "발급번호 1234-5678-9012".into(),
        ],
        iou: Some("미지급 거스름돈 500원: 민원실에서 환불".into()),
        cut: Cut::Partial,
    }
}

async fn print(r: &Rig, receipt: Receipt) -> kiosk_devices::api::Completion<ReceiptPayload> {
    r.h.call(ReceiptCommand::Print(receipt)).await.expect("ack")
}

#[tokio::test]
async fn a_hangul_receipt_prints_and_reads_back_exactly() {
    let r = quiet_rig().await;
    let want = receipt();
    let c = print(&r, want.clone()).await;
    assert!(c.is_success(), "{c:?}");
    let Some(ReceiptPayload::Printed { status, bytes }) = c.payload else {
        panic!("{c:?}")
    };
    assert!(status.can_print() && bytes > 0);
    let printed = r.sim.receipts();
    assert_eq!(printed.len(), 1);
    let mut lines = want.lines.clone();
    lines.push(want.iou.clone().expect("iou"));
    assert_eq!(printed[0].texts(), lines);
    assert_eq!(printed[0].cut, Cut::Partial);
    let iou = printed[0].lines.last().expect("line");
    assert!(iou.emphasized && iou.tall);
    assert!(printed[0].lines[..6].iter().all(|l| !l.emphasized));
    assert!(r.sim.state().uncut.lines.is_empty());

    // A second receipt is a second slip.
    let plain = Receipt {
        lines: vec!["감사합니다".into()],
        iou: None,
        cut: Cut::Full,
    };
    assert!(print(&r, plain).await.is_success());
    let printed = r.sim.receipts();
    assert_eq!(printed.len(), 2);
    assert_eq!(printed[1].texts(), vec!["감사합니다"]);
    assert_eq!(printed[1].cut, Cut::Full);
}

#[tokio::test]
async fn a_receipt_the_printer_cannot_show_is_refused_before_sending() {
    let r = quiet_rig().await;
    let requests = r.sim.state().status_requests;
    let c = print(
        &r,
        Receipt {
            lines: vec!["똠양꿍".into()],
            ..Receipt::default()
        },
    )
    .await;
    assert_eq!(c.code, CompletionCode::InvalidData, "{c:?}");
    assert!(c.detail.contains("KS X 1001"), "{}", c.detail);
    let s = r.sim.state();
    assert!(s.receipts.is_empty() && s.uncut.lines.is_empty());
    assert_eq!(s.status_requests, requests, "nothing was sent");
}

#[tokio::test]
async fn cover_and_paper_are_reported_between_jobs() {
    let mut r = rig_with(config(Duration::from_millis(20))).await;
    r.sim.apply(SimCommand::OpenCover).expect("sim");
    let (e, _) = until(&mut r.rx, |e| matches!(e, ReceiptEvent::StatusChanged(_))).await;
    let ReceiptEvent::StatusChanged(s) = e else {
        unreachable!()
    };
    assert!(s.cover_open && s.offline && !s.paper_end, "{s:?}");
    r.sim.apply(SimCommand::CloseCover).expect("sim");
    let (e, _) = until(
        &mut r.rx,
        |e| matches!(e, ReceiptEvent::StatusChanged(s) if !s.cover_open),
    )
    .await;
    assert_eq!(e, ReceiptEvent::StatusChanged(Default::default()));

    r.sim.apply(SimCommand::PaperNearEnd).expect("sim");
    let (e, _) = until(&mut r.rx, |e| matches!(e, ReceiptEvent::StatusChanged(_))).await;
    let ReceiptEvent::StatusChanged(s) = e else {
        unreachable!()
    };
    assert!(s.paper_near_end && !s.paper_end && s.can_print(), "{s:?}");
    // Near end is a warning: receipts still print.
    assert!(print(&r, receipt()).await.is_success());

    r.sim.apply(SimCommand::PaperEnd).expect("sim");
    let (e, _) = until(
        &mut r.rx,
        |e| matches!(e, ReceiptEvent::StatusChanged(s) if s.paper_end),
    )
    .await;
    let ReceiptEvent::StatusChanged(s) = e else {
        unreachable!()
    };
    assert!(s.stopped_by_paper_end && !s.can_print(), "{s:?}");
}

#[tokio::test]
async fn a_job_is_refused_while_paper_is_out_or_the_cover_open() {
    let r = quiet_rig().await;
    r.sim.apply(SimCommand::PaperEnd).expect("sim");
    let c = print(&r, receipt()).await;
    assert_eq!(c.code, CompletionCode::DeviceNotReady, "{c:?}");
    assert_eq!(c.detail, "receipt not printed: paper end");
    let Some(ReceiptPayload::Status(s)) = c.payload else {
        panic!("{c:?}")
    };
    assert!(s.paper_end);
    let st = r.sim.state();
    assert!(st.receipts.is_empty());
    assert_eq!(
        st.dropped_bytes, 0,
        "no job bytes were sent to a printer without paper"
    );

    r.sim.apply(SimCommand::LoadPaper).expect("sim");
    r.sim.apply(SimCommand::OpenCover).expect("sim");
    let c = print(&r, receipt()).await;
    assert_eq!(c.detail, "receipt not printed: cover open");
    r.sim.apply(SimCommand::CloseCover).expect("sim");
    r.sim.apply(SimCommand::PrinterError).expect("sim");
    let c = print(&r, receipt()).await;
    assert_eq!(c.detail, "receipt not printed: printer error");
    r.sim.apply(SimCommand::ClearPrinterError).expect("sim");
    let c = print(&r, receipt()).await;
    assert!(c.is_success(), "{c:?}");
    assert_eq!(r.sim.receipts().len(), 1);
}

#[tokio::test]
async fn garbage_on_the_line_never_fakes_a_status() {
    let mut r = quiet_rig().await;
    // Noise that is not status-shaped, then noise that is (0x7E & 0x93 == 0x12 and would
    // read as offline, cover open, paper end, error).
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::Garbage {
                bytes: vec![0xFF, 0x00, 0xAA],
            },
        })
        .expect("sim");
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::Garbage { bytes: vec![0x7E] },
        })
        .expect("sim");
    let c = r.h.call(ReceiptCommand::Status).await.expect("ack");
    assert_eq!(c.payload, Some(ReceiptPayload::Status(Default::default())));
    let (e, _) = until(&mut r.rx, |e| matches!(e, ReceiptEvent::LineNoise { .. })).await;
    let ReceiptEvent::LineNoise { bytes } = e else {
        unreachable!()
    };
    assert!(bytes >= 4, "{bytes}");
    // A corrupted reply is not believed either.
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::CorruptReplies { count: 1 },
        })
        .expect("sim");
    r.sim.apply(SimCommand::OpenCover).expect("sim");
    let c = r.h.call(ReceiptCommand::Status).await.expect("ack");
    let Some(ReceiptPayload::Status(s)) = c.payload else {
        panic!("{c:?}")
    };
    assert!(s.cover_open && s.offline);
    // And a print still works after all that.
    r.sim.apply(SimCommand::CloseCover).expect("sim");
    assert!(print(&r, receipt()).await.is_success());
    assert_eq!(r.sim.receipts().len(), 1);
}

#[tokio::test]
async fn a_dropped_status_reply_is_retried_then_reported_clearly() {
    let mut r = quiet_rig().await;
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::DropReplies { count: 1 },
        })
        .expect("sim");
    let c = print(&r, receipt()).await;
    assert!(c.is_success(), "{c:?}");
    until(&mut r.rx, |e| *e == ReceiptEvent::StatusRetried).await;
    assert_eq!(r.sim.receipts().len(), 1);

    // Every try of DLE EOT 1 lost (1 + 3 retries): the job is not sent.
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::DropReplyTo {
                header: 1,
                count: 4,
            },
        })
        .expect("sim");
    let c = print(&r, receipt()).await;
    assert_eq!(c.code, CompletionCode::TimeOut, "{c:?}");
    assert_eq!(
        c.detail,
        "receipt not printed: status unknown: no status reply to DLE EOT 1 after 4 tries"
    );
    assert_eq!(
        r.sim.receipts().len(),
        1,
        "nothing printed without a status"
    );
    // The printer answers again: so does the driver.
    assert!(print(&r, receipt()).await.is_success());
    assert_eq!(r.sim.receipts().len(), 2);
}

#[tokio::test]
async fn a_silent_printer_goes_offline_and_comes_back() {
    let mut r = rig_with(config(Duration::from_millis(20))).await;
    // Two polls' worth of lost replies (4 tries each) with offline_after = 2.
    r.sim
        .apply(SimCommand::Line {
            fault: LineFault::DropReplies { count: 8 },
        })
        .expect("sim");
    let (e, _) = until(&mut r.rx, |e| matches!(e, ReceiptEvent::Offline { .. })).await;
    assert_eq!(
        e,
        ReceiptEvent::Offline {
            reason: "no status reply to DLE EOT 1 after 4 tries".into()
        }
    );
    until(&mut r.rx, |e| *e == ReceiptEvent::Online).await;
    let c = tokio::time::timeout(PATIENCE, r.h.call(ReceiptCommand::Status))
        .await
        .expect("in time")
        .expect("ack");
    assert!(c.is_success(), "{c:?}");
}

#[test]
fn control_commands_are_json() {
    let cmd: SimCommand = serde_json::from_str(r#"{"cmd":"paper_end"}"#).expect("json");
    assert_eq!(cmd, SimCommand::PaperEnd);
    let cmd: SimCommand = serde_json::from_str(r#"{"cmd":"open_cover"}"#).expect("json");
    assert_eq!(cmd, SimCommand::OpenCover);
    let cmd: SimCommand =
        serde_json::from_str(r#"{"cmd":"line","fault":{"fault":"drop_replies","count":2}}"#)
            .expect("json");
    assert_eq!(
        cmd,
        SimCommand::Line {
            fault: LineFault::DropReplies { count: 2 }
        }
    );
}
