//! One test (or more) per transition, including refused events leaving the session as it was.

use super::*;
use crate::accounts::{Account, Transfer, TransferCode};
use crate::ids::{DocCode, IssueNumber, SessionId};
use crate::money::{Coin, Note, Sheets, Won};

// ----- fixtures ----------------------------------------------------------------------

fn code(s: &str) -> DocCode {
    DocCode::new(s).unwrap()
}

fn req(c: &str, copies: u8, needs_identity: bool) -> DocRequest {
    DocRequest {
        code: code(c),
        copies,
        needs_identity,
    }
}

fn doc(issue: &str, fee: u64, pages: u32) -> FetchedDoc {
    FetchedDoc {
        issue: IssueNumber::new(issue).unwrap(),
        fee_per_copy: Won::new(fee),
        pages: Sheets::new(pages),
    }
}

fn full_hoppers() -> Hoppers {
    Hoppers::NONE
        .with(Coin::W10, 50)
        .with(Coin::W50, 50)
        .with(Coin::W100, 50)
        .with(Coin::W500, 50)
}

fn resources(paper: u32, hoppers: Hoppers) -> Resources {
    Resources {
        paper: Sheets::new(paper),
        toner_ok: true,
        hoppers,
    }
}

fn new_session(hoppers: Hoppers) -> Session {
    Session::new(SessionId(7), SessionConfig::default(), hoppers)
}

fn ok(s: &mut Session, e: Event) -> Vec<Command> {
    let name = e.name();
    match s.handle(e) {
        Ok(c) => c,
        Err(r) => panic!("{name} refused in {}: {r}", s.state().name()),
    }
}

/// The event is refused and the session is exactly as before.
fn refused(s: &mut Session, e: Event) -> Rejected {
    let before = s.clone();
    let name = e.name();
    let Err(r) = s.handle(e) else {
        panic!("{name} accepted in {}", before.state().name())
    };
    assert_eq!(*s, before, "{name} changed the session although refused");
    r
}

fn not_now(s: &mut Session, e: Event) {
    let r = refused(s, e);
    assert!(matches!(r, Rejected::NotNow { .. }), "{r:?}");
}

fn selecting() -> Session {
    let mut s = new_session(full_hoppers());
    ok(&mut s, Event::Begin);
    s
}

fn identifying() -> Session {
    let mut s = selecting();
    ok(&mut s, Event::AddDocument(req("RES-COPY", 1, true)));
    ok(&mut s, Event::Confirm);
    s
}

fn fetching() -> Session {
    let mut s = identifying();
    ok(&mut s, Event::IdentityVerified);
    s
}

/// A session awaiting payment of `fee × copies` for one two-page document.
fn paying_with(fee: u64, copies: u8, hoppers: Hoppers) -> Session {
    let mut s = new_session(hoppers);
    ok(&mut s, Event::Begin);
    ok(&mut s, Event::AddDocument(req("LAND-REG", copies, false)));
    ok(&mut s, Event::Confirm);
    ok(
        &mut s,
        Event::Fetched {
            documents: vec![doc("N-1", fee, 2)],
            resources: resources(100, hoppers),
        },
    );
    assert_eq!(s.state(), State::AwaitingPayment);
    s
}

fn paying(fee: u64) -> Session {
    paying_with(fee, 1, full_hoppers())
}

/// Two lines: RES-COPY (200 won, 1 page, 2 copies) and LAND-REG (500 won, 2 pages, 1 copy),
/// paid with exactly 900 won in coins. Now printing job 1.
fn printing() -> Session {
    let mut s = selecting();
    ok(&mut s, Event::AddDocument(req("RES-COPY", 2, true)));
    ok(&mut s, Event::AddDocument(req("LAND-REG", 1, false)));
    ok(&mut s, Event::Confirm);
    ok(&mut s, Event::IdentityVerified);
    ok(
        &mut s,
        Event::Fetched {
            documents: vec![doc("A-1", 200, 1), doc("B-2", 500, 2)],
            resources: resources(100, full_hoppers()),
        },
    );
    ok(&mut s, Event::CoinCredited(Coin::W500));
    ok(&mut s, Event::CoinCredited(Coin::W100));
    ok(&mut s, Event::CoinCredited(Coin::W100));
    ok(&mut s, Event::CoinCredited(Coin::W100));
    let c = ok(&mut s, Event::CoinCredited(Coin::W100));
    assert_eq!(s.state(), State::Printing);
    assert!(c.contains(&Command::DisableAcceptors));
    s
}

fn transfers(cmds: &[Command]) -> Vec<(Transfer, bool)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Book {
                transfer, pending, ..
            } => Some((transfer.clone(), pending.is_some())),
            _ => None,
        })
        .collect()
}

fn t(debit: Account, credit: Account, amount: u64, code: TransferCode) -> Transfer {
    Transfer::new(debit, credit, amount, code).unwrap()
}

fn has_book(cmds: &[Command], want: &Transfer) -> bool {
    transfers(cmds).iter().any(|(tr, p)| tr == want && !p)
}

fn dispenses(cmds: &[Command]) -> Vec<(Coin, u32)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Dispense { coin, count } => Some((*coin, *count)),
            _ => None,
        })
        .collect()
}

fn escrow_key(cmds: &[Command]) -> EscrowKey {
    cmds.iter()
        .find_map(|c| match c {
            Command::Book {
                pending: Some(k), ..
            } => Some(*k),
            _ => None,
        })
        .expect("a pending booking")
}

/// Events that only make sense in some states, for "everything else is refused" checks.
fn all_plain_events() -> Vec<Event> {
    vec![
        Event::Begin,
        Event::AddDocument(req("RES-COPY", 1, false)),
        Event::RemoveDocument { line: 0 },
        Event::Confirm,
        Event::Cancel,
        Event::MoreTime,
        Event::IdentityVerified,
        Event::FingerprintMismatch,
        Event::IdentityUnavailable,
        Event::Fetched {
            documents: vec![doc("Z-9", 100, 1)],
            resources: resources(10, full_hoppers()),
        },
        Event::FetchFailed(FetchFailure::NetworkDown),
        Event::PagePrinted { job: 1 },
        Event::CopyCompleted { job: 1 },
        Event::PrintFailed {
            job: 1,
            fault: PrintFault::Jam,
            spoiled: Sheets::new(1),
        },
    ]
}

