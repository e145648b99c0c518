//! What a crash left behind, settled at start before the first citizen is served.
//!
//! The journal is always ahead of the world (bookings are made before the devices act),
//! so it says exactly what may be unfinished:
//! - a note in **escrow** (a pending entry): the validator gives an escrowed note back
//!   when it is reset at start (SSP), so the entry is voided;
//! - **session credit** left on a session: the citizen is gone; the amount is booked as
//!   owed (`refunds-owed`), raised to staff as an IOU incident, and paid at the counter;
//! - **issues** fetched but neither confirmed nor canceled: confirmed with the sheets the
//!   journal says were printed for them, or canceled if none were;
//! - **messages** whose outcome is unknown: settled by asking the network about their id,
//!   never by guessing.
//!
//! The first two are plain ledger work done synchronously ([`settle_ledger`]); the network
//! part ([`reconcile_network`]) runs in the background, retried until done.

use kiosk_core::{Account, Coin, Note, SessionId, Transfer, TransferCode};
use kiosk_ledger::{
    Entry, IdempotencyKey, Intent, IntentKind, Ledger, LedgerError, MessageState, Op, Resolve,
    Service, Settlement,
};
use std::time::Duration;
use tracing::{error, info, warn};

use crate::keys;
use crate::ports::{
    Hardware, HopperFacts, JobFacts, MessageFate, NetOutcome, Network, ValidatorFacts,
};

fn idem(k: &str) -> Result<IdempotencyKey, LedgerError> {
    IdempotencyKey::new(k).map_err(|e| LedgerError::BadIntent(e.to_string()))
}

/// Asks a device, again while it is still starting (its driver answers "not
/// initialised" until its start-up is done): at most 200 times, 50 ms apart (10 s).
async fn ask<T, F: std::future::Future<Output = Result<T, String>>>(
    mut f: impl FnMut() -> F,
) -> Result<T, String> {
    let mut last = String::new();
    for attempt in 0..200 {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
        if attempt < 199 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Err(last)
}

/// What [`settle_devices`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DevicesSettled {
    /// Intents settled from the devices' answers.
    pub settled: usize,
    /// Intents left open: the device could not answer (its session's credit waits).
    pub unresolved: usize,
    /// Print jobs from before the restart that were still printing and were stopped.
    pub jobs_stopped: usize,
    /// Notes the validator stacked that no booking explains (value unknown): an incident.
    pub unexplained_notes: u32,
}

/// What the books must record for one interrupted payout, given what the hopper says
/// of its last payout. Pure: the counter before the payout (journaled with the intent)
/// against the counter now says whether it started and how many batches ran (a next
/// batch of 255 starts only when the one before paid fully).
pub fn payout_paid(intent: &Intent, now: HopperFacts) -> Option<u32> {
    let before = u8::try_from(intent.before?).ok()?;
    let batches = keys::counter_distance(before, now.counter);
    if batches == 0 {
        return Some(0);
    }
    let paid = 255 * (batches - 1) + u32::from(now.paid);
    Some(paid.min(intent.amount))
}

/// The ops that settle one interrupted payout: the coins that left, booked with the
/// intent's id as their key, and the settlement; the rest stays session credit (owed).
pub fn payout_ops(
    intent: &Intent,
    coin: Coin,
    paid: u32,
    at_ms: i64,
) -> Result<Vec<Op>, LedgerError> {
    let mut ops = Vec::new();
    if paid > 0 {
        let t = Transfer::new(
            Account::SessionCredit,
            Account::Hopper(coin),
            coin.value().get() * u64::from(paid),
            intent.code.unwrap_or(TransferCode::Refund),
        )?;
        ops.push(Op::Post(
            Entry::new(t, at_ms)
                .session(intent.session)
                .key(idem(&intent.id)?),
        ));
    }
    ops.push(Op::Settle {
        intent: intent.id.clone(),
        outcome: paid,
        at_ms,
    });
    Ok(ops)
}

