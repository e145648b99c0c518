//! The names of physical events and of the orders given to devices: pure functions, so
//! the live path and recovery name the same event the same way and the ledger's
//! idempotency rule can refuse the second booking.
//!
//! | what | key | from |
//! | --- | --- | --- |
//! | a coin | `coin:<serial>:<events>` | the acceptor's ccTalk event counter, unwrapped |
//! | a note | `note:<serial>:<stacked>` | the validator's stacked counter (SSP 0x58) |
//! | a payout | `dispense:<session>:<n>` | the intent journaled before the hopper was told |
//! | a stack | `stack:<session>:<escrow>` | the intent journaled before the validator was told |
//! | a print job | `print:<session>:<job>` | the intent journaled before the job was sent |
//! | a sheet | `sheet:<session>:<job>:<page>` | the page of that job |

use kiosk_core::{DeviceKey, IssueNumber, SessionId};
use kiosk_ledger::Cursor;

/// The device names used in cursors and intents.
pub mod device {
    /// The coin acceptor.
    pub const COIN_ACCEPTOR: &str = "coin-acceptor";
    /// The bill validator.
    pub const BILL_VALIDATOR: &str = "bill-validator";
    /// The A4 printer.
    pub const A4_PRINTER: &str = "a4-printer";
}

/// The cursor name of the hopper paying `coin`.
pub fn hopper_device(coin: kiosk_core::Coin) -> String {
    format!("hopper:{}", coin.value().get())
}

/// Events between two ccTalk event counters. The counter runs 1..=255 and wraps to 1;
/// 0 only after a reset, so from 0 every value is that many events on.
pub fn counter_distance(from: u8, to: u8) -> u32 {
    let (from, to) = (u32::from(from), u32::from(to));
    if from == 0 || to >= from {
        to - from.min(to)
    } else {
        to + 255 - from
    }
}

/// A serial number as it appears in keys (upper-case hex).
pub fn serial_text(serial: u32) -> String {
    format!("{serial:06X}")
}

/// Where a ccTalk device's cursor goes when an event with `counter` is seen: the new
/// cursor, or `None` when the event is not new (a replay: the counter did not move).
pub fn advance(
    cursor: Option<&Cursor>,
    device: &str,
    serial: u32,
    counter: u8,
    at_ms: i64,
) -> Option<Cursor> {
    let serial = serial_text(serial);
    let (events, moved) = match cursor {
        // The same device: its counter says how many events passed.
        Some(c) if c.serial == serial => {
            let last = u8::try_from(c.counter).unwrap_or(0);
            let d = counter_distance(last, counter);
            (c.events + u64::from(d), d > 0)
        }
        // Another device in the same place (swapped by a technician), or the first event
        // ever: keys stay unique because they carry the serial.
        Some(c) => (c.events + 1, true),
        None => (1, true),
    };
    moved.then(|| Cursor {
        device: device.to_owned(),
        serial,
        counter: u32::from(counter),
        events,
        at_ms,
    })
}

/// The validator's cursor once its stacked counter reads `stacked`: notes are named by
/// that counter, so it is both the counter and the count of events.
pub fn validator_cursor(serial: u32, stacked: u32, at_ms: i64) -> Cursor {
    Cursor {
        device: device::BILL_VALIDATOR.to_owned(),
        serial: serial_text(serial),
        counter: stacked,
        events: u64::from(stacked),
        at_ms,
    }
}

fn key(s: String) -> DeviceKey {
    // Every key built here is ASCII letters, digits and ':' within 64 characters: the
    // parts are numbers, hex and validated issue numbers (at most 32 characters).
    DeviceKey::new(&s).unwrap_or_else(|_| unreachable_key())
}

#[cold]
fn unreachable_key() -> DeviceKey {
    // Not reachable (see `key`); a fixed key keeps the type total without a panic.
    DeviceKey::new("invalid").unwrap_or_else(|_| unreachable_key())
}

/// A coin's key from its acceptor's cursor.
pub fn coin_key(c: &Cursor) -> DeviceKey {
    key(format!("coin:{}:{}", c.serial, c.events))
}

/// A note's key: the validator's serial and its stacked counter including the note.
pub fn note_key(serial: u32, stacked: u32) -> DeviceKey {
    key(format!("note:{}:{stacked}", serial_text(serial)))
}

/// A sheet's key: page `page` (from 1) of job `job` of `session`.
pub fn sheet_key(session: SessionId, job: u32, page: u32) -> DeviceKey {
    key(format!("sheet:{}:{job}:{page}", session.0))
}

/// The intent id of a payout.
pub fn dispense_intent(session: SessionId, n: u32) -> String {
    format!("dispense:{}:{n}", session.0)
}

/// The intent id of stacking escrowed note `escrow` of `session`.
pub fn stack_intent(session: SessionId, escrow: u32) -> String {
    format!("stack:{}:{escrow}", session.0)
}

/// The intent id of print job `job` of `session`.
pub fn print_intent(session: SessionId, job: u32) -> String {
    format!("print:{}:{job}", session.0)
}

/// The name the printer knows a job by: session, issue number and copy, so that a job is
/// found again after a restart and is never mistaken for another session's.
pub fn job_name(session: SessionId, issue: &IssueNumber, copy: u8) -> String {
    format!("S{}-{}-{copy}", session.0, issue.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counters_wrap_from_255_to_1_and_start_from_0_after_a_reset() {
        assert_eq!(counter_distance(7, 7), 0);
        assert_eq!(counter_distance(7, 9), 2);
        assert_eq!(counter_distance(254, 1), 2);
        assert_eq!(counter_distance(255, 1), 1);
        assert_eq!(counter_distance(0, 3), 3);
    }

    #[test]
    fn a_replayed_event_does_not_move_the_cursor_and_a_new_one_names_a_new_key() {
        let c = advance(None, "coin-acceptor", 0x0A1B2C, 5, 1).unwrap();
        assert_eq!(coin_key(&c).as_str(), "coin:0A1B2C:1");
        assert_eq!(advance(Some(&c), "coin-acceptor", 0x0A1B2C, 5, 2), None);
        let d = advance(Some(&c), "coin-acceptor", 0x0A1B2C, 7, 2).unwrap();
        assert_eq!(coin_key(&d).as_str(), "coin:0A1B2C:3");
        // Another acceptor put in: its keys carry its own serial.
        let e = advance(Some(&d), "coin-acceptor", 0x123456, 7, 3).unwrap();
        assert_eq!(coin_key(&e).as_str(), "coin:123456:4");
    }

    proptest! {
        #[test]
        fn keys_are_always_valid_and_distinct(s in any::<u64>(), j in any::<u32>(), p in any::<u32>(), serial in any::<u32>(), st in any::<u32>()) {
            prop_assert!(sheet_key(SessionId(s), j, p).as_str().starts_with("sheet:"));
            prop_assert!(note_key(serial, st).as_str().starts_with("note:"));
            prop_assert_ne!(sheet_key(SessionId(s), j, p), sheet_key(SessionId(s), j, p.wrapping_add(1)));
        }

        #[test]
        fn events_count_every_step_of_the_counter(steps in proptest::collection::vec(1u8..=5, 1..200)) {
            let mut counter = 1u8;
            let mut c = advance(None, "coin-acceptor", 1, counter, 0).unwrap();
            let mut total = 1u64;
            for s in steps {
                let next = ((u32::from(counter) - 1 + u32::from(s)) % 255 + 1) as u8;
                c = advance(Some(&c), "coin-acceptor", 1, next, 0).unwrap();
                total += u64::from(s);
                counter = next;
                prop_assert_eq!(c.events, total);
            }
        }
    }
}