/// Asserts that exactly the events named in `allowed` are accepted (each tried on a copy).
fn only_these_accepted(s: &Session, allowed: &[&str]) {
    for e in all_plain_events() {
        let name = e.name();
        let mut copy = s.clone();
        let res = copy.handle(e);
        if allowed.contains(&name) {
            assert!(
                res.is_ok(),
                "{name} should be accepted in {}: {res:?}",
                s.state().name()
            );
        } else {
            assert!(
                res.is_err(),
                "{name} should be refused in {}",
                s.state().name()
            );
            assert_eq!(&copy, s, "refused {name} changed the session");
        }
    }
}

// ----- Idle and Selecting ------------------------------------------------------------

#[test]
fn idle_accepts_only_begin() {
    let s = new_session(full_hoppers());
    assert_eq!(s.state(), State::Idle);
    only_these_accepted(&s, &["begin"]);
    not_now(&mut s.clone(), Event::ReceiptRequested);
    let mut s = s;
    assert!(ok(&mut s, Event::Begin).is_empty());
    assert_eq!(s.state(), State::Selecting);
}

#[test]
fn selecting_accepts_basket_edits_confirm_cancel_and_more_time() {
    let mut with_line = selecting();
    ok(
        &mut with_line,
        Event::AddDocument(req("LAND-REG", 1, false)),
    );
    only_these_accepted(
        &with_line,
        &[
            "add-document",
            "remove-document",
            "confirm",
            "cancel",
            "more-time",
        ],
    );
    // On an empty basket, remove and confirm are refused.
    let mut s = selecting();
    assert_eq!(
        refused(&mut s, Event::RemoveDocument { line: 0 }),
        Rejected::NoSuchLine(0)
    );
    assert_eq!(refused(&mut s, Event::Confirm), Rejected::EmptyBasket);
    ok(&mut s, Event::AddDocument(req("RES-COPY", 2, true)));
    ok(&mut s, Event::AddDocument(req("LAND-REG", 1, false)));
    assert_eq!(s.basket().len(), 2);
    ok(&mut s, Event::RemoveDocument { line: 0 });
    assert_eq!(s.basket()[0].request.code, code("LAND-REG"));
    assert_eq!(
        refused(&mut s, Event::RemoveDocument { line: 1 }),
        Rejected::NoSuchLine(1)
    );
}

#[test]
fn basket_and_copies_are_bounded() {
    let mut s = selecting();
    let max = SessionConfig::default().max_copies;
    assert_eq!(
        refused(&mut s, Event::AddDocument(req("RES-COPY", 0, false))),
        Rejected::BadCopies { copies: 0, max }
    );
    assert_eq!(
        refused(&mut s, Event::AddDocument(req("RES-COPY", max + 1, false))),
        Rejected::BadCopies {
            copies: max + 1,
            max
        }
    );
    ok(&mut s, Event::AddDocument(req("RES-COPY", max, false)));
    for _ in 1..SessionConfig::default().max_lines {
        ok(&mut s, Event::AddDocument(req("RES-COPY", 1, false)));
    }
    assert_eq!(
        refused(&mut s, Event::AddDocument(req("RES-COPY", 1, false))),
        Rejected::BasketFull {
            max: SessionConfig::default().max_lines
        }
    );
}

#[test]
fn confirm_goes_to_identifying_only_for_personal_documents() {
    let mut s = selecting();
    ok(&mut s, Event::AddDocument(req("LAND-REG", 1, false)));
    let c = ok(&mut s, Event::Confirm);
    assert_eq!(s.state(), State::Fetching);
    assert_eq!(
        c,
        vec![Command::Fetch {
            documents: vec![req("LAND-REG", 1, false)]
        }]
    );

    let mut s = selecting();
    ok(&mut s, Event::AddDocument(req("LAND-REG", 1, false)));
    ok(&mut s, Event::AddDocument(req("RES-COPY", 1, true)));
    let c = ok(&mut s, Event::Confirm);
    assert_eq!(s.state(), State::Identifying);
    assert_eq!(c, vec![Command::VerifyIdentity { attempt: 1 }]);
}

#[test]
fn cancel_while_selecting_ends_without_money() {
    let mut s = selecting();
    let c = ok(&mut s, Event::Cancel);
    assert_eq!(s.state(), State::Canceled(EndReason::CitizenCanceled));
    assert_eq!(c, vec![Command::Guide(Guidance::Canceled), Command::Ended]);
    assert!(s.is_over());
    only_these_accepted(&s, &[]);
}

// ----- Identifying -------------------------------------------------------------------

#[test]
fn identifying_accepts_verdicts_cancel_and_more_time() {
    let s = identifying();
    only_these_accepted(
        &s,
        &[
            "identity-verified",
            "fingerprint-mismatch",
            "identity-unavailable",
            "cancel",
            "more-time",
        ],
    );
}

#[test]
fn identity_verified_fetches_the_basket() {
    let mut s = identifying();
    let c = ok(&mut s, Event::IdentityVerified);
    assert_eq!(s.state(), State::Fetching);
    assert_eq!(
        c,
        vec![Command::Fetch {
            documents: vec![req("RES-COPY", 1, true)]
        }]
    );
}

#[test]
fn three_fingerprint_failures_send_the_citizen_to_the_counter_without_money() {
    let mut s = identifying();
    let c = ok(&mut s, Event::FingerprintMismatch);
    assert_eq!(
        c,
        vec![
            Command::Guide(Guidance::RetryFingerprint { tries_left: 2 }),
            Command::VerifyIdentity { attempt: 2 }
        ]
    );
    let c = ok(&mut s, Event::FingerprintMismatch);
    assert_eq!(
        c,
        vec![
            Command::Guide(Guidance::RetryFingerprint { tries_left: 1 }),
            Command::VerifyIdentity { attempt: 3 }
        ]
    );
    assert_eq!(s.state(), State::Identifying);
    let c = ok(&mut s, Event::FingerprintMismatch);
    assert_eq!(s.state(), State::Canceled(EndReason::IdentityFailed));
    assert_eq!(
        c,
        vec![
            Command::Guide(Guidance::GoToCounter(CounterReason::FingerprintNotMatched)),
            Command::Ended
        ]
    );
    assert!(s.is_over());
    assert_eq!(s.inserted(), Won::ZERO);
}

#[test]
fn a_retry_that_matches_goes_on() {
    let mut s = identifying();
    ok(&mut s, Event::FingerprintMismatch);
    ok(&mut s, Event::FingerprintMismatch);
    ok(&mut s, Event::IdentityVerified);
    assert_eq!(s.state(), State::Fetching);
}

