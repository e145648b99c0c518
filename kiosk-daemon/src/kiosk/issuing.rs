//! The issuing steps over the network: the identity check, the fetch (rendered off the
//! queue), the confirm or cancel of each issue number. Every message id is saved before
//! its request is sent; answers come back as queue messages.

use super::*;

impl<H: Hardware, N: Network> Kiosk<H, N> {
    pub(super) fn on_scanned(&mut self, result: Result<Zeroizing<Vec<u8>>, String>) {
        let Some(run) = &mut self.run else { return };
        run.scanning = false;
        let template = match result {
            Ok(t) => t,
            Err(reason) => {
                warn!(%reason, "fingerprint scanner failed");
                self.feed(Event::IdentityUnavailable);
                return;
            }
        };
        let Some(rrn) = run.rrn.clone() else { return };
        let session = run.machine.id();
        let id = uuid::Uuid::new_v4().to_string();
        if let Err(e) = self.ledger.egov_sent(
            &id,
            Service::VerifyIdentity,
            Some(session),
            None,
            None,
            self.now_ms(),
        ) {
            error!(%e, "cannot save the message id: not sending");
            self.feed(Event::IdentityUnavailable);
            return;
        }
        let net = self.net.clone();
        let tx = self.tx.clone();
        let guard = InFlight::new(&self.in_flight);
        tokio::spawn(async move {
            let _guard = guard;
            let outcome = net.verify_identity(&id, &rrn, &template).await;
            drop(template);
            drop(rrn);
            let _ = tx
                .send(Msg::Input(Input::Net(NetDone::Identity {
                    session: session.0,
                    message_id: id,
                    outcome,
                })))
                .await;
        });
    }

    pub(super) fn on_net(&mut self, done: NetDone) {
        match done {
            NetDone::Identity {
                session,
                message_id,
                outcome,
            } => {
                let state = match &outcome {
                    NetOutcome::Ok(_) => MessageState::Ok,
                    NetOutcome::Failed(_) => MessageState::Failed,
                    NetOutcome::Unknown => MessageState::Unknown,
                };
                self.settle(&message_id, state, None, None);
                let Some(run) = &mut self.run else { return };
                if run.machine.id().0 != session {
                    return;
                }
                let event = match outcome {
                    NetOutcome::Ok(token) => {
                        run.token = Some(token);
                        run.rrn = None; // wiped: the number is not needed any more
                        Event::IdentityVerified
                    }
                    NetOutcome::Failed(NetFailure::FingerprintMismatch) => {
                        Event::FingerprintMismatch
                    }
                    NetOutcome::Failed(_) | NetOutcome::Unknown => {
                        run.rrn = None;
                        Event::IdentityUnavailable
                    }
                };
                self.feed(event);
            }
            NetDone::Fetched { session, lines } => self.on_fetched(session, lines),
            NetDone::Reported {
                message_id,
                issue,
                outcome,
            } => {
                let (state, ev) = match outcome {
                    NetOutcome::Ok(ev) => (MessageState::Ok, Some(ev)),
                    NetOutcome::Failed(f) => {
                        warn!(?f, issue = issue.as_str(), "report refused");
                        (MessageState::Failed, None)
                    }
                    NetOutcome::Unknown => (MessageState::Unknown, None),
                };
                self.settle(&message_id, state, None, ev);
            }
        }
    }

    pub(super) fn settle(
        &mut self,
        id: &str,
        state: MessageState,
        issue: Option<IssueNumber>,
        ev: Option<crate::ports::Evidence>,
    ) {
        let s = Settlement {
            state,
            issue,
            request_sha256: ev.map(|e| e.request_sha256),
            reply_sha256: ev.map(|e| e.reply_sha256),
            at_ms: self.now_ms(),
        };
        if let Err(e) = self.ledger.egov_settle(id, &s) {
            error!(%e, "cannot record a message outcome");
        }
    }

