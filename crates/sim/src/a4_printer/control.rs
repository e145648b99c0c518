//! The A4 printer's control commands, served by [`crate::control::ControlServer`] (the
//! same line protocol and limits as every other simulator).

use std::time::Instant;

use serde_json::{Value, json};

use super::device::Control;
use super::service::Printer;

/// Handles one control line: a [`Control`] command; answers the printer's status after it,
/// or `{"ok":false,"error":...}` (and changes nothing).
pub fn handle_line(printer: &Printer, line: &[u8]) -> Value {
    let cmd: Control = match serde_json::from_slice(line) {
        Ok(c) => c,
        Err(e) => return json!({"ok": false, "error": format!("bad command: {e}")}),
    };
    let mut d = printer.lock();
    let answer = match d.apply(&cmd, Instant::now()) {
        Ok(()) => d.status_json(),
        Err(e) => json!({"ok": false, "error": e}),
    };
    drop(d);
    printer.wake.notify_all();
    answer
}
