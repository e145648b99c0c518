//! kiosk-daemon: the program that runs each kiosk (built by the daemon issue).
fn main() {}