    pub(super) fn on_fetched(&mut self, session: u64, lines: Vec<(String, NetOutcome<Prepared>)>) {
        let mut docs = Vec::new();
        let mut failure = None;
        for (id, outcome) in lines {
            match outcome {
                NetOutcome::Ok(p) => {
                    self.settle(
                        &id,
                        MessageState::Ok,
                        Some(p.issue.clone()),
                        Some(p.evidence),
                    );
                    docs.push(p);
                }
                NetOutcome::Failed(f) => {
                    self.settle(&id, MessageState::Failed, None, None);
                    failure.get_or_insert(match f {
                        NetFailure::NetworkDown => FetchFailure::NetworkDown,
                        NetFailure::BackendDown(_) => FetchFailure::BackendDown,
                        _ => FetchFailure::Refused,
                    });
                }
                NetOutcome::Unknown => {
                    self.settle(&id, MessageState::Unknown, None, None);
                    failure.get_or_insert(FetchFailure::NetworkDown);
                }
            }
        }
        let resources = self.resources();
        let Some(run) = &mut self.run else { return };
        if run.machine.id().0 != session {
            return;
        }
        if let Some(f) = failure {
            // The documents that were fetched will not be printed: cancel their issues.
            let issues: Vec<IssueNumber> = docs.iter().map(|d| d.issue.clone()).collect();
            self.feed(Event::FetchFailed(f));
            for issue in issues {
                self.execute(Command::CancelIssue { issue }, None);
            }
            return;
        }
        run.pages_total = run
            .lines
            .iter()
            .zip(&docs)
            .map(|(l, d)| d.pages * u32::from(l.copies))
            .sum();
        let fetched = docs
            .iter()
            .map(|d| FetchedDoc {
                issue: d.issue.clone(),
                fee_per_copy: d.fee,
                pages: Sheets::new(d.pages),
            })
            .collect();
        run.prepared = docs;
        self.feed(Event::Fetched {
            documents: fetched,
            resources,
        });
    }

    pub(super) fn start_scan(&mut self) {
        let Some(run) = &mut self.run else { return };
        let Some(rrn) = run.rrn.clone() else { return };
        run.scanning = true;
        self.hw.scan_finger(rrn);
    }

    pub(super) fn start_fetch(&mut self, n: usize) {
        let at = self.now_ms();
        let Some(run) = &self.run else { return };
        let session = run.machine.id();
        let mut jobs = Vec::new();
        for line in run.lines.iter().take(n) {
            let id = uuid::Uuid::new_v4().to_string();
            jobs.push((id, line.clone()));
        }
        for (id, line) in &jobs {
            if let Err(e) = self.ledger.egov_sent(
                id,
                Service::FetchDocument,
                Some(session),
                Some(&line.code),
                None,
                at,
            ) {
                error!(%e, "cannot save a message id: not fetching");
                self.feed(Event::FetchFailed(FetchFailure::NetworkDown));
                return;
            }
        }
        let token = run.token.clone();
        let net = self.net.clone();
        let tx = self.tx.clone();
        let renderer = self.renderer.clone();
        let signing = self.signing.clone();
        let kiosk_id = self.settings.kiosk_id.clone();
        let metrics = self.metrics.clone();
        let guard = InFlight::new(&self.in_flight);
        tokio::spawn(async move {
            let _guard = guard;
            let mut out = Vec::new();
            for (id, line) in jobs {
                let req = FetchRequest {
                    code: line.code.clone(),
                    agency: line.agency.clone(),
                    options: line.options.clone(),
                    token: if line.needs_identity {
                        token.clone()
                    } else {
                        None
                    },
                    address: line.address.clone(),
                };
                let started = std::time::Instant::now();
                let outcome = net.fetch_document(&id, &req).await;
                metrics.egov_latency("fetch-document", started.elapsed());
                let outcome = match outcome {
                    NetOutcome::Ok(doc) => {
                        let renderer = renderer.clone();
                        let signing = signing.clone();
                        let kiosk_id = kiosk_id.clone();
                        let line = line.clone();
                        let rendered = tokio::task::spawn_blocking(move || {
                            render(renderer.as_ref(), &signing, &kiosk_id, &line, doc, at)
                        })
                        .await;
                        match rendered {
                            Ok(Ok(p)) => NetOutcome::Ok(p),
                            Ok(Err(e)) => NetOutcome::Failed(NetFailure::BadReply(e)),
                            Err(e) => NetOutcome::Failed(NetFailure::BadReply(e.to_string())),
                        }
                    }
                    NetOutcome::Failed(f) => NetOutcome::Failed(f),
                    NetOutcome::Unknown => NetOutcome::Unknown,
                };
                let stop = !matches!(outcome, NetOutcome::Ok(_));
                out.push((id, outcome));
                if stop {
                    break;
                }
            }
            let _ = tx
                .send(Msg::Input(Input::Net(NetDone::Fetched {
                    session: session.0,
                    lines: out,
                })))
                .await;
        });
    }