#[test]
fn identity_service_down_sends_the_citizen_elsewhere() {
    let mut s = identifying();
    let c = ok(&mut s, Event::IdentityUnavailable);
    assert_eq!(s.state(), State::Canceled(EndReason::IdentityUnavailable));
    assert_eq!(
        c,
        vec![
            Command::Guide(Guidance::GoElsewhere(Outage::IdentityService)),
            Command::Ended
        ]
    );
}

// ----- Fetching ----------------------------------------------------------------------

#[test]
fn fetching_accepts_reply_failure_and_cancel_only() {
    let s = fetching();
    only_these_accepted(&s, &["fetched", "fetch-failed", "cancel"]);
}

#[test]
fn fetch_failures_end_before_money_with_guidance() {
    for (failure, guidance) in [
        (
            FetchFailure::NetworkDown,
            Guidance::GoElsewhere(Outage::Network),
        ),
        (
            FetchFailure::BackendDown,
            Guidance::GoElsewhere(Outage::Backend),
        ),
        (
            FetchFailure::Refused,
            Guidance::GoToCounter(CounterReason::RequestRefused),
        ),
    ] {
        let mut s = fetching();
        let c = ok(&mut s, Event::FetchFailed(failure));
        assert_eq!(s.state(), State::Canceled(EndReason::FetchFailed(failure)));
        assert_eq!(c, vec![Command::Guide(guidance), Command::Ended]);
    }
}

#[test]
fn malformed_replies_are_refused() {
    let mut s = fetching();
    let r = refused(
        &mut s,
        Event::Fetched {
            documents: vec![],
            resources: resources(10, full_hoppers()),
        },
    );
    assert!(matches!(r, Rejected::BadReply(_)));
    let r = refused(
        &mut s,
        Event::Fetched {
            documents: vec![doc("A-1", 100, 1), doc("A-2", 100, 1)],
            resources: resources(10, full_hoppers()),
        },
    );
    assert!(matches!(r, Rejected::BadReply(_)));
    let r = refused(
        &mut s,
        Event::Fetched {
            documents: vec![doc("A-1", 100, 0)],
            resources: resources(10, full_hoppers()),
        },
    );
    assert!(matches!(r, Rejected::BadReply(_)));
}

fn fetched_into(s: &mut Session, docs: Vec<FetchedDoc>, res: Resources) -> Vec<Command> {
    ok(
        s,
        Event::Fetched {
            documents: docs,
            resources: res,
        },
    )
}

#[test]
fn a_basket_the_kiosk_cannot_print_is_refused_before_payment() {
    // Paper: 3 copies of 2 pages need 6 sheets.
    let mut s = selecting();
    ok(&mut s, Event::AddDocument(req("LAND-REG", 3, false)));
    ok(&mut s, Event::Confirm);
    let c = fetched_into(
        &mut s,
        vec![doc("N-1", 500, 2)],
        resources(5, full_hoppers()),
    );
    let refusal = Refusal::NotEnoughPaper {
        needed: Sheets::new(6),
        available: Sheets::new(5),
    };
    assert_eq!(s.state(), State::Canceled(EndReason::CannotServe(refusal)));
    assert_eq!(
        c,
        vec![
            Command::CancelIssue {
                issue: IssueNumber::new("N-1").unwrap()
            },
            Command::Guide(Guidance::CannotServe(refusal)),
            Command::Ended
        ]
    );

    // Exactly enough paper is fine.
    let mut s = selecting();
    ok(&mut s, Event::AddDocument(req("LAND-REG", 3, false)));
    ok(&mut s, Event::Confirm);
    fetched_into(
        &mut s,
        vec![doc("N-1", 500, 2)],
        resources(6, full_hoppers()),
    );
    assert_eq!(s.state(), State::AwaitingPayment);

    // Toner.
    let mut s = fetching();
    let mut res = resources(10, full_hoppers());
    res.toner_ok = false;
    fetched_into(&mut s, vec![doc("N-1", 500, 1)], res);
    assert_eq!(
        s.state(),
        State::Canceled(EndReason::CannotServe(Refusal::TonerOut))
    );
}

#[test]
fn total_due_is_bounded_and_checked() {
    let mut s = selecting();
    ok(&mut s, Event::AddDocument(req("LAND-REG", 10, false)));
    ok(&mut s, Event::Confirm);
    fetched_into(
        &mut s,
        vec![doc("N-1", u64::MAX / 3, 1)],
        resources(100, full_hoppers()),
    );
    assert_eq!(
        s.state(),
        State::Canceled(EndReason::CannotServe(Refusal::DueTooLarge))
    );

    let mut s = fetching();
    fetched_into(
        &mut s,
        vec![doc("N-1", 1_000_001, 1)],
        resources(100, full_hoppers()),
    );
    assert_eq!(
        s.state(),
        State::Canceled(EndReason::CannotServe(Refusal::DueTooLarge))
    );
    let mut s = fetching();
    fetched_into(
        &mut s,
        vec![doc("N-1", 1_000_000, 1)],
        resources(100, full_hoppers()),
    );
    assert_eq!(s.state(), State::AwaitingPayment);
    assert_eq!(s.due(), Won::new(1_000_000));
}

#[test]
fn a_paid_basket_waits_for_money_with_the_acceptors_on() {
    let mut s = fetching();
    let c = fetched_into(
        &mut s,
        vec![doc("N-1", 200, 1)],
        resources(10, full_hoppers()),
    );
    assert_eq!(s.state(), State::AwaitingPayment);
    assert_eq!(
        c,
        vec![
            Command::EnableAcceptors,
            Command::PaymentStatus {
                due: Won::new(200),
                credited: Won::ZERO,
                exact_amount_only: false
            }
        ]
    );
    assert!(s.acceptors_enabled());
}

