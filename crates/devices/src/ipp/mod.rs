//! The A4 document printer over IPP: what its printer and job attributes mean for the kiosk
//! (this module, pure) and the driver that submits PDFs and follows them ([`printer`]).
//!
//! `printer-state-reasons` keywords carry a severity suffix (`-report`, `-warning`,
//! `-error`), but printers disagree on it: CUPS's `ippeveprinter` reports every reason as
//! `-report`, even `media-empty`. So the keyword decides for the conditions the kiosk knows
//! (an empty tray stops printing whatever the suffix says; a low tray never does), and the
//! suffix only for keywords it does not know (no suffix means error, RFC 8011 5.4.12).

pub mod printer;

use serde::{Deserialize, Serialize};

/// The most state reasons kept from one reply.
pub const MAX_REASONS: usize = 32;

/// `printer-state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PrinterState {
    /// 3: ready for jobs.
    Idle,
    /// 4: printing.
    Processing,
    /// 5: will not print until someone acts.
    Stopped,
    /// Any other value (not a valid printer-state).
    Unknown(i32),
}

impl PrinterState {
    /// From the enum value.
    pub fn from_ipp(v: i32) -> PrinterState {
        match v {
            3 => PrinterState::Idle,
            4 => PrinterState::Processing,
            5 => PrinterState::Stopped,
            v => PrinterState::Unknown(v),
        }
    }
}

/// `job-state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobState {
    /// 3: waiting to print.
    Pending,
    /// 4: held.
    PendingHeld,
    /// 5: printing.
    Processing,
    /// 6: printing stopped (the printer needs attention).
    ProcessingStopped,
    /// 7: canceled.
    Canceled,
    /// 8: aborted by the printer.
    Aborted,
    /// 9: printed.
    Completed,
    /// Any other value.
    Unknown(i32),
}

impl JobState {
    /// From the enum value.
    pub fn from_ipp(v: i32) -> JobState {
        match v {
            3 => JobState::Pending,
            4 => JobState::PendingHeld,
            5 => JobState::Processing,
            6 => JobState::ProcessingStopped,
            7 => JobState::Canceled,
            8 => JobState::Aborted,
            9 => JobState::Completed,
            v => JobState::Unknown(v),
        }
    }

    /// Whether the job has ended (canceled, aborted or completed).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Canceled | JobState::Aborted | JobState::Completed
        )
    }
}

/// The severity suffix of a state reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// `-report`: for information.
    Report,
    /// `-warning`: printing goes on.
    Warning,
    /// `-error` or no suffix: printing stops.
    Error,
}

/// What a state reason is about, for the conditions the kiosk acts on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Condition {
    /// `media-empty`: the tray is empty.
    MediaEmpty,
    /// `media-needed`: load paper.
    MediaNeeded,
    /// `media-jam`: paper jam.
    MediaJam,
    /// `media-low`: the tray is nearly empty.
    MediaLow,
    /// `toner-low`.
    TonerLow,
    /// `toner-empty`.
    TonerEmpty,
    /// `marker-supply-low`.
    MarkerSupplyLow,
    /// `marker-supply-empty`.
    MarkerSupplyEmpty,
    /// `door-open`.
    DoorOpen,
    /// `cover-open`.
    CoverOpen,
    /// `input-tray-missing`.
    InputTrayMissing,
    /// `output-area-full`.
    OutputAreaFull,
    /// `output-area-almost-full`.
    OutputAreaAlmostFull,
    /// `paused`.
    Paused,
    /// `shutdown`.
    Shutdown,
    /// `offline`.
    Offline,
    /// Any other keyword (without its suffix).
    Other(String),
}