    pub(super) fn report(&mut self, issue: IssueNumber, confirm_pages: Option<u32>) {
        let id = uuid::Uuid::new_v4().to_string();
        let service = if confirm_pages.is_some() {
            Service::ConfirmIssued
        } else {
            Service::CancelIssue
        };
        let session = self.run.as_ref().map(|r| r.machine.id());
        if let Err(e) =
            self.ledger
                .egov_sent(&id, service, session, None, Some(&issue), self.now_ms())
        {
            error!(%e, "cannot save a message id; the reconciler will report it");
            return;
        }
        let net = self.net.clone();
        let tx = self.tx.clone();
        let guard = InFlight::new(&self.in_flight);
        tokio::spawn(async move {
            let _guard = guard;
            let outcome = match confirm_pages {
                Some(p) => net.confirm_issued(&id, &issue, p).await,
                None => net.cancel_issue(&id, &issue).await,
            };
            let _ = tx
                .send(Msg::Input(Input::Net(NetDone::Reported {
                    message_id: id,
                    issue,
                    outcome,
                })))
                .await;
        });
    }
}

pub(super) fn render(
    renderer: &dyn Typeset,
    signing: &SigningKey,
    kiosk_id: &str,
    line: &Line,
    doc: crate::ports::FetchedDocument,
    at_ms: i64,
) -> Result<Prepared, String> {
    kiosk_render::check_data(&doc.data).map_err(|e| e.to_string())?;
    let req = RenderRequest {
        code: line.code.clone(),
        issue_number: doc.issue.clone(),
        issued_at: IssuedAt::from_unix(at_ms.div_euclid(1000)).map_err(|e| e.to_string())?,
        kiosk_id: kiosk_id.to_owned(),
        options: line.options.clone(),
        data: doc.data,
    };
    let (pdf, pages) = renderer.typeset(&req, signing)?;
    Ok(Prepared {
        issue: doc.issue,
        fee: doc.fee,
        pages: u32::try_from(pages).map_err(|e| e.to_string())?,
        pdf: Arc::new(pdf),
        evidence: doc.evidence,
    })
}

/// Columns a receipt line may take: the model the receipt driver prints on (a Hangul
/// syllable takes two).
pub(super) const RECEIPT_COLUMNS: usize =
    kiosk_devices::escpos::PrinterModel::DEFAULT_COLUMNS as usize;

/// The receipt's lines, each fitting `columns`: documents by their Korean name, copies,
/// issue numbers and fees right-aligned; the IOU, if any, apart (printed bold). `name`
/// gives a document's Korean name (the code stands in for one the catalog lacks).
pub(super) fn receipt_lines(
    r: &Receipt,
    kiosk: &str,
    at_ms: i64,
    columns: usize,
    name: impl Fn(&DocCode) -> Option<String>,
) -> (Vec<String>, Option<String>) {
    let when = IssuedAt::from_unix(at_ms.div_euclid(1000))
        .map(|t| t.display_kst())
        .unwrap_or_default();
    let rule = "-".repeat(columns);
    let mut lines = vec![
        fit("무인민원발급기 영수증", "", columns),
        fit(&format!("{kiosk} #{}", r.session.0), "", columns),
        fit(&when, "", columns),
        rule.clone(),
    ];
    for l in &r.lines {
        let doc = name(&l.code).unwrap_or_else(|| l.code.to_string());
        lines.push(fit(&doc, &format!("{}부", l.copies), columns));
        lines.push(fit(
            &format!("  {}", l.issue),
            &Won::new(l.fee_per_copy.get() * u64::from(l.copies)).to_string(),
            columns,
        ));
    }
    lines.push(rule);
    lines.push(fit("투입", &r.inserted.to_string(), columns));
    lines.push(fit("수수료", &r.fees.to_string(), columns));
    lines.push(fit("거스름", &r.paid_back.to_string(), columns));
    let iou =
        (!r.owed.is_zero()).then(|| fit("미지급 거스름(직원 문의)", &r.owed.to_string(), columns));
    (lines, iou)
}

/// Columns `s` takes on the receipt printer, measured by the driver's own encoder (one
/// per ASCII byte, two per KS X 1001 pair); a character it cannot print counts as the `?`
/// [`fit`] puts in its place.
fn receipt_width(s: &str) -> usize {
    s.chars().map(|c| printable(c).1).sum()
}