#[test]
fn a_free_basket_skips_payment() {
    let mut s = selecting();
    ok(&mut s, Event::AddDocument(req("TAX-CERT", 2, false)));
    ok(&mut s, Event::Confirm);
    let c = fetched_into(&mut s, vec![doc("F-1", 0, 1)], resources(10, Hoppers::NONE));
    assert_eq!(s.state(), State::Printing);
    assert!(!c.contains(&Command::EnableAcceptors));
    assert!(matches!(
        c.as_slice(),
        [Command::Print {
            job: 1,
            copy: 1,
            ..
        }]
    ));
    let c = ok(&mut s, Event::CopyCompleted { job: 1 });
    // One sheet printed, no fee for a free document.
    assert_eq!(
        transfers(&c),
        vec![(
            t(
                Account::Printed,
                Account::PaperTray,
                1,
                TransferCode::SheetPrinted
            ),
            false
        )]
    );
    assert!(matches!(
        c.last(),
        Some(Command::Print {
            job: 2,
            copy: 2,
            ..
        })
    ));
    let c = ok(&mut s, Event::CopyCompleted { job: 2 });
    assert_eq!(s.state(), State::Done);
    assert!(c.contains(&Command::ConfirmIssued {
        issue: IssueNumber::new("F-1").unwrap(),
        copies: 2
    }));
    assert_eq!(c.last(), Some(&Command::Ended));
    assert!(s.is_over());
}

#[test]
fn a_late_reply_after_cancel_has_its_issue_numbers_canceled_once() {
    let mut s = fetching();
    ok(&mut s, Event::Cancel);
    assert_eq!(s.state(), State::Canceled(EndReason::CitizenCanceled));
    let c = fetched_into(
        &mut s,
        vec![doc("L-1", 200, 1)],
        resources(10, full_hoppers()),
    );
    assert_eq!(
        c,
        vec![Command::CancelIssue {
            issue: IssueNumber::new("L-1").unwrap()
        }]
    );
    not_now(
        &mut s,
        Event::Fetched {
            documents: vec![doc("L-1", 200, 1)],
            resources: resources(10, full_hoppers()),
        },
    );
    // A session canceled before fetching never accepts a reply.
    let mut s = selecting();
    ok(&mut s, Event::Cancel);
    not_now(
        &mut s,
        Event::Fetched {
            documents: vec![],
            resources: resources(10, full_hoppers()),
        },
    );
}

// ----- AwaitingPayment ---------------------------------------------------------------

#[test]
fn awaiting_payment_accepts_cancel_and_more_time_only_among_plain_events() {
    let s = paying(1_500);
    only_these_accepted(&s, &["cancel", "more-time"]);
}

#[test]
fn coins_credit_at_once_to_their_hopper_or_the_cashbox() {
    let hoppers = Hoppers::NONE.with(Coin::W100, 3).with(Coin::W500, 0);
    let mut s = paying_with(1_500, 1, hoppers);
    let c = ok(&mut s, Event::CoinCredited(Coin::W500));
    assert_eq!(
        transfers(&c),
        vec![(
            t(
                Account::Hopper(Coin::W500),
                Account::SessionCredit,
                500,
                TransferCode::CoinInserted
            ),
            false
        )]
    );
    assert_eq!(s.hoppers().level(Coin::W500), Some(1));
    let c = ok(&mut s, Event::CoinCredited(Coin::W50));
    assert_eq!(
        transfers(&c),
        vec![(
            t(
                Account::Cashbox,
                Account::SessionCredit,
                50,
                TransferCode::CoinInserted
            ),
            false
        )]
    );
    assert_eq!(s.hoppers().level(Coin::W50), None);
    assert_eq!(s.credit(), Won::new(550));
    // 950 still due: a 1,000 note would need 50 change, and there is no 50 or 10 hopper.
    assert!(c.contains(&Command::PaymentStatus {
        due: Won::new(1_500),
        credited: Won::new(550),
        exact_amount_only: true
    }));
}

#[test]
fn a_note_is_kept_only_when_the_change_can_be_paid() {
    // Due 700; a 1,000 note means 300 change: payable from three 100s.
    let mut s = paying_with(700, 1, Hoppers::NONE.with(Coin::W100, 3));
    let c = ok(&mut s, Event::NoteEscrowed(Note::W1000));
    let key = escrow_key(&c);
    assert_eq!(
        key,
        EscrowKey {
            session: SessionId(7),
            seq: 0
        }
    );
    assert_eq!(
        transfers(&c),
        vec![(
            t(
                Account::Escrow,
                Account::SessionCredit,
                1_000,
                TransferCode::NoteEscrowed
            ),
            true
        )]
    );
    assert!(c.contains(&Command::StackNote {
        key,
        note: Note::W1000
    }));
    // Not credited until stacked.
    assert_eq!(s.credit(), Won::ZERO);
    assert_eq!(s.state(), State::AwaitingPayment);

    let c = ok(&mut s, Event::NoteStacked(Note::W1000));
    assert_eq!(c[0], Command::PostPending { key });
    assert_eq!(
        transfers(&c)[0],
        (
            t(
                Account::Stacker(Note::W1000),
                Account::Escrow,
                1_000,
                TransferCode::NoteStacked
            ),
            false
        )
    );
    assert_eq!(s.state(), State::Printing);
    assert!(c.contains(&Command::DisableAcceptors));

    // With only two 100s the same note is returned.
    let mut s = paying_with(700, 1, Hoppers::NONE.with(Coin::W100, 2));
    let c = ok(&mut s, Event::NoteEscrowed(Note::W1000));
    let key = escrow_key(&c);
    assert!(c.contains(&Command::ReturnNote {
        key,
        note: Note::W1000,
        reason: ReturnReason::CannotMakeChange
    }));
    assert!(c.contains(&Command::Guide(Guidance::NoteReturned(
        ReturnReason::CannotMakeChange
    ))));
    let c = ok(&mut s, Event::NoteReturned(Note::W1000));
    assert_eq!(c, vec![Command::VoidPending { key }]);
    assert_eq!(s.credit(), Won::ZERO);
    assert!(!s.has_escrow());
    assert_eq!(s.state(), State::AwaitingPayment);
}

#[test]
fn a_note_that_needs_no_change_is_kept_even_with_empty_hoppers() {
    let mut s = paying_with(2_000, 1, Hoppers::NONE);
    let c = ok(&mut s, Event::NoteEscrowed(Note::W1000));
    assert!(c.iter().any(|c| matches!(c, Command::StackNote { .. })));
    ok(&mut s, Event::NoteStacked(Note::W1000));
    assert_eq!(s.state(), State::AwaitingPayment);
    let c = ok(&mut s, Event::NoteEscrowed(Note::W5000));
    assert!(c.iter().any(|c| matches!(
        c,
        Command::ReturnNote {
            reason: ReturnReason::CannotMakeChange,
            ..
        }
    )));
}