/// The ops that settle one interrupted print job from what the printer says of it:
/// every page that came out is booked (by its sheet key, so pages already booked are not
/// booked again); a whole copy earns its fee (the citizen holds the certificate, so its
/// issue is confirmed, never canceled); a part copy is spoiled paper and no fee.
pub fn print_ops(
    ledger: &Ledger,
    intent: &Intent,
    job: Option<JobFacts>,
    at_ms: i64,
) -> Result<Vec<Op>, LedgerError> {
    let pages = job.map_or(0, |j| j.pages.min(intent.amount));
    let mut ops = Vec::new();
    let job_no: u32 = intent
        .id
        .rsplit(':')
        .next()
        .and_then(|j| j.parse().ok())
        .unwrap_or(0);
    let doc = |e: Entry| {
        let e = e.session(intent.session);
        let e = match &intent.document {
            Some(d) => e.document(d.clone()),
            None => e,
        };
        match &intent.issue {
            Some(i) => e.issue(i.clone()),
            None => e,
        }
    };
    for page in 1..=pages {
        let key = keys::sheet_key(intent.session, job_no, page);
        let key = idem(key.as_str())?;
        if ledger.find(&key)?.is_some() {
            continue;
        }
        let t = Transfer::new(
            Account::Printed,
            Account::PaperTray,
            1,
            TransferCode::SheetPrinted,
        )?;
        ops.push(Op::Post(doc(Entry::new(t, at_ms)).key(key)));
    }
    if pages == intent.amount {
        if let (Some(fee), Some(code)) = (intent.fee.filter(|&f| f > 0), &intent.document) {
            let t = Transfer::new(
                Account::SessionCredit,
                Account::Revenue(code.clone()),
                fee,
                TransferCode::Fee,
            )?;
            ops.push(Op::Post(doc(Entry::new(t, at_ms))));
        }
    } else if pages > 0 {
        let t = Transfer::new(
            Account::Spoiled,
            Account::Printed,
            u64::from(pages),
            TransferCode::SheetSpoiled,
        )?;
        ops.push(Op::Post(doc(Entry::new(t, at_ms))));
    }
    if job.is_some_and(|j| j.aborted) && pages < intent.amount {
        // A jam: the sheet in the paper path left the tray and was never printed (the
        // same one sheet the live path books when the driver reports the jam).
        let t = Transfer::new(
            Account::Spoiled,
            Account::PaperTray,
            1,
            TransferCode::SheetSpoiled,
        )?;
        ops.push(Op::Post(doc(Entry::new(t, at_ms))));
    }
    ops.push(Op::Settle {
        intent: intent.id.clone(),
        outcome: pages,
        at_ms,
    });
    Ok(ops)
}

/// The ops that settle an interrupted stack from the validator's counters: stacked
/// (its stacked counter passed the last note booked) posts the session's escrow and
/// books the note under its own key; otherwise the note went back and the escrow is
/// voided later with the other open escrows.
pub fn stack_ops(
    ledger: &Ledger,
    intent: &Intent,
    facts: ValidatorFacts,
    booked: u32,
    at_ms: i64,
) -> Result<(Vec<Op>, bool), LedgerError> {
    let mut ops = Vec::new();
    let stacked = facts.stacked > booked;
    let note = u64::from(intent.amount);
    let pending = ledger
        .open_pending()?
        .into_iter()
        .find(|p| p.session == Some(intent.session.0) && p.amount == note as i64);
    match (
        stacked,
        pending,
        Note::from_value(kiosk_core::Won::new(note)),
    ) {
        (true, Some(p), Some(n)) => {
            ops.push(Op::PostPending {
                pending: Resolve::Seq(p.seq),
                at_ms,
            });
            let t = Transfer::new(
                Account::Stacker(n),
                Account::Escrow,
                note,
                TransferCode::NoteStacked,
            )?;
            let key = keys::note_key(facts.serial, booked + 1);
            ops.push(Op::Post(
                Entry::new(t, at_ms)
                    .session(intent.session)
                    .key(idem(key.as_str())?),
            ));
            ops.push(Op::Cursor(keys::validator_cursor(
                facts.serial,
                booked + 1,
                at_ms,
            )));
        }
        (true, _, _) => {
            warn!(
                intent = intent.id,
                "a stacked note with no open escrow to match"
            );
        }
        _ => {}
    }
    ops.push(Op::Settle {
        intent: intent.id.clone(),
        outcome: u32::from(stacked),
        at_ms,
    });
    Ok((ops, stacked))
}