/// `c` as the receipt printer can print it, and its width.
fn printable(c: char) -> (char, usize) {
    match kiosk_devices::escpos::encode_line(c.encode_utf8(&mut [0; 4]), 0) {
        Ok(bytes) => (c, bytes.len()),
        Err(_) => ('?', 1),
    }
}

/// `left` and `right` on one line of `columns`, `right` flush right; `left` is cut short
/// (never `right`: it is the amount) when both do not fit. A character the printer lacks
/// becomes `?`, so one odd name never costs the citizen the whole receipt.
fn fit(left: &str, right: &str, columns: usize) -> String {
    let right_w = receipt_width(right);
    let room = columns.saturating_sub(right_w + usize::from(!right.is_empty()));
    let mut out = String::new();
    let mut w = 0;
    for (c, cw) in left.chars().map(printable) {
        if w + cw > room {
            break;
        }
        out.push(c);
        w += cw;
    }
    if !right.is_empty() {
        out.push_str(&" ".repeat(columns.saturating_sub(w + right_w)));
        out.push_str(right);
    }
    debug_assert!(receipt_width(&out) <= columns || right_w > columns);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kiosk_core::session::ReceiptLine;
    use kiosk_devices::escpos::{Cut, PrinterModel, Receipt as Slip, render};

    fn receipt(owed: u64) -> Receipt {
        Receipt {
            session: SessionId(7),
            lines: vec![
                ReceiptLine {
                    code: "RES-COPY".parse().unwrap(),
                    issue: "2026-1204-0001-0007".parse().unwrap(),
                    copies: 2,
                    fee_per_copy: Won::new(200),
                },
                ReceiptLine {
                    code: "FAM-RELATION".parse().unwrap(),
                    issue: "2026-1204-0001-0008".parse().unwrap(),
                    copies: 1,
                    fee_per_copy: Won::new(1_000),
                },
            ],
            inserted: Won::new(5_000),
            fees: Won::new(1_400),
            paid_back: Won::new(3_600 - owed),
            owed: Won::new(owed),
        }
    }

    fn names(code: &DocCode) -> Option<String> {
        match code.as_str() {
            "RES-COPY" => Some("주민등록표 등본".into()),
            // A name longer than any line: cut short, the copies kept.
            _ => Some("가족관계증명서 가족관계증명서 가족관계증명서 가족관계증명서".into()),
        }
    }

    #[test]
    fn the_receipt_names_documents_in_korean_and_fits_every_model_width() {
        for columns in [32usize, 42, 48] {
            let (lines, iou) =
                receipt_lines(&receipt(500), "K-1", 1_795_366_800_000, columns, names);
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("주민등록표 등본") && l.ends_with("2부")),
                "{lines:#?}"
            );
            assert!(!lines.iter().any(|l| l.contains("RES-COPY")), "{lines:#?}");
            assert!(lines.iter().any(|l| l.ends_with("400원")));
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("가족관계증명서") && l.ends_with("1부"))
            );
            assert!(iou.as_deref().is_some_and(|l| l.contains("500원")));
            for l in lines.iter().chain(iou.iter()) {
                assert!(receipt_width(l) <= columns, "{columns}: {l:?}");
            }
            assert_eq!(lines[3], "-".repeat(columns), "the rule spans the paper");
            // The driver that prints it agrees: nothing too long for the model.
            let model = PrinterModel {
                columns: columns as u8,
                ..PrinterModel::default()
            };
            render(
                &Slip {
                    lines,
                    iou,
                    cut: Cut::Full,
                },
                &model,
            )
            .unwrap();
        }
    }

    #[test]
    fn a_name_the_printer_cannot_print_costs_one_character_not_the_receipt() {
        let (lines, iou) = receipt_lines(&receipt(0), "K-1", 0, 48, |_| Some("등본🙂\u{7}".into()));
        assert!(lines.iter().any(|l| l.starts_with("등본??")), "{lines:#?}");
        render(
            &Slip {
                lines,
                iou,
                cut: Cut::Full,
            },
            &PrinterModel::default(),
        )
        .unwrap();
    }

    #[test]
    fn a_code_the_catalog_lacks_still_prints() {
        let (lines, iou) = receipt_lines(&receipt(0), "K-1", 0, 48, |_| None);
        assert!(lines.iter().any(|l| l.starts_with("RES-COPY")));
        assert_eq!(iou, None);
    }
}