#[test]
fn escrow_events_out_of_order_are_refused() {
    let mut s = paying(1_500);
    assert_eq!(
        refused(&mut s, Event::NoteReturned(Note::W1000)),
        Rejected::NoEscrow
    );
    ok(&mut s, Event::NoteEscrowed(Note::W1000));
    assert_eq!(
        refused(&mut s, Event::NoteEscrowed(Note::W1000)),
        Rejected::EscrowOccupied
    );
    assert_eq!(
        refused(&mut s, Event::NoteReturned(Note::W5000)),
        Rejected::NoEscrow
    );
}

#[test]
fn a_note_stacked_without_escrow_is_still_booked() {
    let mut s = paying(1_500);
    let c = ok(&mut s, Event::NoteStacked(Note::W1000));
    let key = escrow_key(&c);
    assert!(c.contains(&Command::PostPending { key }));
    assert_eq!(s.credit(), Won::new(1_000));
    // A stacked note other than the one in escrow voids the escrowed one.
    ok(&mut s, Event::NoteEscrowed(Note::W1000));
    let c = ok(&mut s, Event::NoteStacked(Note::W5000));
    assert_eq!(
        c[0],
        Command::VoidPending {
            key: EscrowKey {
                session: SessionId(7),
                seq: 1
            }
        }
    );
    assert!(c.contains(&Command::PostPending {
        key: EscrowKey {
            session: SessionId(7),
            seq: 2
        }
    }));
    assert_eq!(s.credit(), Won::new(6_000));
    assert_eq!(s.state(), State::Printing);
}

#[test]
fn printing_waits_for_a_note_that_is_being_stacked() {
    let mut s = paying(1_000);
    ok(&mut s, Event::CoinCredited(Coin::W500));
    ok(&mut s, Event::NoteEscrowed(Note::W1000));
    // Coins complete the fee while the note is on its way to the stacker.
    ok(&mut s, Event::CoinCredited(Coin::W500));
    assert_eq!(s.state(), State::AwaitingPayment);
    let c = ok(&mut s, Event::NoteStacked(Note::W1000));
    assert_eq!(s.state(), State::Printing);
    assert!(c.contains(&Command::DisableAcceptors));
    assert_eq!(s.credit(), Won::new(2_000));
}

#[test]
fn a_note_returned_instead_of_stacked_lets_payment_go_on() {
    let mut s = paying(1_000);
    ok(&mut s, Event::CoinCredited(Coin::W500));
    ok(&mut s, Event::NoteEscrowed(Note::W1000));
    ok(&mut s, Event::CoinCredited(Coin::W500));
    ok(&mut s, Event::NoteReturned(Note::W1000));
    assert_eq!(s.state(), State::Printing);
    assert_eq!(s.credit(), Won::new(1_000));
}

#[test]
fn exact_amount_only_is_flagged_when_hoppers_cannot_change_a_1000_note() {
    let low = Hoppers::NONE.with(Coin::W500, 1).with(Coin::W100, 2);
    let mut s = fetching();
    // Due 200: a 1,000 note would need 800 = 500 + 3 × 100, and there are two 100s.
    let c = fetched_into(&mut s, vec![doc("N-1", 200, 1)], resources(10, low));
    assert_eq!(
        c[1],
        Command::PaymentStatus {
            due: Won::new(200),
            credited: Won::ZERO,
            exact_amount_only: true
        }
    );
    // A 100 coin goes into its hopper (three 100s): 900 = 500 + 4 × 100, still not.
    let c = ok(&mut s, Event::CoinCredited(Coin::W100));
    assert_eq!(
        c[1],
        Command::PaymentStatus {
            due: Won::new(200),
            credited: Won::new(100),
            exact_amount_only: true
        }
    );
    // With full hoppers the flag is off.
    let mut s = fetching();
    let c = fetched_into(
        &mut s,
        vec![doc("N-1", 200, 1)],
        resources(10, full_hoppers()),
    );
    assert!(matches!(
        c[1],
        Command::PaymentStatus {
            exact_amount_only: false,
            ..
        }
    ));
    // Nothing printed twice: an event that changes nothing sends no status.
    assert!(ok(&mut s, Event::MoreTime).is_empty());
}

#[test]
fn cancel_while_paying_returns_everything() {
    let mut s = paying(1_500);
    ok(&mut s, Event::CoinCredited(Coin::W500));
    ok(&mut s, Event::CoinCredited(Coin::W100));
    let c = ok(&mut s, Event::NoteEscrowed(Note::W1000));
    let key = escrow_key(&c);
    let c = ok(&mut s, Event::Cancel);
    assert_eq!(s.state(), State::Refunding(EndReason::CitizenCanceled));
    assert_eq!(c[0], Command::DisableAcceptors);
    assert_eq!(
        c[1],
        Command::ReturnNote {
            key,
            note: Note::W1000,
            reason: ReturnReason::NotAccepting
        }
    );
    assert!(c.contains(&Command::Guide(Guidance::Canceled)));
    assert_eq!(dispenses(&c), vec![(Coin::W100, 1), (Coin::W500, 1)]);
    assert!(!s.acceptors_enabled());

    let c = ok(&mut s, Event::NoteReturned(Note::W1000));
    assert_eq!(c, vec![Command::VoidPending { key }]);
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W500,
            paid: 1,
            unpaid: 0,
        },
    );
    assert!(has_book(
        &c,
        &t(
            Account::SessionCredit,
            Account::Hopper(Coin::W500),
            500,
            TransferCode::Refund
        )
    ));
    assert_eq!(s.state(), State::Refunding(EndReason::CitizenCanceled));
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W100,
            paid: 1,
            unpaid: 0,
        },
    );
    assert_eq!(s.state(), State::Canceled(EndReason::CitizenCanceled));
    assert_eq!(c.last(), Some(&Command::Ended));
    assert_eq!(s.paid_back(), Won::new(600));
    assert!(s.is_over());
}

#[test]
fn a_note_stacked_despite_the_cancel_is_paid_back_too() {
    let mut s = paying(1_500);
    ok(&mut s, Event::NoteEscrowed(Note::W1000));
    ok(&mut s, Event::Cancel);
    assert!(!s.is_settled() && s.state() == State::Refunding(EndReason::CitizenCanceled));
    let c = ok(&mut s, Event::NoteStacked(Note::W1000));
    assert_eq!(dispenses(&c), vec![(Coin::W500, 2)]);
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W500,
            paid: 2,
            unpaid: 0,
        },
    );
    assert_eq!(s.state(), State::Canceled(EndReason::CitizenCanceled));
    assert_eq!(c.last(), Some(&Command::Ended));
}

