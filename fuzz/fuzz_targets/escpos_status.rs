//! Fuzzes the ESC/POS side: status bytes under arbitrary profiles and kinds, the stream
//! parser and receipt reader on arbitrary bytes, and the renderer on arbitrary text.
//! Nothing may panic; a failed status parse changes nothing; line buffers stay bounded; and
//! every receipt that renders reads back as the same text.
#![no_main]

use kiosk_devices::escpos::parse::{Parser, ReceiptReader, read_receipts};
use kiosk_devices::escpos::{
    Cut, HangulMode, PrinterModel, PrinterStatus, Receipt, StatusKind, StatusProfile, render,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Status: the first 8 bytes are a profile, the rest status bytes for each kind.
    if data.len() >= 8 {
        let p = StatusProfile {
            marker_mask: data[0],
            marker_value: data[1],
            offline: data[2],
            cover_open: data[3],
            stopped_by_paper_end: data[4],
            error: data[5],
            paper_near_end: data[6],
            paper_end: data[7],
        };
        let _ = p.check();
        for &b in &data[8..] {
            for kind in StatusKind::ALL {
                let mut s = PrinterStatus::default();
                let before = s;
                if s.apply(&p, kind, b).is_err() {
                    assert_eq!(s, before);
                }
                let mut std = PrinterStatus::default();
                let _ = std.apply(&StatusProfile::STANDARD, kind, b);
                let _ = std.refusal();
            }
            let _ = StatusKind::from_n(b);
        }
    }

    // The printer's side of the stream.
    for hangul in [
        HangulMode::TwoByteMode,
        HangulMode::CodeTable(data.first().copied().unwrap_or(0)),
    ] {
        let mut parser = Parser::new();
        let mut reader = ReceiptReader::new(hangul);
        for &b in data {
            if let Some(c) = parser.push(b) {
                let _ = reader.apply(&c);
            }
            assert!(reader.uncut().lines.len() <= kiosk_devices::escpos::parse::MAX_RECEIPT_LINES);
        }
    }

    // The renderer on arbitrary text, and its round trip.
    let text = String::from_utf8_lossy(data);
    let receipt = Receipt {
        lines: text.split('\n').map(str::to_owned).collect(),
        iou: None,
        cut: Cut::Full,
    };
    let model = PrinterModel::default();
    if let Ok(bytes) = render(&receipt, &model) {
        let printed = read_receipts(&bytes, model.hangul);
        assert_eq!(printed.len(), 1);
        assert_eq!(printed[0].texts(), receipt.lines);
    }
});