/// Settles every intent a crash left open from what the devices themselves answer,
/// before any guess is made about the money ([`settle_ledger`] runs after this). A
/// device that cannot answer leaves its intent open and its session's credit untouched.
pub async fn settle_devices<H: Hardware>(
    ledger: &mut Ledger,
    hw: &H,
    at_ms: i64,
) -> Result<DevicesSettled, LedgerError> {
    let mut done = DevicesSettled::default();
    // The validator is asked at every start: it returns a note left in escrow and its
    // counters show any note stacked that the books do not hold.
    let validator = match ask(|| hw.settle_validator()).await {
        Ok(f) => Some(f),
        Err(e) => {
            error!(%e, "the bill validator could not be asked what it holds");
            None
        }
    };
    let cursor = ledger.cursor(keys::device::BILL_VALIDATOR)?;
    let mut booked = match (&cursor, validator) {
        (Some(c), Some(f)) if c.serial == keys::serial_text(f.serial) => c.counter,
        // First start, or another validator: its counters are the starting point.
        (_, Some(f)) => {
            ledger.apply(&[Op::Cursor(keys::validator_cursor(
                f.serial, f.stacked, at_ms,
            ))])?;
            f.stacked
        }
        (Some(c), None) => c.counter,
        (None, None) => 0,
    };
    for intent in ledger.open_intents()? {
        let ops = match intent.kind {
            IntentKind::Dispense => {
                let coin = intent
                    .device
                    .strip_prefix("hopper:")
                    .and_then(|v| v.parse().ok())
                    .and_then(|v| Coin::from_value(kiosk_core::Won::new(v)));
                let Some(coin) = coin else {
                    error!(intent = intent.id, "a payout intent names no hopper");
                    done.unresolved += 1;
                    continue;
                };
                match ask(|| hw.last_dispense(coin)).await {
                    Ok(f) => match payout_paid(&intent, f) {
                        Some(paid) => {
                            info!(intent = intent.id, paid, "payout settled from the hopper");
                            payout_ops(&intent, coin, paid, at_ms)?
                        }
                        None => {
                            error!(
                                incident = "payout-unknown",
                                intent = intent.id,
                                "the hopper's counter before the payout is unknown"
                            );
                            done.unresolved += 1;
                            continue;
                        }
                    },
                    Err(e) => {
                        error!(%e, intent = intent.id, "the hopper could not be asked");
                        done.unresolved += 1;
                        continue;
                    }
                }
            }
            IntentKind::Stack => match validator {
                Some(f) => {
                    let (ops, stacked) = stack_ops(ledger, &intent, f, booked, at_ms)?;
                    if stacked {
                        booked += 1;
                    }
                    ops
                }
                None => {
                    done.unresolved += 1;
                    continue;
                }
            },
            IntentKind::Print => {
                let name = intent.job_name.clone().unwrap_or_default();
                let job = match ask(|| hw.find_job(&name)).await {
                    Ok(Some(j)) if !j.ended => {
                        // Still printing for a session that is over: stop it, so no sheet
                        // comes out for the next citizen, then read where it stopped.
                        if let Err(e) = ask(|| hw.cancel_job(j.job_id)).await {
                            error!(%e, job = name, "a leftover print job could not be stopped");
                        }
                        done.jobs_stopped += 1;
                        ask(|| hw.find_job(&name)).await
                    }
                    other => other,
                };
                match job {
                    Ok(j) => print_ops(ledger, &intent, j, at_ms)?,
                    Err(e) => {
                        error!(%e, job = name, "the printer could not be asked");
                        done.unresolved += 1;
                        continue;
                    }
                }
            }
        };
        ledger.apply(&ops)?;
        done.settled += 1;
    }
    if let Some(f) = validator.filter(|f| f.stacked > booked) {
        {
            let n = f.stacked - booked;
            error!(
                incident = "notes-unexplained",
                notes = n,
                "the validator stacked notes the books do not hold: count the stacker"
            );
            done.unexplained_notes = n;
            ledger.apply(&[Op::Cursor(keys::validator_cursor(
                f.serial, f.stacked, at_ms,
            ))])?;
        }
    }
    Ok(done)
}

