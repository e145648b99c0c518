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

use kiosk_core::{Account, Transfer, TransferCode};
use kiosk_ledger::{Entry, Ledger, LedgerError, MessageState, Op, Resolve, Service, Settlement};
use std::time::Duration;
use tracing::{error, info, warn};

use crate::ports::{MessageFate, NetOutcome, Network};

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

/// Settles the money a crash left open. Idempotent: a second run finds nothing.
pub fn settle_ledger(ledger: &mut Ledger, at_ms: i64) -> Result<Settled, LedgerError> {
    let mut done = Settled::default();
    for p in ledger.open_pending()? {
        ledger.apply(&[Op::VoidPending {
            pending: Resolve::Seq(p.seq),
            at_ms,
        }])?;
        warn!(seq = p.seq, session = ?p.session, "escrowed note returned after a restart");
        done.escrows_voided += 1;
    }
    for (session, credit) in ledger.unsettled_sessions()? {
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
    use kiosk_core::{Coin, Note, SessionId};
    use kiosk_ledger::IdempotencyKey;

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
