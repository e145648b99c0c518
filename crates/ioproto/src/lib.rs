//! The I/O-board wire protocol (filled in by the firmware issue).
#![no_std]
