//! kiosk-daemon: the program that runs each kiosk (being built by the daemon issue).
fn main() {}
