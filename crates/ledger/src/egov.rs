//! The e-government message log beside the journal (migration 3).
//!
//! A message id is saved before its request leaves the kiosk, so a retry reuses it and a
//! restarted daemon can settle an unknown outcome by asking about it. Settled messages
//! keep the hashes of request and reply: the evidence of each issued document. Only ids,
//! codes and hashes are stored, never a resident number, a name or a fingerprint.

use crate::LedgerError;
use crate::store::Ledger;
use kiosk_core::{DocCode, IssueNumber, SessionId};
use rusqlite::{OptionalExtension, params};

/// A service of the network, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Identity check.
    VerifyIdentity,
    /// Document data and issue number.
    FetchDocument,
    /// The document was printed.
    ConfirmIssued,
    /// The document was not printed (refund).
    CancelIssue,
}

impl Service {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::VerifyIdentity => "verify-identity",
            Service::FetchDocument => "fetch-document",
            Service::ConfirmIssued => "confirm-issued",
            Service::CancelIssue => "cancel-issue",
        }
    }

    fn parse(s: &str) -> Option<Service> {
        Some(match s {
            "verify-identity" => Service::VerifyIdentity,
            "fetch-document" => Service::FetchDocument,
            "confirm-issued" => Service::ConfirmIssued,
            "cancel-issue" => Service::CancelIssue,
            _ => return None,
        })
    }
}

/// Where a message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// Saved; the request may or may not have left.
    Sent,
    /// Answered and verified.
    Ok,
    /// Answered with a refusal, or never sent.
    Failed,
    /// Sent, then the answer was lost: settle by asking about the id.
    Unknown,
}

impl MessageState {
    fn as_str(self) -> &'static str {
        match self {
            MessageState::Sent => "sent",
            MessageState::Ok => "ok",
            MessageState::Failed => "failed",
            MessageState::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Option<MessageState> {
        Some(match s {
            "sent" => MessageState::Sent,
            "ok" => MessageState::Ok,
            "failed" => MessageState::Failed,
            "unknown" => MessageState::Unknown,
            _ => return None,
        })
    }
}

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The UUID, hyphenated (36 characters).
    pub message_id: String,
    /// When it was saved.
    pub at_ms: i64,
    /// The session it belongs to, if any.
    pub session: Option<SessionId>,
    /// The service.
    pub service: Service,
    /// The document type.
    pub document: Option<DocCode>,
    /// The issue number (known once fetched, or given for confirm/cancel).
    pub issue: Option<IssueNumber>,
    /// Where it stands.
    pub state: MessageState,
    /// SHA-256 of the request bytes.
    pub request_sha256: Option<[u8; 32]>,
    /// SHA-256 of the reply bytes.
    pub reply_sha256: Option<[u8; 32]>,
}

/// The evidence of a settled message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Ok, failed or unknown.
    pub state: MessageState,
    /// The issue number the reply carried.
    pub issue: Option<IssueNumber>,
    /// SHA-256 of the request bytes.
    pub request_sha256: Option<[u8; 32]>,
    /// SHA-256 of the reply bytes.
    pub reply_sha256: Option<[u8; 32]>,
    /// When.
    pub at_ms: i64,
}

fn bad(field: &'static str, reason: String) -> LedgerError {
    LedgerError::BadRow {
        seq: 0,
        field,
        reason,
    }
}

fn hash(v: Option<Vec<u8>>) -> Result<Option<[u8; 32]>, LedgerError> {
    v.map(|b| <[u8; 32]>::try_from(b.as_slice()).map_err(|_| bad("sha256", "not 32 bytes".into())))
        .transpose()
}

fn check_id(id: &str) -> Result<(), LedgerError> {
    let ok = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(bad("message_id", format!("{id:?} is not a UUID")))
    }
}

impl Ledger {
    /// Saves a message id before its request is sent. Saving the same id twice is a no-op
    /// (a retry after a crash).
    pub fn egov_sent(
        &mut self,
        message_id: &str,
        service: Service,
        session: Option<SessionId>,
        document: Option<&DocCode>,
        issue: Option<&IssueNumber>,
        at_ms: i64,
    ) -> Result<(), LedgerError> {
        check_id(message_id)?;
        self.conn().execute(
            "INSERT INTO egov_messages (message_id, at_ms, session, service, document, issue, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'sent') ON CONFLICT (message_id) DO NOTHING",
            params![
                message_id,
                at_ms,
                session.map(|s| s.0 as i64),
                service.as_str(),
                document.map(|d| d.as_str().to_owned()),
                issue.map(|i| i.as_str().to_owned()),
            ],
        )?;
        Ok(())
    }

