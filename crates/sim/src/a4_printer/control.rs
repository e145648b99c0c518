//! The A4 printer's control socket: the same line-delimited JSON protocol and limits as
//! [`crate::control`] (at most [`MAX_CONTROL_CONNECTIONS`] connections, lines up to
//! [`MAX_CONTROL_LINE`] bytes, an over-long line answered with an error and skipped), but
//! with the printer's own commands. `crate::control` is bound to `kiosk_devices::sim`'s
//! command type, hence this small server of its own.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::device::Control;
use super::service::Printer;
use crate::control::{MAX_CONTROL_CONNECTIONS, MAX_CONTROL_LINE};

const STOP_CHECK: Duration = Duration::from_millis(100);

/// Handles one control line: a [`Control`] command; answers the printer's status after it,
/// or `{"ok":false,"error":...}` (and changes nothing).
pub fn handle_line(printer: &Printer, line: &[u8]) -> Value {
    let cmd: Control = match serde_json::from_slice(line) {
        Ok(c) => c,
        Err(e) => return json!({"ok": false, "error": format!("bad command: {e}")}),
    };
    let mut d = printer.lock();
    let answer = match d.apply(&cmd, Instant::now()) {
        Ok(()) => d.status_json(),
        Err(e) => json!({"ok": false, "error": e}),
    };
    drop(d);
    printer.wake.notify_all();
    answer
}

/// A running control socket; dropping it stops serving and removes the socket file.
pub struct ControlSocket {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlSocket {
    /// Binds `path` (which must not exist) and serves `printer` on it.
    pub fn start(path: PathBuf, printer: Arc<Printer>) -> anyhow::Result<ControlSocket> {
        if path.exists() {
            bail!("control socket path {} already exists", path.display());
        }
        let listener =
            UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("a4-control".into())
            .spawn(move || accept_loop(&listener, &printer, &s))?;
        Ok(ControlSocket {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn reply(stream: &mut UnixStream, answer: &Value) -> std::io::Result<()> {
    writeln!(stream, "{answer}")?;
    stream.flush()
}

fn accept_loop(listener: &UnixListener, printer: &Arc<Printer>, stop: &Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                if active.load(Ordering::Relaxed) >= MAX_CONTROL_CONNECTIONS {
                    let _ = stream.set_nonblocking(false);
                    let _ = reply(
                        &mut stream,
                        &json!({"ok": false, "error": "too many connections"}),
                    );
                    continue;
                }
                active.fetch_add(1, Ordering::Relaxed);
                let (printer, stop, conn_active) = (printer.clone(), stop.clone(), active.clone());
                let spawned = std::thread::Builder::new()
                    .name("a4-control-conn".into())
                    .spawn(move || {
                        let _ = serve_connection(stream, &printer, &stop);
                        conn_active.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Err(_) => std::thread::sleep(STOP_CHECK / 5),
        }
    }
}

fn serve_connection(
    stream: UnixStream,
    printer: &Printer,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(STOP_CHECK))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::with_capacity(256);
    // Set after an over-long line: its rest is thrown away up to the next newline.
    let mut skipping = false;
    while !stop.load(Ordering::Relaxed) {
        let room = if skipping {
            MAX_CONTROL_LINE
        } else {
            MAX_CONTROL_LINE - line.len()
        };
        match (&mut reader).take(room as u64).read_until(b'\n', &mut line) {
            Ok(0) if room > 0 => return Ok(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
        let complete = line.last() == Some(&b'\n');
        if skipping {
            line.clear();
            skipping = !complete;
            continue;
        }
        if !complete {
            if line.len() >= MAX_CONTROL_LINE {
                line.clear();
                skipping = true;
                reply(
                    &mut writer,
                    &json!({"ok": false, "error": format!("line longer than {MAX_CONTROL_LINE} bytes")}),
                )?;
            }
            continue;
        }
        let text = line.trim_ascii();
        if !text.is_empty() {
            let answer = handle_line(printer, text);
            reply(&mut writer, &answer)?;
        }
        line.clear();
    }
    Ok(())
}
