//! The kiosk document catalog.
