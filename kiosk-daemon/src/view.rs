//! What the touchscreen sees: the snapshot of docs/LOCAL-API.md.
//!
//! Built by the orchestrator after every change and published on a watch channel; the
//! API only serialises it. Nothing personal is in it: the resident number goes in once
//! and never comes out (`identity.given` is all the screen learns).

use serde::Serialize;
use std::collections::BTreeMap;

use crate::config::{AccessibilitySection, Elsewhere};

/// The whole state the touchscreen renders.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    /// The kiosk.
    pub kiosk: KioskView,
    /// The session, if one runs.
    pub session: Option<SessionView>,
}

/// The kiosk as a whole.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KioskView {
    /// Kiosk id.
    pub id: String,
    /// Site.
    pub site: String,
    /// `open`, `out-of-hours`, `out-of-service`, `restarting`.
    pub mode: &'static str,
    /// Why out of service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Opening hours as shown.
    pub hours: String,
    /// Hoppers are low: only exact amounts.
    pub exact_amount_only: bool,
    /// Agencies whose back end is down.
    pub unavailable_agencies: Vec<String>,
    /// Earphones are plugged in.
    pub earphone: bool,
    /// Where else to go.
    pub where_else: Vec<Elsewhere>,
    /// What the touchscreen starts with (language, voice, volume, rate, contrast).
    pub accessibility: AccessibilitySection,
    /// Basket limits.
    pub limits: Limits,
}

/// Basket limits, so the screen offers only what the daemon accepts.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Limits {
    /// Copies of one document.
    pub max_copies: u8,
    /// Documents in one basket.
    pub max_lines: usize,
}

/// One basket line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LineView {
    /// Index.
    pub line: usize,
    /// Type.
    pub code: String,
    /// Korean name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Copies.
    pub copies: u8,
    /// Options chosen.
    pub options: BTreeMap<String, String>,
    /// Needs identity.
    pub needs_identity: bool,
    /// Fee per copy, once fetched.
    pub fee_per_copy: Option<u64>,
    /// Pages per copy, once fetched.
    pub pages: Option<u32>,
}

/// Identity progress.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IdentityView {
    /// Some line needs identity.
    pub needed: bool,
    /// The resident number was entered.
    pub given: bool,
    /// Fingerprint tries left.
    pub tries_left: u8,
    /// The scanner is reading.
    pub scanning: bool,
}

/// Printing progress.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrintingView {
    /// Pages out.
    pub pages_done: u32,
    /// Pages in all.
    pub pages_total: u32,
}

/// How a session ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EndedView {
    /// Why.
    pub reason: &'static str,
    /// Won inserted.
    pub inserted: u64,
    /// Fees earned.
    pub fees: u64,
    /// Paid back in coins.
    pub paid_back: u64,
    /// Owed (IOU).
    pub owed: u64,
}

/// The running session.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionView {
    /// Session id.
    pub id: u64,
    /// State name.
    pub state: &'static str,
    /// Basket.
    pub basket: Vec<LineView>,
    /// Identity.
    pub identity: IdentityView,
    /// Due.
    pub due: u64,
    /// Inserted so far.
    pub inserted: u64,
    /// Change to come.
    pub change: u64,
    /// Only exact amounts.
    pub exact_amount_only: bool,
    /// Printing.
    pub printing: PrintingView,
    /// A receipt was asked for.
    pub receipt: bool,
    /// The newest guidance.
    pub guidance: Option<serde_json::Value>,
    /// The end.
    pub ended: Option<EndedView>,
}
