//! The byte pipe under every driver and simulator: a serial port with bounded reads.
//!
//! Drivers never block without a deadline: every read here takes a timeout, and a timeout is
//! reported as "no bytes" rather than as an error, so protocol code decides what silence means.

use std::io::{ErrorKind, Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

/// A failure of the port itself (not of the protocol on it).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The operating system refused a read, a write or a setting.
    #[error("serial port I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The serial library refused a setting.
    #[error("serial port: {0}")]
    Port(#[from] serialport::Error),
}

/// A serial port owned by exactly one driver or simulator.
pub struct SerialLink {
    port: Box<dyn SerialPort>,
}

impl std::fmt::Debug for SerialLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialLink")
            .field("name", &self.port.name())
            .finish()
    }
}

impl SerialLink {
    /// Wraps a port (a real `/dev/tty*` opened with `serialport::new(..).open_native()`, or
    /// one end of a [`pty_pair`]).
    pub fn new(port: impl SerialPort + 'static) -> SerialLink {
        SerialLink {
            port: Box::new(port),
        }
    }

    /// Wraps an already boxed port.
    pub fn from_box(port: Box<dyn SerialPort>) -> SerialLink {
        SerialLink { port }
    }

    /// Writes every byte. A pty or UART accepts a few hundred bytes at once, so this only
    /// blocks for as long as the port's own write timeout.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.port.set_timeout(Duration::from_millis(500))?;
        self.port.write_all(bytes)?;
        Ok(())
    }

    /// Reads whatever arrives within `timeout` (at least one byte, or none on timeout).
    pub fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkError> {
        self.port.set_timeout(timeout)?;
        match self.port.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => Ok(0),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(LinkError::Io(e)),
        }
    }

    /// Discards every byte already waiting (stale replies, line noise); returns how many.
    /// Bounded: stops after 4 KiB so a babbling line cannot hold the driver.
    pub fn drain(&mut self) -> Result<usize, LinkError> {
        let mut total = 0;
        let mut buf = [0u8; 256];
        while total < 4096 {
            let n = self.read_some(&mut buf, Duration::ZERO)?;
            if n == 0 {
                break;
            }
            total += n;
        }
        Ok(total)
    }
}

static PTY_LOCK: Mutex<()> = Mutex::new(());

/// A connected pseudo-terminal pair `(device side, host side)` for simulators and tests.
///
/// Pairs are created one at a time under a process-wide lock (creating them concurrently is
/// not safe on every platform).
pub fn pty_pair() -> Result<(TTYPort, TTYPort), LinkError> {
    let _guard = PTY_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (master, slave) = TTYPort::pair()?;
    Ok((master, slave))
}
