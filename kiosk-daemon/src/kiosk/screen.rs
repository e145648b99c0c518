//! What the touchscreen shows: the snapshot published after every message.

use super::*;

impl<H: Hardware, N: Network> Kiosk<H, N> {
    pub(super) fn publish(&mut self) {
        let door = self
            .doors_open
            .first()
            .map(|d| format!("the {d} door is open"));
        let mode = if self.out_of_service.is_some() || door.is_some() {
            "out-of-service"
        } else if self.draining {
            "restarting"
        } else {
            match self.phase() {
                Phase::Open if !self.net.network_available() => "out-of-service",
                Phase::Open => "open",
                Phase::Closed => "out-of-hours",
                Phase::Draining | Phase::RestartDue => "restarting",
            }
        };
        let reason = self.out_of_service.clone().or(door).or_else(|| {
            (!self.net.network_available()).then(|| "the e-government network is down".into())
        });
        let hoppers = self.hoppers();
        let exact = !self
            .settings
            .hopper_coins
            .iter()
            .any(|&c| hoppers.available(c) >= 10);
        let unavailable: Vec<String> = self
            .catalog
            .catalog()
            .agencies()
            .iter()
            .filter(|a| !self.net.agency_available(&a.code))
            .map(|a| a.code.clone())
            .collect();
        let session = self.run.as_ref().map(|r| session_view(r, &self.settings));
        for (coin, _) in self.settings.hopper_coins.iter().map(|c| (c, ())) {
            self.metrics
                .hopper_level(coin.value().get(), hoppers.available(*coin));
        }
        self.metrics
            .paper(self.ledger.balance(&Account::PaperTray).unwrap_or(0));
        let snap = Snapshot {
            kiosk: KioskView {
                id: self.settings.kiosk_id.clone(),
                site: self.settings.site.clone(),
                mode,
                reason: if mode == "open" { None } else { reason },
                hours: self.settings.schedule.hours.to_string(),
                exact_amount_only: exact,
                unavailable_agencies: unavailable,
                earphone: self.earphone,
                where_else: self.settings.where_else.clone(),
                accessibility: self.settings.accessibility.clone(),
                limits: limits(&self.settings),
            },
            session,
        };
        self.view.send_if_modified(|old| {
            if *old == snap {
                false
            } else {
                *old = snap;
                true
            }
        });
    }
}

pub(super) fn limits(s: &Settings) -> crate::view::Limits {
    crate::view::Limits {
        max_copies: s.session.max_copies,
        max_lines: s.session.max_lines,
    }
}

pub(super) fn session_view(r: &Run, s: &Settings) -> SessionView {
    let m = &r.machine;
    let basket = r
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| LineView {
            line: i,
            code: l.code.to_string(),
            name: l.name.clone(),
            name_en: l.name_en.clone(),
            copies: l.copies,
            options: l.options.clone(),
            needs_identity: l.needs_identity,
            fee_per_copy: r.prepared.get(i).map(|p| p.fee.get()),
            pages: r.prepared.get(i).map(|p| p.pages),
        })
        .collect();
    let needed = r.lines.iter().any(|l| l.needs_identity);
    let tries_used = r.identity_attempt.map_or(0, |a| a.saturating_sub(1));
    let due = m.due().get();
    let inserted = m.inserted().get();
    let ended = r.ended_at_ms.map(|_| EndedView {
        reason: match m.state() {
            State::Done => "done",
            State::Canceled(reason) => end_reason(reason),
            _ => "other",
        },
        inserted,
        fees: m.fees().get(),
        paid_back: m.paid_back().get(),
        owed: m.owed().get(),
    });
    // Guidance lives only as long as what it is about: the timeout warning until any
    // activity, a failed scan while identity is still asked for.
    let current = r.guidance.filter(|g| match g {
        Guidance::TimeoutWarning { .. } => m.warning_stands(),
        Guidance::RetryFingerprint { .. } => m.state() == State::Identifying && tries_used > 0,
        _ => true,
    });
    let guidance = match (r.scanning, current) {
        // A retry keeps its message (with the tries left) while the finger is read again.
        (true, Some(g @ Guidance::RetryFingerprint { .. })) => Some(guidance_json(g)),
        (true, _) => Some(serde_json::json!({"kind": "place-finger"})),
        (false, g) => g.map(guidance_json),
    };
    SessionView {
        id: m.id().0,
        state: m.state().name(),
        basket,
        identity: IdentityView {
            needed,
            given: r.rrn.is_some() || r.token.is_some(),
            tries_left: s.session.fingerprint_tries.saturating_sub(tries_used),
            scanning: r.scanning,
        },
        due,
        inserted,
        change: inserted.saturating_sub(due.max(m.fees().get())),
        exact_amount_only: r.exact_amount_only,
        printing: PrintingView {
            pages_done: r.pages_done,
            pages_total: r.pages_total,
        },
        receipt: r.receipt,
        guidance,
        ended,
    }
}

pub(super) fn end_reason(r: EndReason) -> &'static str {
    match r {
        EndReason::CitizenCanceled => "citizen-canceled",
        EndReason::TimedOut => "timed-out",
        EndReason::IdentityFailed => "identity-failed",
        EndReason::IdentityUnavailable => "identity-unavailable",
        EndReason::FetchFailed(_) => "fetch-failed",
        EndReason::CannotServe(_) => "cannot-serve",
        EndReason::StrayMoney => "stray-money",
    }
}

pub(super) fn guidance_json(g: Guidance) -> serde_json::Value {
    use kiosk_core::session::{CounterReason, Outage, PrintFault, Refusal, ReturnReason};
    use serde_json::json;
    match g {
        Guidance::TimeoutWarning { ms_left } => {
            json!({"kind": "timeout-warning", "seconds_left": ms_left.div_ceil(1000)})
        }
        Guidance::RetryFingerprint { tries_left } => {
            json!({"kind": "retry-fingerprint", "tries_left": tries_left})
        }
        Guidance::GoToCounter(r) => json!({"kind": "go-to-counter", "why": match r {
            CounterReason::FingerprintNotMatched => "fingerprint-not-matched",
            CounterReason::RequestRefused => "request-refused",
        }}),
        Guidance::GoElsewhere(o) => json!({"kind": "go-elsewhere", "why": match o {
            Outage::Network => "network",
            Outage::Backend => "backend",
            Outage::IdentityService => "identity-service",
        }}),
        Guidance::CannotServe(r) => json!({"kind": "cannot-serve", "why": match r {
            Refusal::NotEnoughPaper { .. } => "not-enough-paper",
            Refusal::TonerOut => "toner-out",
            Refusal::DueTooLarge => "due-too-large",
            Refusal::TooManyPages => "too-many-pages",
        }}),
        Guidance::PrintFailed { fault, refund } => json!({"kind": "print-failed",
            "fault": match fault { PrintFault::Jam => "jam", PrintFault::TrayEmpty => "tray-empty", PrintFault::Other => "other" },
            "refund": refund.get()}),
        Guidance::Canceled => json!({"kind": "canceled"}),
        Guidance::TimedOut => json!({"kind": "timed-out"}),
        Guidance::NoteReturned(r) => json!({"kind": "note-returned", "why": match r {
            ReturnReason::NotNeeded => "not-needed",
            ReturnReason::CannotMakeChange => "cannot-make-change",
            ReturnReason::NotAccepting => "not-accepting",
        }}),
    }
}