/// What [`settle_ledger`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Escrow entries voided.
    pub escrows_voided: usize,
    /// Sessions whose credit became an IOU.
    pub ious: usize,
    /// Won owed in all.
    pub owed: u64,
}

/// Settles the money a crash left open, after [`settle_devices`]. Idempotent: a second
/// run finds nothing. Sessions with an intent still open are left as they are: their
/// device has not said yet what it did.
pub fn settle_ledger(ledger: &mut Ledger, at_ms: i64) -> Result<Settled, LedgerError> {
    let mut done = Settled::default();
    let waiting: Vec<SessionId> = ledger.sessions_with_open_intents()?;
    let waits = |s: Option<u64>| s.is_some_and(|s| waiting.contains(&SessionId(s)));
    for p in ledger.open_pending()? {
        if waits(p.session) {
            continue;
        }
        ledger.apply(&[Op::VoidPending {
            pending: Resolve::Seq(p.seq),
            at_ms,
        }])?;
        warn!(seq = p.seq, session = ?p.session, "escrowed note returned after a restart");
        done.escrows_voided += 1;
    }
    for (session, credit) in ledger.unsettled_sessions()? {
        if waits(Some(session.0)) {
            continue;
        }
        if credit <= 0 {
            error!(
                session = session.0,
                credit, "negative session credit in the journal"
            );
            continue;
        }
        // The same movement the session machine books for an IOU: out of the session
        // credit, into what is owed.
        let t = Transfer::new(
            Account::SessionCredit,
            Account::RefundsOwed,
            credit as u64,
            TransferCode::RefundOwed,
        )?;
        ledger.apply(&[Op::Post(Entry::new(t, at_ms).session(session))])?;
        warn!(
            incident = "iou",
            session = session.0,
            amount = credit,
            "credit left by an interrupted session is owed"
        );
        done.ious += 1;
        done.owed += credit as u64;
    }
    Ok(done)
}

/// What [`reconcile_network`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Unknown outcomes settled.
    pub settled: usize,
    /// Issues confirmed.
    pub confirmed: usize,
    /// Issues canceled.
    pub canceled: usize,
    /// Left for the next round (network down).
    pub remaining: usize,
}

