//! kiosk-demo: the whole system on a laptop (built by the daemon issue).
fn main() {}
