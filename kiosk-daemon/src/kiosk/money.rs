//! Money and paper from the devices: each event booked under its device key with the
//! device's cursor in the same transaction, each order to a device journaled as an intent
//! before the device is told (see `crate::keys` for the names).

use super::*;

impl<H: Hardware, N: Network> Kiosk<H, N> {
    /// The acceptor's cursor as the journal holds it.
    fn acceptor_cursor(&self) -> Option<kiosk_ledger::Cursor> {
        self.ledger
            .cursor(keys::device::COIN_ACCEPTOR)
            .ok()
            .flatten()
    }

    /// Where the acceptor's cursor goes for its event at `counter` after `from`; `None`
    /// when the event is not new (a replay).
    fn acceptor_step(
        &self,
        from: Option<&kiosk_ledger::Cursor>,
        serial: u32,
        counter: u8,
    ) -> Option<kiosk_ledger::Cursor> {
        keys::advance(
            from,
            keys::device::COIN_ACCEPTOR,
            serial,
            counter,
            self.now_ms(),
        )
    }

    /// A coin: named by the acceptor's own counter; booked with the cursor in one
    /// transaction, so a restart resumes exactly after the last coin booked.
    pub(super) fn on_coin(&mut self, coin: kiosk_core::Coin, serial: u32, counter: u8) {
        let cur = self.acceptor_cursor();
        let Some(next) = self.acceptor_step(cur.as_ref(), serial, counter) else {
            warn!(
                counter,
                "a coin event already booked was reported again: refused"
            );
            return;
        };
        let key = keys::coin_key(&next);
        if self.ledger.find(&ledger_key(&key)).ok().flatten().is_some() {
            warn!(key = key.as_str(), "a coin already booked: refused");
            return;
        }
        self.feed_money(Event::CoinCredited(coin), Some(key), vec![Op::Cursor(next)]);
    }

    /// The acceptor's counter moved past events that are not money: the resume point
    /// moves with it (or is first recorded: the driver's baseline at its first start).
    pub(super) fn on_coin_counter(&mut self, serial: u32, counter: u8) {
        let cur = self.acceptor_cursor();
        if let Some(c) = self.acceptor_step(cur.as_ref(), serial, counter) {
            self.book_ops(&[Op::Cursor(c)]);
        }
    }

    /// The acceptor reset: its counter starts again from 0, its events count on.
    pub(super) fn on_acceptor_reset(&mut self) {
        if let Some(mut c) = self.acceptor_cursor() {
            c.counter = 0;
            c.at_ms = self.now_ms();
            self.book_ops(&[Op::Cursor(c)]);
        }
    }

    /// A payout ended: its coins are booked under the intent's id, with the intent's
    /// settlement, in one transaction.
    pub(super) fn on_hopper_settled(
        &mut self,
        coin: kiosk_core::Coin,
        paid: u32,
        unpaid: u32,
        intent: String,
        counter: Option<u8>,
    ) {
        let side = vec![Op::Settle {
            intent: intent.clone(),
            outcome: paid,
            at_ms: self.now_ms(),
        }];
        if let Some(c) = counter {
            self.hopper_counters.insert(coin, c);
        }
        let key = kiosk_core::DeviceKey::new(&intent).ok();
        self.feed_with(Event::HopperSettled { coin, paid, unpaid }, key, side);
    }