impl Condition {
    fn from_keyword(k: &str) -> Condition {
        match k {
            "media-empty" => Condition::MediaEmpty,
            "media-needed" => Condition::MediaNeeded,
            "media-jam" => Condition::MediaJam,
            "media-low" => Condition::MediaLow,
            "toner-low" => Condition::TonerLow,
            "toner-empty" => Condition::TonerEmpty,
            "marker-supply-low" => Condition::MarkerSupplyLow,
            "marker-supply-empty" => Condition::MarkerSupplyEmpty,
            "door-open" => Condition::DoorOpen,
            "cover-open" => Condition::CoverOpen,
            "input-tray-missing" => Condition::InputTrayMissing,
            "output-area-full" => Condition::OutputAreaFull,
            "output-area-almost-full" => Condition::OutputAreaAlmostFull,
            "paused" => Condition::Paused,
            "shutdown" => Condition::Shutdown,
            "offline" => Condition::Offline,
            other => Condition::Other(other.to_owned()),
        }
    }

    /// How much this condition matters to a kiosk, whatever the printer's suffix says;
    /// `None` for keywords the kiosk does not know.
    pub fn health(&self) -> Option<Health> {
        Some(match self {
            Condition::MediaEmpty
            | Condition::MediaNeeded
            | Condition::MediaJam
            | Condition::TonerEmpty
            | Condition::MarkerSupplyEmpty
            | Condition::DoorOpen
            | Condition::CoverOpen
            | Condition::InputTrayMissing
            | Condition::OutputAreaFull
            | Condition::Paused
            | Condition::Shutdown
            | Condition::Offline => Health::Error,
            Condition::MediaLow
            | Condition::TonerLow
            | Condition::MarkerSupplyLow
            | Condition::OutputAreaAlmostFull => Health::Warning,
            Condition::Other(_) => return None,
        })
    }
}

/// One `printer-state-reasons` keyword, split.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateReason {
    /// The keyword as the printer sent it.
    pub keyword: String,
    /// What it is about.
    pub condition: Condition,
    /// The printer's severity suffix.
    pub severity: Severity,
}

impl StateReason {
    /// Splits a keyword; `None` for `none` and the empty string.
    pub fn parse(keyword: &str) -> Option<StateReason> {
        let k = keyword.trim();
        if k.is_empty() || k == "none" {
            return None;
        }
        let (base, severity) = if let Some(b) = k.strip_suffix("-error") {
            (b, Severity::Error)
        } else if let Some(b) = k.strip_suffix("-warning") {
            (b, Severity::Warning)
        } else if let Some(b) = k.strip_suffix("-report") {
            (b, Severity::Report)
        } else {
            (k, Severity::Error)
        };
        Some(StateReason {
            keyword: k.to_owned(),
            condition: Condition::from_keyword(base),
            severity,
        })
    }

    /// How much it matters: the kiosk's view for known conditions, the suffix otherwise.
    pub fn health(&self) -> Health {
        self.condition.health().unwrap_or(match self.severity {
            Severity::Report => Health::Ok,
            Severity::Warning => Health::Warning,
            Severity::Error => Health::Error,
        })
    }
}

/// The device status the kiosk acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Prints.
    Ok,
    /// Prints, but staff should act soon (paper or toner low).
    Warning,
    /// Does not print: refuse before payment, stop and refund during a job.
    Error,
}

/// The A4 printer's status, read from Get-Printer-Attributes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct A4Status {
    /// `printer-state`.
    pub state: PrinterState,
    /// `printer-state-reasons`, `none` left out (at most [`MAX_REASONS`]).
    pub reasons: Vec<StateReason>,
    /// What it adds up to.
    pub health: Health,
}

impl A4Status {
    /// From `printer-state` and the `printer-state-reasons` keywords.
    pub fn from_ipp<S: AsRef<str>>(state: i32, reasons: &[S]) -> A4Status {
        let state = PrinterState::from_ipp(state);
        let reasons: Vec<StateReason> = reasons
            .iter()
            .filter_map(|k| StateReason::parse(k.as_ref()))
            .take(MAX_REASONS)
            .collect();
        let from_reasons = reasons
            .iter()
            .map(StateReason::health)
            .max()
            .unwrap_or(Health::Ok);
        let health = match state {
            PrinterState::Stopped | PrinterState::Unknown(_) => Health::Error,
            _ => from_reasons,
        };
        A4Status {
            state,
            reasons,
            health,
        }
    }