#[test]
fn inactivity_warns_then_times_out_and_more_time_resets_it() {
    let mut s = paying(1_500);
    ok(&mut s, Event::CoinCredited(Coin::W500));
    assert!(ok(&mut s, Event::Tick { now_ms: 1_000 }).is_empty());
    assert!(ok(&mut s, Event::Tick { now_ms: 60_999 }).is_empty());
    let c = ok(&mut s, Event::Tick { now_ms: 61_000 });
    assert_eq!(
        c,
        vec![Command::Guide(Guidance::TimeoutWarning { ms_left: 30_000 })]
    );
    // Warned once only.
    assert!(ok(&mut s, Event::Tick { now_ms: 62_000 }).is_empty());
    assert!(s.warning_stands());
    ok(&mut s, Event::MoreTime);
    assert!(!s.warning_stands(), "more time lifts the warning");
    assert!(ok(&mut s, Event::Tick { now_ms: 100_000 }).is_empty());
    assert!(ok(&mut s, Event::Tick { now_ms: 159_999 }).is_empty());
    assert_eq!(ok(&mut s, Event::Tick { now_ms: 160_000 }).len(), 1);
    assert!(s.warning_stands(), "and a second silence warns again");
    let c = ok(&mut s, Event::Tick { now_ms: 190_000 });
    assert!(!s.warning_stands(), "a session that ended warns of nothing");
    assert_eq!(s.state(), State::Refunding(EndReason::TimedOut));
    assert!(c.contains(&Command::DisableAcceptors));
    assert!(c.contains(&Command::Guide(Guidance::TimedOut)));
    assert_eq!(dispenses(&c), vec![(Coin::W500, 1)]);
    assert_eq!(
        refused(&mut s, Event::Tick { now_ms: 5 }),
        Rejected::ClockWentBackwards {
            now_ms: 5,
            last_ms: 190_000
        }
    );
}

#[test]
fn inactivity_times_out_selecting_and_identifying_too_but_not_fetching() {
    let mut s = selecting();
    ok(&mut s, Event::Tick { now_ms: 10 });
    ok(&mut s, Event::Tick { now_ms: 90_010 });
    assert_eq!(s.state(), State::Canceled(EndReason::TimedOut));
    let mut s = identifying();
    ok(&mut s, Event::Tick { now_ms: 10 });
    ok(&mut s, Event::Tick { now_ms: 90_010 });
    assert_eq!(s.state(), State::Canceled(EndReason::TimedOut));
    let mut s = fetching();
    ok(&mut s, Event::Tick { now_ms: 10 });
    ok(&mut s, Event::Tick { now_ms: 900_010 });
    assert_eq!(s.state(), State::Fetching);
}

// ----- Printing ----------------------------------------------------------------------

#[test]
fn printing_refuses_cancel_and_citizen_events() {
    let s = printing();
    only_these_accepted(&s, &["page-printed", "copy-completed", "print-failed"]);
}

#[test]
fn printing_books_pages_and_fees_copy_by_copy() {
    let mut s = printing();
    assert_eq!(s.print_job(), Some(1));
    let c = ok(&mut s, Event::PagePrinted { job: 1 });
    assert_eq!(
        transfers(&c),
        vec![(
            t(
                Account::Printed,
                Account::PaperTray,
                1,
                TransferCode::SheetPrinted
            ),
            false
        )]
    );
    // The copy has one page only.
    assert_eq!(
        refused(&mut s, Event::PagePrinted { job: 1 }),
        Rejected::TooManyPages
    );
    assert_eq!(
        refused(&mut s, Event::CopyCompleted { job: 2 }),
        Rejected::WrongJob {
            current: Some(1),
            got: 2
        }
    );
    let c = ok(&mut s, Event::CopyCompleted { job: 1 });
    // All pages were already reported: only the fee is booked.
    assert_eq!(
        transfers(&c),
        vec![(
            t(
                Account::SessionCredit,
                Account::Revenue(code("RES-COPY")),
                200,
                TransferCode::Fee
            ),
            false
        )]
    );
    assert_eq!(
        c.last(),
        Some(&Command::Print {
            job: 2,
            code: code("RES-COPY"),
            issue: IssueNumber::new("A-1").unwrap(),
            copy: 2,
            pages: Sheets::new(1)
        })
    );
    ok(&mut s, Event::CopyCompleted { job: 2 });
    let c = ok(&mut s, Event::CopyCompleted { job: 3 });
    // Two pages of LAND-REG booked at completion, then its fee.
    assert_eq!(
        transfers(&c),
        vec![
            (
                t(
                    Account::Printed,
                    Account::PaperTray,
                    2,
                    TransferCode::SheetPrinted
                ),
                false
            ),
            (
                t(
                    Account::SessionCredit,
                    Account::Revenue(code("LAND-REG")),
                    500,
                    TransferCode::Fee
                ),
                false
            )
        ]
    );
    assert_eq!(
        c[2..],
        [
            Command::ConfirmIssued {
                issue: IssueNumber::new("A-1").unwrap(),
                copies: 2
            },
            Command::ConfirmIssued {
                issue: IssueNumber::new("B-2").unwrap(),
                copies: 1
            },
            Command::Ended
        ]
    );
    assert_eq!(s.state(), State::Done);
    assert_eq!(s.fees(), Won::new(900));
    assert!(s.is_over());
}

#[test]
fn a_jam_refunds_what_was_not_printed() {
    let mut s = printing();
    ok(&mut s, Event::CopyCompleted { job: 1 });
    ok(&mut s, Event::CopyCompleted { job: 2 });
    ok(&mut s, Event::PagePrinted { job: 3 });
    let c = ok(
        &mut s,
        Event::PrintFailed {
            job: 3,
            fault: PrintFault::Jam,
            spoiled: Sheets::new(2),
        },
    );
    assert_eq!(s.state(), State::PayingChange);
    assert_eq!(
        transfers(&c),
        vec![
            (
                t(
                    Account::Spoiled,
                    Account::Printed,
                    1,
                    TransferCode::SheetSpoiled
                ),
                false
            ),
            (
                t(
                    Account::Spoiled,
                    Account::PaperTray,
                    2,
                    TransferCode::SheetSpoiled
                ),
                false
            ),
        ]
    );
    assert!(c.contains(&Command::ConfirmIssued {
        issue: IssueNumber::new("A-1").unwrap(),
        copies: 2
    }));
    assert!(c.contains(&Command::CancelIssue {
        issue: IssueNumber::new("B-2").unwrap()
    }));
    assert!(c.contains(&Command::Guide(Guidance::PrintFailed {
        fault: PrintFault::Jam,
        refund: Won::new(500)
    })));
    assert_eq!(dispenses(&c), vec![(Coin::W500, 1)]);
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W500,
            paid: 1,
            unpaid: 0,
        },
    );
    assert!(has_book(
        &c,
        &t(
            Account::SessionCredit,
            Account::Hopper(Coin::W500),
            500,
            TransferCode::Refund
        )
    ));
    assert_eq!(s.state(), State::Done);
    assert_eq!(s.fees(), Won::new(400));
}

