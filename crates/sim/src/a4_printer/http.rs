//! A small HTTP/1.1 server for IPP (RFC 8010 section 4, RFC 7230): `POST /ipp/print` with
//! `Content-Type: application/ipp`, bodies with Content-Length or chunked, `Expect:
//! 100-continue`, keep-alive. One thread per connection, at most [`MAX_CONNECTIONS`]; heads,
//! bodies and idle time are bounded. Blocking std I/O like the rest of kiosk-sim: a printer
//! sees a handful of requests a second.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::service::{MAX_ATTRIBUTE_BYTES, PRINTER_PATH, Printer};

/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// A connection with no request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to receive one request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_HEADERS: usize = 48;
const MAX_CHUNK_LINE: usize = 1024;
const POLL: Duration = Duration::from_millis(100);

/// Accepts connections until `stop` is set.
pub fn accept_loop(listener: &TcpListener, printer: &Arc<Printer>, stop: &Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                if printer.lock().offline {
                    // Off the network: the connection goes nowhere.
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    let _ = stream.set_nonblocking(false);
                    let _ = simple(&mut stream, "503 Service Unavailable");
                    continue;
                }
                active.fetch_add(1, Ordering::Relaxed);
                let (printer, stop, conn_active) = (printer.clone(), stop.clone(), active.clone());
                let spawned = std::thread::Builder::new()
                    .name("a4-http".into())
                    .spawn(move || {
                        let _ = Connection::new(stream, &stop).and_then(|c| c.serve(&printer));
                        conn_active.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Err(_) => std::thread::sleep(POLL / 5),
        }
    }
}

/// A response with no body, then the connection closes.
fn simple(stream: &mut TcpStream, status: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    stream.flush()
}

/// What the server needs from a request head.
#[derive(Debug, Default)]
struct Head {
    method: String,
    path: String,
    http10: bool,
    content_length: Option<usize>,
    chunked: bool,
    other_encoding: bool,
    content_type: String,
    expect_continue: bool,
    close: bool,
}

/// Why a request could not be read; answered with the status and the connection closed.
enum Refusal {
    /// The peer went away, or the server is stopping: nothing to answer.
    Gone,
    /// An HTTP status line to answer with.
    Status(&'static str),
}

impl From<io::Error> for Refusal {
    fn from(_: io::Error) -> Refusal {
        Refusal::Gone
    }
}

struct Connection<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    stop: &'a AtomicBool,
}