    /// Whether a condition is reported.
    pub fn has(&self, c: &Condition) -> bool {
        self.reasons.iter().any(|r| &r.condition == c)
    }

    /// The reasons of this health, as keywords without suffix, for messages.
    pub fn describe(&self, health: Health) -> String {
        let v: Vec<String> = self
            .reasons
            .iter()
            .filter(|r| r.health() == health)
            .map(|r| match &r.condition {
                Condition::Other(k) => k.clone(),
                _ => r
                    .keyword
                    .trim_end_matches("-error")
                    .trim_end_matches("-warning")
                    .trim_end_matches("-report")
                    .to_owned(),
            })
            .collect();
        if v.is_empty() && health == Health::Error && self.state == PrinterState::Stopped {
            return "printer stopped".into();
        }
        v.join(", ")
    }
}

/// Where a job is, read from Get-Job-Attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobProgress {
    /// The printer's job id.
    pub job_id: i32,
    /// `job-state`.
    pub state: JobState,
    /// Pages printed so far (`job-impressions-completed`, else `job-pages-completed`, else
    /// `job-media-sheets-completed`; 0 when the printer reports none).
    pub pages_completed: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keywords_decide_for_known_conditions() {
        // ippeveprinter's way: everything is -report.
        let s = A4Status::from_ipp(3, &["media-empty-report", "toner-low-report"]);
        assert_eq!(s.health, Health::Error);
        assert!(s.has(&Condition::MediaEmpty) && s.has(&Condition::TonerLow));
        assert_eq!(s.describe(Health::Error), "media-empty");
        assert_eq!(s.describe(Health::Warning), "toner-low");
        let s = A4Status::from_ipp(3, &["media-low-error", "none"]);
        assert_eq!(s.health, Health::Warning);
        assert_eq!(s.reasons.len(), 1);
        assert_eq!(
            A4Status::from_ipp(4, &["media-jam"]).reasons[0],
            StateReason {
                keyword: "media-jam".into(),
                condition: Condition::MediaJam,
                severity: Severity::Error
            }
        );
        assert_eq!(A4Status::from_ipp(3, &["none"]).health, Health::Ok);
        assert_eq!(A4Status::from_ipp(5, &["none"]).health, Health::Error);
        assert_eq!(
            A4Status::from_ipp(5, &["none"]).describe(Health::Error),
            "printer stopped"
        );
    }

    #[test]
    fn unknown_keywords_follow_their_suffix() {
        let h = |k: &str| A4Status::from_ipp(3, &[k]).health;
        assert_eq!(h("interpreter-resource-unavailable-report"), Health::Ok);
        assert_eq!(h("fuser-over-temp-warning"), Health::Warning);
        assert_eq!(h("fuser-over-temp-error"), Health::Error);
        assert_eq!(h("spool-area-full"), Health::Error);
    }

    proptest! {
        #[test]
        fn any_reasons_map_without_panic(
            state in any::<i32>(),
            reasons in proptest::collection::vec("\\PC{0,30}", 0..50),
        ) {
            let s = A4Status::from_ipp(state, &reasons);
            prop_assert!(s.reasons.len() <= MAX_REASONS);
            let worst = s.reasons.iter().map(StateReason::health).max().unwrap_or(Health::Ok);
            prop_assert!(s.health >= worst);
        }

        #[test]
        fn the_suffix_never_hides_a_known_condition(
            base in prop_oneof![Just("media-empty"), Just("media-jam"), Just("door-open")],
            suffix in prop_oneof![Just(""), Just("-report"), Just("-warning"), Just("-error")],
        ) {
            let s = A4Status::from_ipp(3, &[format!("{base}{suffix}")]);
            prop_assert_eq!(s.health, Health::Error);
        }
    }
}
