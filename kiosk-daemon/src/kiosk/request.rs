//! The touchscreen's requests: each validated before the session sees it (a document
//! the catalog offers, copies in range, options offered, an address of printable text, a
//! resident number of 13 digits), refused with a stable code that changes nothing.

use super::*;

impl<H: Hardware, N: Network> Kiosk<H, N> {
    pub(super) fn on_api(&mut self, req: ApiRequest) -> Result<(), ApiError> {
        match req {
            ApiRequest::Begin => {
                if self.run.as_ref().is_some_and(|r| r.ended_at_ms.is_none()) {
                    return Err(ApiError::new(409, "session-active", "a session is running"));
                }
                if let Some(why) = self.closed_reason() {
                    return Err(ApiError::new(503, "closed", why));
                }
                self.run = None;
                let run = self.new_run();
                self.run = Some(run);
                self.feed(Event::Begin);
                Ok(())
            }
            ApiRequest::Add {
                code,
                copies,
                options,
                address,
            } => {
                let line = self.check_line(&code, copies, options, address)?;
                let run = self.active()?;
                let _g = run.span.clone().entered();
                let req = DocRequest {
                    code: line.code.clone(),
                    copies,
                    needs_identity: line.needs_identity,
                };
                match run.machine.handle(Event::AddDocument(req)) {
                    Ok(cmds) => {
                        run.lines.push(line);
                        self.execute_all(cmds);
                        Ok(())
                    }
                    Err(e) => Err(rejected(&e)),
                }
            }
            ApiRequest::Remove(n) => {
                let run = self.active()?;
                match run.machine.handle(Event::RemoveDocument { line: n }) {
                    Ok(cmds) => {
                        run.lines.remove(n);
                        self.execute_all(cmds);
                        Ok(())
                    }
                    Err(e) => Err(rejected(&e)),
                }
            }
            ApiRequest::Confirm => self.feed_api(Event::Confirm),
            ApiRequest::MoreTime => self.feed_api(Event::MoreTime),
            ApiRequest::Receipt => {
                // Also once the session has ended: the done screen offers the receipt
                // while it lingers.
                let run = self
                    .run
                    .as_mut()
                    .ok_or_else(|| ApiError::new(404, "no-session", "no session is running"))?;
                let _g = run.span.clone().entered();
                let cmds = run
                    .machine
                    .handle(Event::ReceiptRequested)
                    .map_err(|e| rejected(&e))?;
                run.receipt = true;
                self.execute_all(cmds);
                Ok(())
            }
            ApiRequest::Cancel => {
                let run = self.active()?;
                if matches!(
                    run.machine.state(),
                    State::Printing | State::PayingChange | State::Done
                ) {
                    return Err(ApiError::new(422, "too-late", "printing has started"));
                }
                self.feed_api(Event::Cancel)
            }
            ApiRequest::Identity(rrn) => {
                if !valid_rrn(&rrn) {
                    return Err(ApiError::new(
                        422,
                        "bad-resident-number",
                        "13 digits expected",
                    ));
                }
                let run = self.active()?;
                if run.machine.state() != State::Identifying {
                    return Err(ApiError::new(422, "not-now", "no identity check now"));
                }
                let digits: Zeroizing<String> =
                    Zeroizing::new(rrn.chars().filter(char::is_ascii_digit).collect());
                run.rrn = Some(digits);
                if run.identity_attempt.is_some() && !run.scanning {
                    self.start_scan();
                }
                Ok(())
            }
            ApiRequest::Finish => {
                match &self.run {
                    Some(r) if r.ended_at_ms.is_some() => self.run = None,
                    Some(_) => {
                        return Err(ApiError::new(422, "not-now", "the session is not over"));
                    }
                    None => return Err(ApiError::new(404, "no-session", "no session")),
                }
                Ok(())
            }
            ApiRequest::Ping => Ok(()),
            ApiRequest::Help => {
                let session = self.run.as_ref().map(|r| r.machine.id().0);
                warn!(
                    incident = "help-requested",
                    session, "a citizen asked for help"
                );
                self.metrics.incident("help-requested");
                Ok(())
            }
        }
    }

