//! Device simulators (filled in by the device and firmware issues).
