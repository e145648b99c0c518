//! Device intents and device cursors (migration 4): what the kiosk told a device to do,
//! and where each device's own event counter stood at the last event booked from it.
//!
//! Both live beside the journal, not in its hash chain: they are the kiosk's working
//! memory across a crash, not evidence for the district. What makes them exact is that
//! they are written by the same [`Ledger::apply`] transaction as the bookings they go
//! with ([`Op::Intent`], [`Op::Settle`], [`Op::Cursor`]): an intent is journaled with the
//! event that decided it, before the device is told; it is settled with the bookings of
//! what the device did, once; a cursor moves with the booking of the event it names.

use crate::LedgerError;
use crate::entry::Op;
use crate::store::Ledger;
use kiosk_core::{DocCode, IssueNumber, SessionId, TransferCode};
use rusqlite::{OptionalExtension, Transaction, params};

/// What a device was told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// A hopper pays coins.
    Dispense,
    /// The validator stacks the note in escrow.
    Stack,
    /// The A4 printer prints one copy.
    Print,
}

impl IntentKind {
    fn as_str(self) -> &'static str {
        match self {
            IntentKind::Dispense => "dispense",
            IntentKind::Stack => "stack",
            IntentKind::Print => "print",
        }
    }

    fn parse(s: &str) -> Option<IntentKind> {
        match s {
            "dispense" => Some(IntentKind::Dispense),
            "stack" => Some(IntentKind::Stack),
            "print" => Some(IntentKind::Print),
            _ => None,
        }
    }
}

/// An order given to a device, journaled before the device was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    /// Unique id, also the idempotency key of the booking that settles it
    /// (`dispense:27:0`, `stack:27:1`, `print:27:2`).
    pub id: String,
    /// What kind of order.
    pub kind: IntentKind,
    /// The session it serves.
    pub session: SessionId,
    /// The device (`hopper:500`, `bill-validator`, `a4-printer`).
    pub device: String,
    /// Dispense: coins asked. Stack: the note's value in won. Print: sheets of the copy.
    pub amount: u32,
    /// Dispense: the hopper's event counter before it was told. Stack: the validator's
    /// stacked counter before, when known.
    pub before: Option<u32>,
    /// Print: the job name the printer knows the job by.
    pub job_name: Option<String>,
    /// Print: the document type.
    pub document: Option<DocCode>,
    /// Print: the issue number printed on it.
    pub issue: Option<IssueNumber>,
    /// Print: the fee of the copy in won, earned only if the whole copy comes out.
    pub fee: Option<u64>,
    /// Dispense: how the payout is booked (change paid or refund).
    pub code: Option<TransferCode>,
    /// When it was journaled.
    pub at_ms: i64,
}

/// Where a device's own event counter stood at the last event booked from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The device (`coin-acceptor`, `bill-validator`, `hopper:500`).
    pub device: String,
    /// Its serial number, as text.
    pub serial: String,
    /// The device's counter (ccTalk event counter, SSP stacked count).
    pub counter: u32,
    /// The device's events since it was first seen, across counter wraps and resets: the
    /// last component of its device keys.
    pub events: u64,
    /// When it moved.
    pub at_ms: i64,
}

fn check_text(what: &'static str, s: &str, max: usize) -> Result<(), LedgerError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-');
    if s.is_empty() || s.len() > max || !s.chars().all(ok) {
        return Err(LedgerError::BadIntent(format!("{what} {s:?}")));
    }
    Ok(())
}

pub(crate) fn insert_intent(tx: &Transaction<'_>, i: &Intent) -> Result<(), LedgerError> {
    check_text("intent id", &i.id, 64)?;
    check_text("device", &i.device, 32)?;
    if let Some(n) = &i.job_name {
        check_text("job name", n, 64)?;
    }
    if i.amount == 0 {
        return Err(LedgerError::BadIntent(format!("{}: amount 0", i.id)));
    }
    tx.prepare_cached(
        "INSERT INTO device_intents (id, kind, session, device, amount, before, job_name,
             document, issue, code, at_ms, fee)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        i.id,
        i.kind.as_str(),
        i.session.0 as i64,
        i.device,
        i64::from(i.amount),
        i.before.map(i64::from),
        i.job_name,
        i.document.as_ref().map(DocCode::as_str),
        i.issue.as_ref().map(IssueNumber::as_str),
        i.code.map(TransferCode::as_str),
        i.at_ms,
        i.fee
            .map(i64::try_from)
            .transpose()
            .map_err(|_| LedgerError::BadIntent(format!("{}: fee", i.id)))?,
    ])
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            LedgerError::BadIntent(format!("{}: journaled twice", i.id))
        }
        e => e.into(),
    })?;
    Ok(())
}

pub(crate) fn settle_intent(
    tx: &Transaction<'_>,
    id: &str,
    outcome: u32,
    at_ms: i64,
) -> Result<(), LedgerError> {
    let n = tx
        .prepare_cached(
            "UPDATE device_intents SET settled_ms = ?2, outcome = ?3
             WHERE id = ?1 AND settled_ms IS NULL",
        )?
        .execute(params![id, at_ms, i64::from(outcome)])?;
    if n != 1 {
        // Unknown, or settled already: the whole batch is refused, so the bookings that
        // came with this settlement are not made twice.
        return Err(LedgerError::IntentNotOpen(id.to_owned()));
    }
    Ok(())
}

