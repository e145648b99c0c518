//! Device simulators. `io_board` is the virtual I/O board: the real firmware
//! ([`kiosk_firmware::Shell`] around [`kiosk_firmware::Board`]) on virtual pins, serving the
//! host over a pseudo-terminal and steered through a Unix-socket control interface.
//! `control` serves the same kind of control socket for the simulators of
//! `kiosk_devices::sim` (coin acceptor, hopper, bill validator, receipt printer).
//! `a4_printer` is the A4 document printer: IPP over HTTP on a TCP port, not a pty.

pub mod a4_printer;
pub mod all;
pub mod control;
pub mod io_board;