/// Settles unknown messages and reconciles issues older than `before_ms` with the network.
pub async fn reconcile_network<N: Network>(
    ledger: &mut Ledger,
    net: &N,
    before_ms: i64,
    now_ms: impl Fn() -> i64,
) -> Result<Reconciled, LedgerError> {
    let mut r = Reconciled::default();
    for m in ledger.egov_open()? {
        if m.at_ms >= before_ms {
            continue;
        }
        match net.message_status(&m.message_id).await {
            NetOutcome::Ok(MessageFate::Completed(issue, ev)) => {
                ledger.egov_settle(
                    &m.message_id,
                    &Settlement {
                        state: MessageState::Ok,
                        issue,
                        request_sha256: Some(ev.request_sha256),
                        reply_sha256: Some(ev.reply_sha256),
                        at_ms: now_ms(),
                    },
                )?;
                r.settled += 1;
            }
            NetOutcome::Ok(MessageFate::Failed | MessageFate::NotReceived) => {
                ledger.egov_settle(
                    &m.message_id,
                    &Settlement {
                        state: MessageState::Failed,
                        issue: None,
                        request_sha256: None,
                        reply_sha256: None,
                        at_ms: now_ms(),
                    },
                )?;
                r.settled += 1;
            }
            NetOutcome::Failed(_) | NetOutcome::Unknown => r.remaining += 1,
        }
    }
    for m in ledger.egov_unreconciled_issues()? {
        if m.at_ms >= before_ms {
            continue;
        }
        let Some(issue) = m.issue.clone() else {
            continue;
        };
        // Sheets of whole copies only: a part copy is spoiled paper, never an issue.
        let printed = ledger.sheets_printed(&issue)?;
        let id = uuid::Uuid::new_v4().to_string();
        let service = if printed > 0 {
            Service::ConfirmIssued
        } else {
            Service::CancelIssue
        };
        ledger.egov_sent(
            &id,
            service,
            m.session,
            m.document.as_ref(),
            Some(&issue),
            now_ms(),
        )?;
        let outcome = if printed > 0 {
            net.confirm_issued(&id, &issue, printed as u32).await
        } else {
            net.cancel_issue(&id, &issue).await
        };
        let (state, ev) = match outcome {
            NetOutcome::Ok(ev) => (MessageState::Ok, Some(ev)),
            NetOutcome::Failed(f) => {
                warn!(?f, issue = issue.as_str(), "reconciliation refused");
                (MessageState::Failed, None)
            }
            NetOutcome::Unknown => (MessageState::Unknown, None),
        };
        ledger.egov_settle(
            &id,
            &Settlement {
                state,
                issue: None,
                request_sha256: ev.map(|e| e.request_sha256),
                reply_sha256: ev.map(|e| e.reply_sha256),
                at_ms: now_ms(),
            },
        )?;
        match (state, service) {
            (MessageState::Ok, Service::ConfirmIssued) => r.confirmed += 1,
            (MessageState::Ok, _) => r.canceled += 1,
            _ => r.remaining += 1,
        }
    }
    if r != Reconciled::default() {
        info!(?r, "reconciled with the e-government network");
    }
    Ok(r)
}

