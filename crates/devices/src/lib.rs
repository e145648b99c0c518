//! Device drivers and simulators (filled in by the devices issue).
