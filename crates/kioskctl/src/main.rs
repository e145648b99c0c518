//! kioskctl: the command-line tool for contractors and staff.
fn main() {}