    /// Coins whose events fell out of the acceptor's buffer are gone from the books'
    /// view, but the ones still in it are physically in the machine: booked to suspense
    /// for staff, and the kiosk takes no more money until someone looks.
    pub(super) fn on_coins_lost(
        &mut self,
        serial: u32,
        previous: u8,
        current: u8,
        coins: Vec<(u8, kiosk_core::Coin)>,
    ) {
        let at = self.now_ms();
        let mut cur = self.acceptor_cursor();
        let mut ops = Vec::new();
        let mut known = 0u64;
        for (counter, coin) in coins {
            let Some(next) = self.acceptor_step(cur.as_ref(), serial, counter) else {
                continue;
            };
            let debit = if self.settings.hopper_coins.contains(&coin) {
                Account::Hopper(coin)
            } else {
                Account::Cashbox
            };
            match kiosk_core::Transfer::new(
                debit,
                Account::Suspense,
                coin.value().get(),
                kiosk_core::TransferCode::Unexplained,
            ) {
                Ok(t) => ops.push(Op::Post(
                    Entry::new(t, at).key(ledger_key(&keys::coin_key(&next))),
                )),
                Err(e) => error!(%e, "cannot book a lost coin"),
            }
            known += coin.value().get();
            cur = Some(next);
        }
        if let Some(c) = self.acceptor_step(cur.as_ref(), serial, current) {
            ops.push(Op::Cursor(c));
        } else if let Some(c) = cur {
            ops.push(Op::Cursor(c));
        }
        self.book_ops(&ops);
        error!(
            incident = "coin-events-lost",
            previous,
            current,
            suspense = known,
            "coin events were lost: known coins booked to suspense; money taken out of service"
        );
        self.metrics.incident("coin-events-lost");
        self.hold_money("money devices: coin events lost");
    }

    /// A note credited: named by the validator's stacked counter. Whether it arrives as
    /// the stack command's completion, as the poll's credit event, or both, it is
    /// booked once.
    pub(super) fn on_note_credited(&mut self, note: kiosk_core::Note, serial: u32, stacked: u32) {
        let key = keys::note_key(serial, stacked);
        if self.ledger.find(&ledger_key(&key)).ok().flatten().is_some() {
            info!(key = key.as_str(), "note credit already booked");
            return;
        }
        let mut side = self.settle_stack(1);
        side.push(Op::Cursor(keys::validator_cursor(
            serial,
            stacked,
            self.now_ms(),
        )));
        self.feed_money(Event::NoteStacked(note), Some(key), side);
    }

    /// Settles the open stack intent (1: stacked, 0: returned), if there is one.
    pub(super) fn settle_stack(&mut self, outcome: u32) -> Vec<Op> {
        let at = self.now_ms();
        match self.run.as_mut().and_then(|r| r.stack_intent.take()) {
            Some(intent) => vec![Op::Settle {
                intent,
                outcome,
                at_ms: at,
            }],
            None => Vec::new(),
        }
    }

    /// Settles print job `job`'s intent with the pages that came out (all of them when
    /// `pages` is `None`).
    pub(super) fn settle_print(&mut self, job: u32, pages: Option<u32>) -> Vec<Op> {
        let at = self.now_ms();
        let Some(run) = &self.run else {
            return Vec::new();
        };
        let done = run.job_pages.get(&job).copied().unwrap_or(0);
        let total = run
            .printing
            .as_ref()
            .and_then(|(_, issue)| run.prepared.iter().find(|p| &p.issue == issue))
            .map_or(done, |p| p.pages);
        vec![Op::Settle {
            intent: keys::print_intent(run.machine.id(), job),
            outcome: pages.map_or(total, |_| done),
            at_ms: at,
        }]
    }