    /// Records how a message ended. A settled (ok/failed) message is never changed again;
    /// settling it a second time the same way is a no-op.
    pub fn egov_settle(&mut self, message_id: &str, s: &Settlement) -> Result<(), LedgerError> {
        check_id(message_id)?;
        let current: Option<String> = self
            .conn()
            .query_row(
                "SELECT state FROM egov_messages WHERE message_id = ?1",
                [message_id],
                |r| r.get(0),
            )
            .optional()?;
        match current.as_deref() {
            None => return Err(LedgerError::UnknownPending(format!("message {message_id}"))),
            Some("ok" | "failed") => return Ok(()),
            Some(_) => {}
        }
        self.conn().execute(
            "UPDATE egov_messages SET state = ?2, issue = COALESCE(?3, issue),
                 request_sha256 = ?4, reply_sha256 = ?5, settled_ms = ?6
             WHERE message_id = ?1",
            params![
                message_id,
                s.state.as_str(),
                s.issue.as_ref().map(|i| i.as_str().to_owned()),
                s.request_sha256.map(|h| h.to_vec()),
                s.reply_sha256.map(|h| h.to_vec()),
                s.at_ms,
            ],
        )?;
        Ok(())
    }

    /// Messages whose outcome is not known yet (sent or unknown), oldest first.
    pub fn egov_open(&self) -> Result<Vec<Message>, LedgerError> {
        self.egov_query(
            "WHERE state IN ('sent', 'unknown') ORDER BY at_ms, message_id",
            [],
        )
    }

    /// Every message about an issue number.
    pub fn egov_for_issue(&self, issue: &IssueNumber) -> Result<Vec<Message>, LedgerError> {
        self.egov_query(
            "WHERE issue = ?1 ORDER BY at_ms, message_id",
            [issue.as_str()],
        )
    }

