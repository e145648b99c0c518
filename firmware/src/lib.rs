//! I/O-board firmware logic (filled in by the firmware issue).
#![no_std]