/// Runs [`reconcile_network`] until nothing remains, backing off while the network is
/// down (bounded: at most one round a minute).
pub async fn reconcile_until_done<N: Network>(
    mut ledger: Ledger,
    net: std::sync::Arc<N>,
    before_ms: i64,
    now_ms: impl Fn() -> i64 + Send,
) {
    let mut wait = Duration::from_secs(1);
    loop {
        match reconcile_network(&mut ledger, net.as_ref(), before_ms, &now_ms).await {
            Ok(r) if r.remaining == 0 => return,
            Ok(_) => {}
            Err(e) => error!(%e, "reconciliation failed"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doubles::{FAKE_SERIAL, FakeHardware, World};
    use kiosk_core::{Coin, DocCode, IssueNumber, Note, SessionId};
    use kiosk_ledger::IdempotencyKey;
    use std::sync::{Arc, Mutex};

    const S: SessionId = SessionId(31);

    fn credit(l: &mut Ledger, won: u64) {
        let t = Transfer::new(
            Account::Hopper(Coin::W500),
            Account::SessionCredit,
            won,
            TransferCode::CoinInserted,
        )
        .unwrap();
        l.apply(&[Op::Post(Entry::new(t, 1).session(S))]).unwrap();
    }

    fn intent(id: &str, kind: IntentKind, device: &str, amount: u32) -> Intent {
        Intent {
            id: id.into(),
            kind,
            session: S,
            device: device.into(),
            amount,
            before: None,
            job_name: None,
            document: None,
            issue: None,
            fee: None,
            code: None,
            at_ms: 2,
        }
    }

    fn devices(world: World) -> (FakeHardware, Arc<Mutex<World>>) {
        let (tx, _rx) = tokio::sync::mpsc::channel(64);
        let w = Arc::new(Mutex::new(world));
        (FakeHardware::new(tx, w.clone()), w)
    }

    fn ledger() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(dir.path().join("l.db")).unwrap();
        (dir, l)
    }

    /// Path 3 of issue 11: killed while the hopper paid change. The hopper finished the
    /// payout; the books must say so, and owe only what it did not pay.
    #[tokio::test]
    async fn a_payout_interrupted_by_a_crash_is_booked_from_the_hopper_not_owed_twice() {
        let (_d, mut l) = ledger();
        credit(&mut l, 2_000);
        let mut i = intent("dispense:31:0", IntentKind::Dispense, "hopper:500", 3);
        i.before = Some(254);
        i.code = Some(TransferCode::ChangePaid);
        l.apply(&[Op::Intent(i)]).unwrap();
        // The hopper's counter moved once (254 -> 255) and its last payout paid 2 of 3.
        let mut w = World::default();
        w.hopper_status.insert(Coin::W500, (255, 2, 1));
        let (hw, _) = devices(w);
        let d = settle_devices(&mut l, &hw, 3).await.unwrap();
        assert_eq!((d.settled, d.unresolved), (1, 0));
        assert_eq!(
            l.balance(&Account::Hopper(Coin::W500)).unwrap(),
            2_000 - 1_000
        );
        let owed = settle_ledger(&mut l, 4).unwrap();
        assert_eq!(
            owed.owed, 1_000,
            "what the hopper did not pay is owed, once"
        );
        assert!(l.open_intents().unwrap().is_empty());
        l.verify().unwrap();
    }

    #[tokio::test]
    async fn a_payout_that_never_started_pays_nothing_and_the_credit_is_owed() {
        let (_d, mut l) = ledger();
        credit(&mut l, 1_500);
        let mut i = intent("dispense:31:0", IntentKind::Dispense, "hopper:500", 3);
        i.before = Some(9);
        l.apply(&[Op::Intent(i)]).unwrap();
        let mut w = World::default();
        w.hopper_status.insert(Coin::W500, (9, 7, 0)); // the payout before ours
        let (hw, _) = devices(w);
        settle_devices(&mut l, &hw, 3).await.unwrap();
        assert_eq!(settle_ledger(&mut l, 4).unwrap().owed, 1_500);
        assert_eq!(l.balance(&Account::Hopper(Coin::W500)).unwrap(), 1_500);
    }

    /// Path 2: killed while a note was being stacked. The validator's counter says it
    /// stacked: the escrow is posted under the note's own key, not voided.
    #[tokio::test]
    async fn a_note_stacked_across_a_crash_is_booked_from_the_validators_counter() {
        let (_d, mut l) = ledger();
        stacking(&mut l, Note::W1000, 0);
        let (hw, _) = devices(World {
            stacked: vec![Note::W1000],
            ..World::default()
        });
        let d = settle_devices(&mut l, &hw, 3).await.unwrap();
        assert_eq!((d.settled, d.unexplained_notes), (1, 0));
        assert_eq!(l.balance(&Account::Stacker(Note::W1000)).unwrap(), 1_000);
        assert!(l.open_pending().unwrap().is_empty());
        let key = keys::note_key(FAKE_SERIAL, 1);
        assert!(
            l.find(&IdempotencyKey::new(key.as_str()).unwrap())
                .unwrap()
                .is_some()
        );
        // The credit is the citizen's: owed, since the session is gone.
        assert_eq!(settle_ledger(&mut l, 4).unwrap().owed, 1_000);
        l.verify().unwrap();
    }

    #[tokio::test]
    async fn a_note_the_validator_did_not_stack_is_voided_and_an_unexplained_one_is_raised() {
        let (_d, mut l) = ledger();
        stacking(&mut l, Note::W5000, 1);
        let (hw, w) = devices(World {
            stacked: vec![Note::W1000],
            ..World::default()
        });
        settle_devices(&mut l, &hw, 3).await.unwrap();
        assert_eq!(settle_ledger(&mut l, 4).unwrap().escrows_voided, 1);
        assert_eq!(l.balance(&Account::Stacker(Note::W5000)).unwrap(), 0);
        // Two notes in the stacker the books never saw: raised, counted from there on.
        w.lock().unwrap().stacked.extend([Note::W1000, Note::W1000]);
        let d = settle_devices(&mut l, &hw, 5).await.unwrap();
        assert_eq!(d.unexplained_notes, 2);
        assert_eq!(
            settle_devices(&mut l, &hw, 6)
                .await
                .unwrap()
                .unexplained_notes,
            0
        );
    }

    /// A note of `session` S in escrow with its stack intent journaled, the validator's
    /// cursor at `stacked`: the moment the kiosk told the validator to stack it.
    fn stacking(l: &mut Ledger, note: Note, stacked: u32) {
        let value = note.value().get();
        let t = Transfer::new(
            Account::Escrow,
            Account::SessionCredit,
            value,
            TransferCode::NoteEscrowed,
        )
        .unwrap();
        let key = IdempotencyKey::new("escrow:31:0").unwrap();
        let stack = intent(
            "stack:31:0",
            IntentKind::Stack,
            "bill-validator",
            value as u32,
        );
        l.apply(&[
            Op::Cursor(keys::validator_cursor(FAKE_SERIAL, stacked, 0)),
            Op::Pending(Entry::new(t, 1).session(S).key(key)),
            Op::Intent(stack),
        ])
        .unwrap();
    }

    fn print_intent(pages: u32) -> Intent {
        let mut i = intent("print:31:1", IntentKind::Print, "a4-printer", pages);
        i.job_name = Some("S31-N-77-1".into());
        i.document = Some(DocCode::new("RES-COPY").unwrap());
        i.issue = Some(IssueNumber::new("N-77").unwrap());
        i.fee = Some(400);
        i
    }

    /// Path 4: killed after the pages came out. The copy is the citizen's: its sheets
    /// and its fee are booked, so the issue is confirmed, never canceled.
    #[tokio::test]
    async fn a_copy_printed_across_a_crash_is_booked_with_its_fee_and_its_issue_stands() {
        let (_d, mut l) = ledger();
        credit(&mut l, 500);
        let paper = Transfer::new(
            Account::PaperTray,
            Account::DistrictStock,
            10,
            TransferCode::PaperLoaded,
        )
        .unwrap();
        // Page 1 was booked live (by its sheet key) before the kill; page 2 was not.
        let page1 = Transfer::new(
            Account::Printed,
            Account::PaperTray,
            1,
            TransferCode::SheetPrinted,
        )
        .unwrap();
        l.apply(&[
            Op::Post(Entry::new(paper, 0)),
            Op::Intent(print_intent(2)),
            Op::Post(
                Entry::new(page1, 2)
                    .session(S)
                    .issue(IssueNumber::new("N-77").unwrap())
                    .key(IdempotencyKey::new("sheet:31:1:1").unwrap()),
            ),
        ])
        .unwrap();
        let (hw, w) = devices(World::default());
        w.lock()
            .unwrap()
            .jobs
            .insert("S31-N-77-1".into(), (2, true));
        settle_devices(&mut l, &hw, 3).await.unwrap();
        assert_eq!(
            l.balance(&Account::Printed).unwrap(),
            2,
            "both sheets, page 1 once"
        );
        assert_eq!(
            l.balance(&Account::Revenue(DocCode::new("RES-COPY").unwrap()))
                .unwrap(),
            -400
        );
        assert_eq!(
            l.sheets_printed(&IssueNumber::new("N-77").unwrap())
                .unwrap(),
            2
        );
        assert_eq!(settle_ledger(&mut l, 4).unwrap().owed, 100);
        l.verify().unwrap();
    }

    #[tokio::test]
    async fn a_part_copy_is_spoiled_paper_without_a_fee_and_a_job_never_sent_prints_nothing() {
        let (_d, mut l) = ledger();
        credit(&mut l, 500);
        l.apply(&[Op::Intent(print_intent(2))]).unwrap();
        let (hw, w) = devices(World::default());
        w.lock()
            .unwrap()
            .jobs
            .insert("S31-N-77-1".into(), (1, true));
        settle_devices(&mut l, &hw, 3).await.unwrap();
        assert_eq!(l.balance(&Account::Spoiled).unwrap(), 1);
        assert_eq!(l.balance(&Account::Printed).unwrap(), 0);
        assert_eq!(
            l.sheets_printed(&IssueNumber::new("N-77").unwrap())
                .unwrap(),
            0
        );
        assert_eq!(settle_ledger(&mut l, 4).unwrap().owed, 500);

        let (_d, mut l) = ledger();
        l.apply(&[Op::Intent(print_intent(2))]).unwrap();
        let (hw, _) = devices(World::default());
        assert_eq!(settle_devices(&mut l, &hw, 3).await.unwrap().settled, 1);
        assert_eq!(l.balance(&Account::PaperTray).unwrap(), 0);
    }

    #[test]
    fn payouts_count_every_batch_of_255_before_the_last() {
        let mut i = intent("dispense:31:0", IntentKind::Dispense, "hopper:100", 600);
        i.before = Some(255);
        let f = |counter, paid| HopperFacts {
            counter,
            paid,
            unpaid: 0,
        };
        assert_eq!(payout_paid(&i, f(255, 9)), Some(0));
        assert_eq!(payout_paid(&i, f(1, 200)), Some(200));
        assert_eq!(payout_paid(&i, f(3, 90)), Some(600));
        i.before = None;
        assert_eq!(payout_paid(&i, f(3, 90)), None, "unknown, not guessed");
    }

    #[test]
    fn a_crashed_sessions_credit_becomes_owed_and_its_escrow_is_voided() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path().join("l.db")).unwrap();
        let s = SessionId(27);
        let coin = |c: Coin| {
            Op::Post(
                Entry::new(
                    Transfer::new(
                        Account::Hopper(c),
                        Account::SessionCredit,
                        c.value().get(),
                        TransferCode::CoinInserted,
                    )
                    .unwrap(),
                    1,
                )
                .session(s),
            )
        };
        let note = Op::Pending(
            Entry::new(
                Transfer::new(
                    Account::Escrow,
                    Account::SessionCredit,
                    Note::W5000.value().get(),
                    TransferCode::NoteEscrowed,
                )
                .unwrap(),
                2,
            )
            .session(s)
            .key(IdempotencyKey::new("escrow:27:0").unwrap()),
        );
        l.apply(&[coin(Coin::W100), coin(Coin::W500), note])
            .unwrap();
        let done = settle_ledger(&mut l, 3).unwrap();
        assert_eq!(
            done,
            Settled {
                escrows_voided: 1,
                ious: 1,
                owed: 600
            }
        );
        assert_eq!(l.balance(&Account::SessionCredit).unwrap(), 0);
        assert_eq!(l.balance(&Account::Escrow).unwrap(), 0);
        assert_eq!(l.balance(&Account::RefundsOwed).unwrap(), -600);
        assert!(l.unsettled_sessions().unwrap().is_empty());
        assert_eq!(
            settle_ledger(&mut l, 4).unwrap(),
            Settled::default(),
            "idempotent"
        );
        l.verify().unwrap();
    }
}
