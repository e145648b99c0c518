//! The host side of ccTalk transactions on one port: write a frame, discard the echo, read
//! and check the reply within a bounded time.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::frame::{self, ChecksumKind, Decoded, Frame, FrameDecoder, HOST_ADDRESS};
use super::header;
use crate::link::{LinkError, SerialLink};

/// Settings of one ccTalk port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusConfig {
    /// Checksum kind the devices on this port use.
    pub checksum: ChecksumKind,
    /// Whether the wire echoes the host's own bytes (a true single-wire ccTalk bus); the
    /// host then reads them back and compares. Some USB adapters suppress the echo.
    pub echo: bool,
    /// How long to wait for a reply.
    pub reply_timeout: Duration,
    /// A partial frame is dropped after this much silence between bytes.
    pub inter_byte_gap: Duration,
    /// Extra attempts for commands that are safe to repeat (never for a dispense).
    pub retries: u8,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            checksum: ChecksumKind::Simple,
            echo: false,
            reply_timeout: Duration::from_millis(100),
            inter_byte_gap: Duration::from_millis(50),
            retries: 2,
        }
    }
}

/// Why a transaction failed. Every variant but [`TransactError::Nak`] and
/// [`TransactError::Busy`] leaves it unknown whether the device executed the command.
#[derive(Debug, thiserror::Error)]
pub enum TransactError {
    /// No valid reply in time.
    #[error("no reply within the timeout")]
    Timeout,
    /// Bytes came back but no valid reply among them (bad checksum, noise).
    #[error("corrupt reply ({0} garbage bytes)")]
    Corrupt(usize),
    /// The echo of the host's own frame did not match what was sent.
    #[error("echo mismatch")]
    EchoMismatch,
    /// The device refused the command (NAK).
    #[error("device answered NAK")]
    Nak,
    /// The device is busy (BUSY).
    #[error("device answered BUSY")]
    Busy,
    /// A valid frame that is not an ACK.
    #[error("unexpected reply header {0}")]
    Unexpected(u8),
    /// The frame could not be built.
    #[error("frame: {0}")]
    Frame(#[from] frame::FrameError),
    /// The port failed.
    #[error("{0}")]
    Link(#[from] LinkError),
}

impl TransactError {
    /// Whether the device certainly did not execute the command.
    pub fn certainly_not_executed(&self) -> bool {
        matches!(self, TransactError::Nak | TransactError::Busy)
    }
}

/// One ccTalk port, owned by a driver.
#[derive(Debug)]
pub struct Bus {
    link: SerialLink,
    config: BusConfig,
    decoder: FrameDecoder,
    garbage: usize,
}

impl Bus {
    /// A port with its settings.
    pub fn new(link: SerialLink, config: BusConfig) -> Bus {
        Bus {
            link,
            config,
            decoder: FrameDecoder::new(config.checksum, Some(HOST_ADDRESS)),
            garbage: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Garbage bytes seen since the last call (for the driver to report).
    pub fn take_garbage(&mut self) -> usize {
        std::mem::take(&mut self.garbage)
    }

    /// One attempt: sends `header` with `data` to `dest` and returns the ACK's data.
    pub fn transact(&mut self, dest: u8, hdr: u8, data: &[u8]) -> Result<Vec<u8>, TransactError> {
        let request = frame::encode(
            &Frame {
                dest,
                src: HOST_ADDRESS,
                header: hdr,
                data: data.to_vec(),
            },
            self.config.checksum,
        )?;
        self.garbage += self.link.drain()?;
        self.garbage += self.decoder.clear();
        self.link.write_all(&request)?;
        let deadline = Instant::now() + self.config.reply_timeout;
        if self.config.echo {
            self.read_echo(&request, deadline)?;
        }
        let mut seen_garbage = 0;
        let mut buf = [0u8; 300];
        loop {
            while let Some(item) = self.decoder.next_item() {
                match item {
                    Decoded::Garbage(n) => seen_garbage += n,
                    Decoded::Frame(f) => {
                        let from_dest =
                            self.config.checksum == ChecksumKind::Crc16 || f.src == dest;
                        if !from_dest {
                            seen_garbage += f.data.len() + 5;
                            continue;
                        }
                        self.garbage += seen_garbage;
                        return match f.header {
                            header::ACK => Ok(f.data),
                            header::NAK => Err(TransactError::Nak),
                            header::BUSY => Err(TransactError::Busy),
                            h => Err(TransactError::Unexpected(h)),
                        };
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                let pending = self.decoder.clear();
                seen_garbage += pending;
                self.garbage += seen_garbage;
                return Err(if seen_garbage > 0 {
                    TransactError::Corrupt(seen_garbage)
                } else {
                    TransactError::Timeout
                });
            }
            let wait = if self.decoder.pending() > 0 {
                (deadline - now).min(self.config.inter_byte_gap)
            } else {
                deadline - now
            };
            let n = self.link.read_some(&mut buf, wait)?;
            if n == 0 && self.decoder.pending() > 0 && Instant::now() < deadline {
                // A gap inside a frame: the partial frame is dead.
                seen_garbage += self.decoder.clear();
            }
            self.decoder.push(&buf[..n]);
        }
    }

    fn read_echo(&mut self, request: &[u8], deadline: Instant) -> Result<(), TransactError> {
        let mut got = Vec::with_capacity(request.len());
        let mut buf = [0u8; 300];
        while got.len() < request.len() {
            let now = Instant::now();
            if now >= deadline {
                self.garbage += got.len();
                return Err(if got.is_empty() {
                    TransactError::Timeout
                } else {
                    TransactError::EchoMismatch
                });
            }
            let want = request.len() - got.len();
            let n = self.link.read_some(&mut buf[..want], deadline - now)?;
            got.extend_from_slice(&buf[..n]);
        }
        if got != request {
            self.garbage += got.len();
            return Err(TransactError::EchoMismatch);
        }
        Ok(())
    }

    /// Like [`Bus::transact`], repeated up to `retries` more times on any failure except
    /// NAK. Only for commands that are safe to execute twice.
    pub fn transact_retry(
        &mut self,
        dest: u8,
        hdr: u8,
        data: &[u8],
    ) -> Result<Vec<u8>, TransactError> {
        let mut attempt = 0;
        loop {
            match self.transact(dest, hdr, data) {
                Ok(d) => return Ok(d),
                Err(TransactError::Nak) => return Err(TransactError::Nak),
                Err(TransactError::Link(e)) => return Err(TransactError::Link(e)),
                Err(e) if attempt >= self.config.retries => return Err(e),
                Err(_) => attempt += 1,
            }
        }
    }

    /// Reads the identity headers 246, 245, 244 and 242.
    pub fn identify(&mut self, dest: u8) -> Result<super::Identity, String> {
        let mut text = |h| {
            self.transact_retry(dest, h, &[])
                .map(|d| super::ascii(&d))
                .map_err(|e| format!("header {h}: {e}"))
        };
        let manufacturer = text(header::MANUFACTURER)?;
        let category = text(header::CATEGORY)?;
        let product = text(header::PRODUCT)?;
        let serial = self
            .transact_retry(dest, header::SERIAL, &[])
            .map_err(|e| format!("serial: {e}"))
            .and_then(|d| super::parse_serial(&d).map_err(|e| e.to_string()))?;
        Ok(super::Identity {
            manufacturer,
            category,
            product,
            serial,
        })
    }
}