#[test]
fn a_failure_on_the_first_copy_cancels_every_issue_number() {
    let mut s = printing();
    let c = ok(
        &mut s,
        Event::PrintFailed {
            job: 1,
            fault: PrintFault::TrayEmpty,
            spoiled: Sheets::ZERO,
        },
    );
    assert!(transfers(&c).is_empty());
    assert_eq!(
        c.iter()
            .filter(|c| matches!(c, Command::CancelIssue { .. }))
            .count(),
        2
    );
    assert_eq!(s.fees(), Won::ZERO);
    assert_eq!(s.credit(), Won::new(900));
}

#[test]
fn late_money_while_printing_becomes_change() {
    let mut s = printing();
    let c = ok(&mut s, Event::CoinCredited(Coin::W100));
    assert_eq!(transfers(&c).len(), 1);
    assert_eq!(s.state(), State::Printing);
    assert!(dispenses(&c).is_empty());
    let c = ok(&mut s, Event::NoteEscrowed(Note::W1000));
    assert!(c.iter().any(|c| matches!(
        c,
        Command::ReturnNote {
            reason: ReturnReason::NotAccepting,
            ..
        }
    )));
    ok(&mut s, Event::NoteReturned(Note::W1000));
    ok(&mut s, Event::CopyCompleted { job: 1 });
    ok(&mut s, Event::CopyCompleted { job: 2 });
    let c = ok(&mut s, Event::CopyCompleted { job: 3 });
    assert_eq!(s.state(), State::PayingChange);
    assert_eq!(dispenses(&c), vec![(Coin::W100, 1)]);
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W100,
            paid: 1,
            unpaid: 0,
        },
    );
    assert!(has_book(
        &c,
        &t(
            Account::SessionCredit,
            Account::Hopper(Coin::W100),
            100,
            TransferCode::ChangePaid
        )
    ));
    assert_eq!(s.state(), State::Done);
}

// ----- PayingChange, IOUs, receipts --------------------------------------------------

#[test]
fn a_dry_hopper_is_replaced_by_smaller_coins_then_an_iou() {
    // Due 200 paid with a 1,000 note: 800 change planned as 500 + 3 × 100.
    let hoppers = Hoppers::NONE.with(Coin::W500, 1).with(Coin::W100, 4);
    let mut s = paying_with(200, 1, hoppers);
    ok(&mut s, Event::NoteEscrowed(Note::W1000));
    ok(&mut s, Event::NoteStacked(Note::W1000));
    let c = ok(&mut s, Event::CopyCompleted { job: 1 });
    assert_eq!(dispenses(&c), vec![(Coin::W100, 3), (Coin::W500, 1)]);
    assert_eq!(s.state(), State::PayingChange);
    assert_eq!(
        refused(
            &mut s,
            Event::HopperSettled {
                coin: Coin::W500,
                paid: 1,
                unpaid: 1
            }
        ),
        Rejected::BadSettlement {
            requested: 1,
            paid: 1,
            unpaid: 1
        }
    );
    assert_eq!(
        refused(
            &mut s,
            Event::HopperSettled {
                coin: Coin::W50,
                paid: 1,
                unpaid: 0
            }
        ),
        Rejected::NoDispense(Coin::W50)
    );
    // The 500 hopper is empty after all.
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W500,
            paid: 0,
            unpaid: 1,
        },
    );
    assert!(c.is_empty());
    assert_eq!(s.hoppers().level(Coin::W500), Some(0));
    // 100s pay 300; 500 is left; the one remaining 100 is paid next.
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W100,
            paid: 3,
            unpaid: 0,
        },
    );
    assert_eq!(dispenses(&c), vec![(Coin::W100, 1)]);
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W100,
            paid: 1,
            unpaid: 0,
        },
    );
    // 400 cannot be paid: IOU, receipt, end.
    assert!(has_book(
        &c,
        &t(
            Account::SessionCredit,
            Account::RefundsOwed,
            400,
            TransferCode::RefundOwed
        )
    ));
    assert!(c.contains(&Command::RaiseIou {
        amount: Won::new(400)
    }));
    let receipt = c
        .iter()
        .find_map(|c| match c {
            Command::PrintReceipt(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a receipt for the IOU");
    assert_eq!(receipt.owed, Won::new(400));
    assert_eq!(receipt.paid_back, Won::new(400));
    assert_eq!(receipt.inserted, Won::new(1_000));
    assert_eq!(receipt.fees, Won::new(200));
    assert_eq!(receipt.lines.len(), 1);
    assert_eq!(s.state(), State::Done);
    assert!(c.contains(&Command::Ended));
    assert_eq!(
        refused(&mut s, Event::ReceiptRequested),
        Rejected::ReceiptAlreadyPrinted
    );
}

#[test]
fn paying_change_refuses_citizen_and_printer_events() {
    let mut s = paying_with(200, 1, full_hoppers());
    ok(&mut s, Event::CoinCredited(Coin::W500));
    ok(&mut s, Event::CopyCompleted { job: 1 });
    assert_eq!(s.state(), State::PayingChange);
    only_these_accepted(&s, &[]);
}

#[test]
fn a_receipt_on_request_is_printed_at_the_end() {
    let mut s = paying(200);
    let c = ok(&mut s, Event::ReceiptRequested);
    assert!(c.is_empty());
    ok(&mut s, Event::CoinCredited(Coin::W100));
    ok(&mut s, Event::CoinCredited(Coin::W100));
    let c = ok(&mut s, Event::CopyCompleted { job: 1 });
    assert_eq!(s.state(), State::Done);
    let Some(Command::PrintReceipt(r)) = c.last() else {
        panic!("no receipt: {c:?}")
    };
    assert_eq!(r.fees, Won::new(200));
    assert_eq!(r.owed, Won::ZERO);

    // Asked for after the end: printed at once.
    let mut s = paying(200);
    ok(&mut s, Event::CoinCredited(Coin::W100));
    ok(&mut s, Event::CoinCredited(Coin::W100));
    ok(&mut s, Event::CopyCompleted { job: 1 });
    let c = ok(&mut s, Event::ReceiptRequested);
    assert!(matches!(c.as_slice(), [Command::PrintReceipt(_)]));
}

// ----- stray money -------------------------------------------------------------------

#[test]
fn a_coin_in_idle_is_booked_and_given_back() {
    let mut s = new_session(full_hoppers());
    let c = ok(&mut s, Event::CoinCredited(Coin::W100));
    assert_eq!(s.state(), State::Refunding(EndReason::StrayMoney));
    assert_eq!(transfers(&c).len(), 1);
    assert_eq!(dispenses(&c), vec![(Coin::W100, 1)]);
    ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W100,
            paid: 1,
            unpaid: 0,
        },
    );
    assert_eq!(s.state(), State::Canceled(EndReason::StrayMoney));
    assert!(s.is_over());
}