pub(crate) fn move_cursor(tx: &Transaction<'_>, c: &Cursor) -> Result<(), LedgerError> {
    check_text("device", &c.device, 32)?;
    check_text("serial", &c.serial, 16)?;
    let events = i64::try_from(c.events).map_err(|_| LedgerError::BadIntent("events".into()))?;
    tx.prepare_cached(
        "INSERT INTO device_cursors (device, serial, counter, events, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (device) DO UPDATE SET serial = excluded.serial,
             counter = excluded.counter, events = excluded.events, at_ms = excluded.at_ms",
    )?
    .execute(params![
        c.device,
        c.serial,
        i64::from(c.counter),
        events,
        c.at_ms
    ])?;
    Ok(())
}

type IntentRow = (
    String,
    String,
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

fn intent_of(r: IntentRow) -> Result<Intent, LedgerError> {
    let (id, kind, session, device, amount, before, job_name, document, issue, code, at_ms, fee) =
        r;
    let bad = |what: &str| LedgerError::BadIntent(format!("{id}: stored {what} is invalid"));
    Ok(Intent {
        kind: IntentKind::parse(&kind).ok_or_else(|| bad("kind"))?,
        session: SessionId(u64::try_from(session).map_err(|_| bad("session"))?),
        device,
        amount: u32::try_from(amount).map_err(|_| bad("amount"))?,
        before: before
            .map(u32::try_from)
            .transpose()
            .map_err(|_| bad("before"))?,
        job_name,
        document: document
            .map(|d| DocCode::new(&d))
            .transpose()
            .map_err(|_| bad("document"))?,
        issue: issue
            .map(|i| IssueNumber::new(&i))
            .transpose()
            .map_err(|_| bad("issue"))?,
        code: code
            .map(|c| c.parse::<TransferCode>())
            .transpose()
            .map_err(|_| bad("code"))?,
        at_ms,
        fee: fee.map(u64::try_from).transpose().map_err(|_| bad("fee"))?,
        id,
    })
}

const SELECT_INTENT: &str = "SELECT id, kind, session, device, amount, before, job_name,
    document, issue, code, at_ms, fee FROM device_intents";

impl Ledger {
    /// Intents not yet settled, oldest first: after a crash, exactly what the devices
    /// may have done that the books do not show yet.
    pub fn open_intents(&self) -> Result<Vec<Intent>, LedgerError> {
        let mut st = self.conn().prepare_cached(&format!(
            "{SELECT_INTENT} WHERE settled_ms IS NULL ORDER BY at_ms, id"
        ))?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(intent_of(r?)?);
        }
        Ok(out)
    }

    /// What a settled intent's device did (coins paid, note stacked 1/0, sheets printed),
    /// `None` while it is open or unknown.
    pub fn intent_outcome(&self, id: &str) -> Result<Option<u32>, LedgerError> {
        let v: Option<Option<i64>> = self
            .conn()
            .prepare_cached("SELECT outcome FROM device_intents WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(v.flatten().and_then(|o| u32::try_from(o).ok()))
    }

    /// The cursor of `device`, if an event of it was ever booked.
    pub fn cursor(&self, device: &str) -> Result<Option<Cursor>, LedgerError> {
        let row: Option<(String, i64, i64, i64)> = self
            .conn()
            .prepare_cached(
                "SELECT serial, counter, events, at_ms FROM device_cursors WHERE device = ?1",
            )?
            .query_row([device], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((serial, counter, events, at_ms)) = row else {
            return Ok(None);
        };
        let bad = || LedgerError::BadIntent(format!("cursor of {device} is invalid"));
        Ok(Some(Cursor {
            device: device.to_owned(),
            serial,
            counter: u32::try_from(counter).map_err(|_| bad())?,
            events: u64::try_from(events).map_err(|_| bad())?,
            at_ms,
        }))
    }

    /// Sessions with an open intent: their credit is not settled by guessing until the
    /// device has answered.
    pub fn sessions_with_open_intents(&self) -> Result<Vec<SessionId>, LedgerError> {
        let mut st = self.conn().prepare_cached(
            "SELECT DISTINCT session FROM device_intents WHERE settled_ms IS NULL ORDER BY 1",
        )?;
        let rows = st.query_map([], |r| r.get::<_, i64>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(SessionId(r? as u64));
        }
        Ok(out)
    }
}

/// Ops that touch only the side tables, for [`Ledger::apply`].
pub(crate) fn apply_side(tx: &Transaction<'_>, op: &Op) -> Result<(), LedgerError> {
    match op {
        Op::Intent(i) => insert_intent(tx, i),
        Op::Settle {
            intent,
            outcome,
            at_ms,
        } => settle_intent(tx, intent, *outcome, *at_ms),
        Op::Cursor(c) => move_cursor(tx, c),
        _ => Ok(()),
    }
}
