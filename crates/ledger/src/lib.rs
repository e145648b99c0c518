//! The kiosk ledger.