    /// Issues fetched successfully that were neither confirmed nor canceled: what a
    /// restarted daemon reconciles with the network.
    pub fn egov_unreconciled_issues(&self) -> Result<Vec<Message>, LedgerError> {
        self.egov_query(
            "WHERE service = 'fetch-document' AND state = 'ok' AND issue IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM egov_messages c
                               WHERE c.issue = egov_messages.issue
                                 AND c.service IN ('confirm-issued', 'cancel-issue')
                                 AND c.state = 'ok')
             ORDER BY at_ms, message_id",
            [],
        )
    }

    /// The highest session id the journal or the message log has seen.
    pub fn last_session(&self) -> Result<u64, LedgerError> {
        let v: i64 = self.conn().query_row(
            "SELECT MAX(COALESCE((SELECT MAX(session) FROM journal), 0),
                        COALESCE((SELECT MAX(session) FROM egov_messages), 0))",
            [],
            |r| r.get(0),
        )?;
        Ok(v.max(0) as u64)
    }

    /// Sessions whose session credit is not zero: money a crash left behind, per session.
    pub fn unsettled_sessions(&self) -> Result<Vec<(SessionId, i64)>, LedgerError> {
        let mut stmt = self.conn().prepare(
            "SELECT session,
                    SUM(CASE WHEN debit = 'session-credit' THEN amount ELSE 0 END)
                  - SUM(CASE WHEN credit = 'session-credit' THEN amount ELSE 0 END)
             FROM journal j
             WHERE session IS NOT NULL AND unit = 'krw'
               AND (kind = 'posted' OR kind = 'post')
             GROUP BY session HAVING SUM(CASE WHEN debit = 'session-credit' THEN amount ELSE 0 END)
                  != SUM(CASE WHEN credit = 'session-credit' THEN amount ELSE 0 END)
             ORDER BY session",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (s, debit_minus_credit) = row?;
            // The session credit account is a liability: a positive credit balance is
            // money held for the citizen.
            out.push((SessionId(s.max(0) as u64), -debit_minus_credit));
        }
        Ok(out)
    }

    /// Sheets that left the kiosk as issued copies of an issue number: printed, less the
    /// sheets of part copies that were spoiled afterwards.
    pub fn sheets_printed(&self, issue: &IssueNumber) -> Result<u64, LedgerError> {
        let v: i64 = self.conn().query_row(
            "SELECT COALESCE(SUM(CASE WHEN code = 'sheet-printed' THEN amount ELSE -amount END), 0)
             FROM journal
             WHERE issue = ?1 AND kind = 'posted' AND (code = 'sheet-printed'
                OR (code = 'sheet-spoiled' AND credit = 'paper:printed'))",
            [issue.as_str()],
            |r| r.get(0),
        )?;
        Ok(v.max(0) as u64)
    }

    fn egov_query<P: rusqlite::Params>(
        &self,
        tail: &str,
        p: P,
    ) -> Result<Vec<Message>, LedgerError> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT message_id, at_ms, session, service, document, issue, state,
                    request_sha256, reply_sha256
             FROM egov_messages {tail}"
        ))?;
        let mut rows = stmt.query(p)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let service: String = r.get(3)?;
            let state: String = r.get(6)?;
            let document: Option<String> = r.get(4)?;
            let issue: Option<String> = r.get(5)?;
            out.push(Message {
                message_id: r.get(0)?,
                at_ms: r.get(1)?,
                session: r
                    .get::<_, Option<i64>>(2)?
                    .map(|s| SessionId(s.max(0) as u64)),
                service: Service::parse(&service).ok_or_else(|| bad("service", service.clone()))?,
                document: document
                    .map(|d| DocCode::new(&d).map_err(|e| bad("document", e.to_string())))
                    .transpose()?,
                issue: issue
                    .map(|i| IssueNumber::new(&i).map_err(|e| bad("issue", e.to_string())))
                    .transpose()?,
                state: MessageState::parse(&state).ok_or_else(|| bad("state", state.clone()))?,
                request_sha256: hash(r.get(7)?)?,
                reply_sha256: hash(r.get(8)?)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    #[test]
    fn a_message_is_saved_once_settled_once_and_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path().join("l.db")).unwrap();
        let code = DocCode::new("RES-COPY").unwrap();
        l.egov_sent(
            ID,
            Service::FetchDocument,
            Some(SessionId(7)),
            Some(&code),
            None,
            1,
        )
        .unwrap();
        l.egov_sent(
            ID,
            Service::FetchDocument,
            Some(SessionId(7)),
            Some(&code),
            None,
            2,
        )
        .unwrap();
        assert_eq!(l.egov_open().unwrap().len(), 1);
        assert_eq!(l.last_session().unwrap(), 7);
        let issue = IssueNumber::new("AB12-CD34").unwrap();
        let ok = Settlement {
            state: MessageState::Ok,
            issue: Some(issue.clone()),
            request_sha256: Some([1; 32]),
            reply_sha256: Some([2; 32]),
            at_ms: 3,
        };
        l.egov_settle(ID, &ok).unwrap();
        assert!(l.egov_open().unwrap().is_empty());
        let un = l.egov_unreconciled_issues().unwrap();
        assert_eq!(un.len(), 1);
        assert_eq!(un[0].issue.as_ref(), Some(&issue));
        assert_eq!(un[0].reply_sha256, Some([2; 32]));
        // Settled evidence does not change, even if asked to.
        let failed = Settlement {
            state: MessageState::Failed,
            ..ok.clone()
        };
        l.egov_settle(ID, &failed).unwrap();
        assert_eq!(l.egov_for_issue(&issue).unwrap()[0].state, MessageState::Ok);
        // Confirming reconciles it.
        let c = "1f8fad5b-d9cb-469f-a165-70867728950e";
        l.egov_sent(
            c,
            Service::ConfirmIssued,
            Some(SessionId(7)),
            None,
            Some(&issue),
            4,
        )
        .unwrap();
        l.egov_settle(
            c,
            &Settlement {
                state: MessageState::Ok,
                issue: None,
                request_sha256: None,
                reply_sha256: None,
                at_ms: 5,
            },
        )
        .unwrap();
        assert!(l.egov_unreconciled_issues().unwrap().is_empty());
        assert!(
            l.egov_sent("not-a-uuid", Service::CancelIssue, None, None, None, 1)
                .is_err()
        );
        assert!(
            l.egov_settle("2f8fad5b-d9cb-469f-a165-70867728950e", &ok)
                .is_err()
        );
    }
}