#[test]
fn a_note_in_idle_is_handed_back() {
    let mut s = new_session(full_hoppers());
    let c = ok(&mut s, Event::NoteEscrowed(Note::W10000));
    assert!(c.iter().any(|c| matches!(
        c,
        Command::ReturnNote {
            reason: ReturnReason::NotAccepting,
            ..
        }
    )));
    assert_eq!(s.state(), State::Refunding(EndReason::StrayMoney));
    let c = ok(&mut s, Event::NoteReturned(Note::W10000));
    assert_eq!(s.state(), State::Canceled(EndReason::StrayMoney));
    assert_eq!(c.last(), Some(&Command::Ended));
}

#[test]
fn a_coin_before_payment_counts_toward_the_fee_or_is_refunded() {
    // Counted toward the fee.
    let mut s = selecting();
    ok(&mut s, Event::CoinCredited(Coin::W500));
    ok(&mut s, Event::AddDocument(req("LAND-REG", 1, false)));
    ok(&mut s, Event::Confirm);
    let c = fetched_into(
        &mut s,
        vec![doc("N-1", 500, 1)],
        resources(5, full_hoppers()),
    );
    assert_eq!(s.state(), State::Printing);
    assert!(!c.contains(&Command::EnableAcceptors));

    // Refunded when identity fails.
    let mut s = identifying();
    ok(&mut s, Event::CoinCredited(Coin::W100));
    ok(&mut s, Event::FingerprintMismatch);
    ok(&mut s, Event::FingerprintMismatch);
    let c = ok(&mut s, Event::FingerprintMismatch);
    assert_eq!(s.state(), State::Refunding(EndReason::IdentityFailed));
    assert_eq!(dispenses(&c), vec![(Coin::W100, 1)]);
}

#[test]
fn a_coin_after_the_end_is_paid_back_without_reopening() {
    let mut s = selecting();
    ok(&mut s, Event::Cancel);
    let c = ok(&mut s, Event::CoinCredited(Coin::W50));
    assert_eq!(s.state(), State::Canceled(EndReason::CitizenCanceled));
    assert_eq!(dispenses(&c), vec![(Coin::W50, 1)]);
    assert!(!s.is_over());
    let c = ok(
        &mut s,
        Event::HopperSettled {
            coin: Coin::W50,
            paid: 1,
            unpaid: 0,
        },
    );
    assert!(!c.contains(&Command::Ended), "ended only once");
    assert!(s.is_over());
}

#[test]
fn a_coin_without_a_hopper_after_the_end_becomes_an_iou() {
    let mut s = Session::new(SessionId(1), SessionConfig::default(), Hoppers::NONE);
    ok(&mut s, Event::Begin);
    ok(&mut s, Event::Cancel);
    let c = ok(&mut s, Event::CoinCredited(Coin::W10));
    assert!(has_book(
        &c,
        &t(
            Account::Cashbox,
            Account::SessionCredit,
            10,
            TransferCode::CoinInserted
        )
    ));
    assert!(c.contains(&Command::RaiseIou {
        amount: Won::new(10)
    }));
    assert!(c.iter().any(|c| matches!(c, Command::PrintReceipt(_))));
    assert!(s.is_over());
}

fn keys(cmds: &[Command]) -> Vec<(TransferCode, Option<String>)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Book { transfer, key, .. } => {
                Some((transfer.code(), key.as_ref().map(|k| k.as_str().to_owned())))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_device_key_rides_on_the_movement_its_event_caused_and_nowhere_else() {
    use crate::DeviceKey;
    let key = |s: &str| DeviceKey::new(s).unwrap();
    let mut s = paying(1_500);
    let c = s
        .handle_keyed(Event::CoinCredited(Coin::W500), key("coin:0A1B2C:7"))
        .unwrap();
    assert_eq!(
        keys(&c),
        vec![(TransferCode::CoinInserted, Some("coin:0A1B2C:7".into()))]
    );
    // A stacked note posts its escrow and books the stacking: only the stacking is keyed.
    let c = s
        .handle_keyed(Event::NoteStacked(Note::W1000), key("note:C0FFEE:3"))
        .unwrap();
    assert_eq!(
        keys(&c),
        vec![
            (TransferCode::NoteEscrowed, None),
            (TransferCode::NoteStacked, Some("note:C0FFEE:3".into())),
        ]
    );
    // Events that move nothing physical take no key, and change nothing.
    let before = s.clone();
    assert_eq!(
        s.handle_keyed(Event::Cancel, key("x")),
        Err(Rejected::Unkeyed("cancel"))
    );
    assert_eq!(s, before);
    // A refused keyed event changes nothing either.
    let mut idle = Session::new(SessionId(9), SessionConfig::default(), full_hoppers());
    assert!(
        idle.handle_keyed(Event::PagePrinted { job: 1 }, key("sheet:9:1:1"))
            .is_err()
    );
}

#[test]
fn device_keys_refuse_what_could_carry_personal_data() {
    use crate::DeviceKey;
    assert!(DeviceKey::new("coin:0A1B2C:255").is_ok());
    assert!(DeviceKey::new("").is_err());
    assert!(DeviceKey::new("홍길동").is_err());
    assert!(DeviceKey::new("891223 1427974").is_err());
    assert!(DeviceKey::new(&"a".repeat(65)).is_err());
}