    /// The intent to journal before a device command is carried out.
    pub(super) fn intent_for(&mut self, cmd: &Command, at: i64) -> Option<Intent> {
        let run = self.run.as_mut()?;
        let session = run.machine.id();
        let base = |id: String, kind, device: String, amount: u32| Intent {
            id,
            kind,
            session,
            device,
            amount,
            before: None,
            job_name: None,
            document: None,
            issue: None,
            fee: None,
            code: None,
            at_ms: at,
        };
        match cmd {
            Command::Dispense { coin, count } => {
                let n = run.dispenses;
                run.dispenses += 1;
                let mut i = base(
                    keys::dispense_intent(session, n),
                    IntentKind::Dispense,
                    keys::hopper_device(*coin),
                    *count,
                );
                i.before = self.hopper_counters.get(coin).map(|&c| u32::from(c));
                i.code = Some(if run.machine.state() == State::PayingChange {
                    kiosk_core::TransferCode::ChangePaid
                } else {
                    kiosk_core::TransferCode::Refund
                });
                Some(i)
            }
            Command::StackNote { key, note } => {
                let mut i = base(
                    keys::stack_intent(session, key.seq),
                    IntentKind::Stack,
                    keys::device::BILL_VALIDATOR.into(),
                    u32::try_from(note.value().get()).unwrap_or(u32::MAX),
                );
                i.before = self
                    .ledger
                    .cursor(keys::device::BILL_VALIDATOR)
                    .ok()
                    .flatten()
                    .map(|c| c.counter);
                run.stack_intent = Some(i.id.clone());
                Some(i)
            }
            Command::Print {
                job,
                code,
                issue,
                copy,
                pages,
            } => {
                let fee = run
                    .prepared
                    .iter()
                    .find(|p| &p.issue == issue)
                    .map(|p| p.fee.get());
                let mut i = base(
                    keys::print_intent(session, *job),
                    IntentKind::Print,
                    keys::device::A4_PRINTER.into(),
                    pages.get(),
                );
                i.job_name = Some(keys::job_name(session, issue, *copy));
                i.document = Some(code.clone());
                i.issue = Some(issue.clone());
                i.fee = fee;
                Some(i)
            }
            _ => None,
        }
    }

    /// The ledger write a booking command stands for.
    pub(super) fn ledger_op(&self, cmd: &Command, at: i64) -> Option<Op> {
        match cmd {
            Command::Book {
                transfer,
                pending,
                key,
            } => {
                let run = self.run.as_ref()?;
                let mut entry = Entry::new(transfer.clone(), at).session(run.machine.id());
                let about_a_document = matches!(
                    transfer.code(),
                    kiosk_core::TransferCode::Fee
                        | kiosk_core::TransferCode::SheetPrinted
                        | kiosk_core::TransferCode::SheetSpoiled
                );
                if let Some((code, issue)) = run.printing.as_ref().filter(|_| about_a_document) {
                    entry = entry.document(code.clone()).issue(issue.clone());
                }
                if let Some(k) = key {
                    entry = entry.key(ledger_key(k));
                }
                match pending {
                    Some(k) => match escrow_key(*k) {
                        Ok(key) => Some(Op::Pending(entry.key(key))),
                        Err(e) => {
                            error!(%e, "bad escrow key");
                            None
                        }
                    },
                    None => Some(Op::Post(entry)),
                }
            }
            Command::PostPending { key } => escrow_key(*key).ok().map(|k| Op::PostPending {
                pending: Resolve::Key(k),
                at_ms: at,
            }),
            Command::VoidPending { key } => escrow_key(*key).ok().map(|k| Op::VoidPending {
                pending: Resolve::Key(k),
                at_ms: at,
            }),
            _ => None,
        }
    }
}

/// A device key as the ledger's idempotency key (same alphabet and length).
pub(super) fn ledger_key(k: &kiosk_core::DeviceKey) -> IdempotencyKey {
    // Both types accept exactly ASCII letters, digits and `: . _ -` up to 64 characters.
    IdempotencyKey::new(k.as_str()).unwrap_or_else(|_| unreachable_ledger_key())
}

#[cold]
pub(super) fn unreachable_ledger_key() -> IdempotencyKey {
    IdempotencyKey::new("invalid-device-key").unwrap_or_else(|_| unreachable_ledger_key())
}

pub(super) fn escrow_key(
    k: kiosk_core::session::EscrowKey,
) -> Result<IdempotencyKey, kiosk_core::IdError> {
    IdempotencyKey::new(&format!("escrow:{}:{}", k.session.0, k.seq))
}