impl<'a> Connection<'a> {
    fn new(stream: TcpStream, stop: &'a AtomicBool) -> io::Result<Connection<'a>> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(BODY_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(4096),
            stop,
        })
    }

    fn serve(mut self, printer: &Printer) -> io::Result<()> {
        loop {
            let head = match self.read_head() {
                Ok(h) => h,
                Err(Refusal::Gone) => return Ok(()),
                Err(Refusal::Status(s)) => return simple(&mut self.stream, s),
            };
            if printer.lock().offline {
                return Ok(());
            }
            let limit = printer.max_document.saturating_add(MAX_ATTRIBUTE_BYTES);
            if let Err(status) = route(&head, limit) {
                return simple(&mut self.stream, status);
            }
            if head.expect_continue {
                self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            }
            let body = match self.read_body(&head, limit) {
                Ok(b) => b,
                Err(Refusal::Gone) => return Ok(()),
                Err(Refusal::Status(s)) => return simple(&mut self.stream, s),
            };
            if printer.lock().offline {
                return Ok(());
            }
            let answer = printer.handle(&body);
            let close = head.close || head.http10;
            write!(
                self.stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n{}\r\n",
                answer.len(),
                if close { "Connection: close\r\n" } else { "" }
            )?;
            self.stream.write_all(&answer)?;
            self.stream.flush()?;
            if close {
                return Ok(());
            }
        }
    }

    /// Reads more bytes into the buffer, waiting at most until `deadline`.
    fn fill(&mut self, deadline: Instant) -> Result<(), Refusal> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                return Err(Refusal::Gone);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Refusal::Gone),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(Refusal::Gone),
            }
        }
    }

    fn read_head(&mut self) -> Result<Head, Refusal> {
        let deadline = Instant::now() + IDLE_TIMEOUT;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let head = head_of(&req)?;
                    self.buf.drain(..n);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() >= MAX_HEAD {
                        return Err(Refusal::Status("431 Request Header Fields Too Large"));
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(Refusal::Status("431 Request Header Fields Too Large"));
                }
                Err(_) => return Err(Refusal::Status("400 Bad Request")),
            }
            self.fill(deadline)?;
        }
    }

    fn read_body(&mut self, head: &Head, limit: usize) -> Result<Vec<u8>, Refusal> {
        let deadline = Instant::now() + BODY_TIMEOUT;
        if head.chunked {
            return self.read_chunked(limit, deadline);
        }
        let len = head.content_length.unwrap_or(0);
        while self.buf.len() < len {
            self.fill(deadline)?;
        }
        let rest = self.buf.split_off(len);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    fn read_line(&mut self, deadline: Instant) -> Result<Vec<u8>, Refusal> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_CHUNK_LINE {
                return Err(Refusal::Status("400 Bad Request"));
            }
            self.fill(deadline)?;
        }
    }

    /// Decodes a chunked body (RFC 7230 4.1), trailers read and dropped.
    fn read_chunked(&mut self, limit: usize, deadline: Instant) -> Result<Vec<u8>, Refusal> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(deadline)?;
            let size = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| l.split(';').next())
                .map(str::trim)
                .and_then(|s| usize::from_str_radix(s, 16).ok())
                .ok_or(Refusal::Status("400 Bad Request"))?;
            if size == 0 {
                // Trailer fields up to the empty line.
                while !self.read_line(deadline)?.is_empty() {}
                return Ok(body);
            }
            if body.len().saturating_add(size) > limit {
                return Err(Refusal::Status("413 Content Too Large"));
            }
            while self.buf.len() < size + 2 {
                self.fill(deadline)?;
            }
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(Refusal::Status("400 Bad Request"));
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }
}

fn head_of(req: &httparse::Request<'_, '_>) -> Result<Head, Refusal> {
    let mut head = Head {
        method: req.method.unwrap_or_default().to_owned(),
        path: req.path.unwrap_or_default().to_owned(),
        http10: req.version == Some(0),
        ..Head::default()
    };
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        let value = value.trim();
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "content-length" => {
                let n = value
                    .parse::<usize>()
                    .map_err(|_| Refusal::Status("400 Bad Request"))?;
                if head.content_length.is_some_and(|m| m != n) {
                    return Err(Refusal::Status("400 Bad Request"));
                }
                head.content_length = Some(n);
            }
            "transfer-encoding" => {
                for coding in value.split(',').map(str::trim) {
                    if coding.eq_ignore_ascii_case("chunked") {
                        head.chunked = true;
                    } else if !coding.eq_ignore_ascii_case("identity") {
                        head.other_encoding = true;
                    }
                }
            }
            "content-encoding" if !value.eq_ignore_ascii_case("identity") => {
                head.other_encoding = true;
            }
            "content-type" => head.content_type = value.to_ascii_lowercase(),
            "expect" => head.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            "connection" => {
                head.close = value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("close"));
            }
            _ => {}
        }
    }
    // A message with both is a smuggling attempt (RFC 7230 3.3.3).
    if head.chunked && head.content_length.is_some() {
        return Err(Refusal::Status("400 Bad Request"));
    }
    Ok(head)
}

/// Whether the server takes this request at all; the HTTP status otherwise.
fn route(head: &Head, limit: usize) -> Result<(), &'static str> {
    let path = head.path.split('?').next().unwrap_or_default();
    if path != PRINTER_PATH && !path.starts_with("/ipp/print/") {
        return Err("404 Not Found");
    }
    if head.method != "POST" {
        return Err("405 Method Not Allowed");
    }
    if head.content_type.split(';').next().map(str::trim) != Some("application/ipp") {
        return Err("415 Unsupported Media Type");
    }
    if head.other_encoding {
        return Err("415 Unsupported Media Type");
    }
    if head.content_length.is_some_and(|n| n > limit) {
        return Err("413 Content Too Large");
    }
    if !head.chunked && head.content_length.is_none() {
        return Err("411 Length Required");
    }
    Ok(())
}
