//! The issuing session state machine (in progress).