    pub(super) fn closed_reason(&self) -> Option<String> {
        if self.draining {
            return Some("the kiosk is restarting".into());
        }
        if let Some(r) = &self.out_of_service {
            return Some(r.clone());
        }
        if let Some(door) = self.doors_open.first() {
            return Some(format!("the {door} door is open"));
        }
        if self.disk_low {
            return Some("the disk is full".into());
        }
        if self.stacker_full {
            return Some("the note stacker is full".into());
        }
        match self.phase() {
            Phase::Open => None,
            Phase::Closed => Some("outside opening hours".into()),
            Phase::Draining | Phase::RestartDue => Some("the daily restart is near".into()),
        }
    }

    pub(super) fn active(&mut self) -> Result<&mut Run, ApiError> {
        match &mut self.run {
            Some(r) if r.ended_at_ms.is_none() => Ok(r),
            _ => Err(ApiError::new(404, "no-session", "no session is running")),
        }
    }

    pub(super) fn feed_api(&mut self, e: Event) -> Result<(), ApiError> {
        let run = self.active()?;
        let _g = run.span.clone().entered();
        match run.machine.handle(e) {
            Ok(cmds) => {
                self.execute_all(cmds);
                Ok(())
            }
            Err(e) => Err(rejected(&e)),
        }
    }

    pub(super) fn check_line(
        &self,
        code: &str,
        copies: u8,
        options: BTreeMap<String, String>,
        address: Option<String>,
    ) -> Result<Line, ApiError> {
        let doc = self
            .catalog
            .enabled_documents()
            .find(|d| d.code.as_str() == code)
            .ok_or_else(|| {
                ApiError::new(422, "unknown-document", format!("no document {code:?}"))
            })?;
        if !self.net.agency_available(&doc.agency) || !self.net.network_available() {
            return Err(ApiError::new(
                422,
                "document-unavailable",
                format!("{}'s back end is down", doc.agency),
            ));
        }
        if copies == 0 || copies > self.settings.session.max_copies {
            return Err(ApiError::new(422, "bad-copies", "copies out of range"));
        }
        let mut chosen = BTreeMap::new();
        for (k, v) in &options {
            let opt = doc
                .option(k)
                .ok_or_else(|| ApiError::new(422, "bad-option", format!("no option {k:?}")))?;
            if opt.choice(v).is_none() {
                return Err(ApiError::new(
                    422,
                    "bad-option",
                    format!("{k} = {v:?} is not offered"),
                ));
            }
            chosen.insert(k.clone(), v.clone());
        }
        for opt in &doc.options {
            chosen
                .entry(opt.key.clone())
                .or_insert_with(|| opt.default.clone());
        }
        let address = match (doc.requires, address) {
            (Requirement::Address, Some(a)) => {
                let a = a.trim().to_owned();
                let ok =
                    (2..=100).contains(&a.chars().count()) && a.chars().all(|c| !c.is_control());
                if !ok {
                    return Err(ApiError::new(
                        422,
                        "bad-address",
                        "2 to 100 printable characters",
                    ));
                }
                Some(a)
            }
            (Requirement::Address, None) => {
                return Err(ApiError::new(
                    422,
                    "bad-address",
                    "this document needs an address",
                ));
            }
            (Requirement::Identity, Some(_)) => {
                return Err(ApiError::new(
                    422,
                    "bad-address",
                    "this document takes no address",
                ));
            }
            (Requirement::Identity, None) => None,
        };
        Ok(Line {
            code: doc.code.clone(),
            name: doc.name_ko.clone(),
            name_en: doc.name_en.clone(),
            agency: doc.agency.clone(),
            copies,
            options: chosen,
            address,
            needs_identity: doc.requires.needs_identity(),
        })
    }
}

pub(super) fn rejected(e: &kiosk_core::session::Rejected) -> ApiError {
    use kiosk_core::session::Rejected as R;
    let code = match e {
        R::BasketFull { .. } => "basket-full",
        R::BadCopies { .. } => "bad-copies",
        R::NoSuchLine(_) => "bad-request",
        R::EmptyBasket => "empty-basket",
        _ => "not-now",
    };
    ApiError::new(422, code, e.to_string())
}

/// 13 digits, with or without the hyphen after the sixth.
pub fn valid_rrn(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        13 => b.iter().all(u8::is_ascii_digit),
        14 => {
            b[6] == b'-'
                && b[..6].iter().all(u8::is_ascii_digit)
                && b[7..].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}
