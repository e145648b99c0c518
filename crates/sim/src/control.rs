//! The control socket of the device simulators from `kiosk-devices` (coin acceptor, hopper,
//! bill validator, receipt printer).
//!
//! Line-delimited JSON over a Unix socket: one request per line, one answer line per request.
//! A request is either a [`SimCommand`] (`{"cmd":"insert_coin","value":500}`) or the query
//! `{"cmd":"state"}`. Answers are `{"ok":true,"state":{...}}` with the simulator's state after
//! the request, or `{"ok":false,"error":"..."}` when the request was refused; a refused request
//! changes nothing. See `docs/SIMULATORS.md`.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail};
use kiosk_devices::sim::{
    CoinAcceptorSim, HopperSim, ReceiptPrinterSim, SimCommand, SimError, ValidatorSim,
};
use serde_json::{Value, json};

/// Longest control line accepted, newline included.
pub const MAX_CONTROL_LINE: usize = 4096;
/// Most control connections served at once.
pub const MAX_CONTROL_CONNECTIONS: usize = 8;
/// How often idle threads look whether the server is stopping.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// A simulator that can be steered through the control socket.
pub trait ControlledSim: Send + Sync + 'static {
    /// Applies a control command; a refused command changes nothing.
    fn apply(&self, cmd: SimCommand) -> Result<(), SimError>;
    /// The simulator's state as JSON.
    fn state_json(&self) -> Value;
}

macro_rules! controlled {
    ($($sim:ty),* $(,)?) => {$(
        impl ControlledSim for $sim {
            fn apply(&self, cmd: SimCommand) -> Result<(), SimError> {
                <$sim>::apply(self, cmd)
            }
            fn state_json(&self) -> Value {
                serde_json::to_value(self.state())
                    .unwrap_or_else(|e| json!({"unserialisable": e.to_string()}))
            }
        }
    )*};
}

controlled!(CoinAcceptorSim, HopperSim, ValidatorSim, ReceiptPrinterSim);

/// A parsed control request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Only read the state.
    State,
    /// Apply a simulator command.
    Command(SimCommand),
}

/// Parses one control line (without or with its trailing newline).
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let Some(obj) = value.as_object() else {
        return Err("not a JSON object".into());
    };
    match obj.get("cmd") {
        None => return Err("missing \"cmd\"".into()),
        Some(Value::String(cmd)) if cmd == "state" => {
            if obj.len() != 1 {
                return Err("\"state\" takes no other fields".into());
            }
            return Ok(Request::State);
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err("\"cmd\" must be a string".into()),
    }
    serde_json::from_value::<SimCommand>(value)
        .map(Request::Command)
        .map_err(|e| format!("bad command: {e}"))
}

/// Handles one control line and returns the answer.
pub fn handle_line(sim: &dyn ControlledSim, line: &[u8]) -> Value {
    let result = parse_request(line).and_then(|req| match req {
        Request::State => Ok(()),
        Request::Command(cmd) => sim.apply(cmd).map_err(|e| e.to_string()),
    });
    match result {
        Ok(()) => json!({"ok": true, "state": sim.state_json()}),
        Err(error) => json!({"ok": false, "error": error}),
    }
}

/// A running control socket. Dropping it stops serving and removes the socket file.
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlServer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What a control socket does with one complete request line: the answer to send back.
pub type LineHandler = Arc<dyn Fn(&[u8]) -> Value + Send + Sync>;

impl ControlServer {
    /// Binds the socket at `path` (which must not exist) and serves `sim` on it.
    pub fn start(path: PathBuf, sim: Arc<dyn ControlledSim>) -> anyhow::Result<ControlServer> {
        ControlServer::serve(path, Arc::new(move |line| handle_line(sim.as_ref(), line)))
    }

    /// Binds the socket at `path` (which must not exist) and answers each line with
    /// `handler`: the one line protocol and its limits, for any simulator's commands.
    pub fn serve(path: PathBuf, handler: LineHandler) -> anyhow::Result<ControlServer> {
        if path.exists() {
            bail!("control socket path {} already exists", path.display());
        }
        let listener =
            UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sim-control".into())
            .spawn(move || accept_loop(&listener, &handler, &s))?;
        Ok(ControlServer {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Blocks while the server runs (until the process is killed).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ControlServer {
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

fn accept_loop(listener: &UnixListener, handler: &LineHandler, stop: &Arc<AtomicBool>) {
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
                let (handler, stop, conn_active) = (handler.clone(), stop.clone(), active.clone());
                let spawned = std::thread::Builder::new()
                    .name("sim-control-conn".into())
                    .spawn(move || {
                        let _ = serve_connection(stream, &handler, &stop);
                        conn_active.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    // The thread never ran, so it cannot give its slot back.
                    active.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Err(_) => std::thread::sleep(STOP_CHECK / 5),
        }
    }
}

fn serve_connection(
    stream: UnixStream,
    handler: &LineHandler,
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
            Ok(0) if room > 0 => return Ok(()), // the peer closed
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::Interrupted =>
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
                    &json!({
                        "ok": false,
                        "error": format!("line longer than {MAX_CONTROL_LINE} bytes"),
                    }),
                )?;
            }
            continue; // a partial line: read more
        }
        let text = line.trim_ascii();
        if !text.is_empty() {
            let answer = handler(text);
            reply(&mut writer, &answer)?;
        }
        line.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A stand-in simulator counting coins of 10..=500 won.
    #[derive(Default)]
    struct Counter(Mutex<Vec<u64>>);

    impl ControlledSim for Counter {
        fn apply(&self, cmd: SimCommand) -> Result<(), SimError> {
            match cmd {
                SimCommand::InsertCoin { value } if [10, 50, 100, 500].contains(&value) => {
                    self.0.lock().expect("lock").push(value);
                    Ok(())
                }
                SimCommand::InsertCoin { value } => Err(SimError::Invalid(format!("{value}"))),
                _ => Err(SimError::Unsupported),
            }
        }
        fn state_json(&self) -> Value {
            json!({"coins": *self.0.lock().expect("lock")})
        }
    }

    #[test]
    fn requests_parse() {
        assert_eq!(parse_request(br#"{"cmd":"state"}"#), Ok(Request::State));
        assert_eq!(
            parse_request(b"{\"cmd\":\"insert_coin\",\"value\":500}\n"),
            Ok(Request::Command(SimCommand::InsertCoin { value: 500 }))
        );
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            b"{}",
            br#"{"cmd":5}"#,
            br#"{"cmd":"state","x":1}"#,
            br#"{"cmd":"launch"}"#,
            br#"{"cmd":"insert_coin"}"#,
            br#"{"cmd":"insert_coin","value":-5}"#,
            b"\xff\xfe",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn answers_carry_the_state_or_the_error() {
        let sim = Counter::default();
        let a = handle_line(&sim, br#"{"cmd":"insert_coin","value":500}"#);
        assert_eq!(a, json!({"ok": true, "state": {"coins": [500]}}));
        let a = handle_line(&sim, br#"{"cmd":"insert_coin","value":7}"#);
        assert_eq!(a["ok"], false);
        assert!(
            a["error"].as_str().is_some_and(|e| e.contains("invalid")),
            "{a}"
        );
        let a = handle_line(&sim, br#"{"cmd":"jam"}"#);
        assert_eq!(a["ok"], false);
        assert!(
            a["error"]
                .as_str()
                .is_some_and(|e| e.contains("not supported")),
            "{a}"
        );
        let a = handle_line(&sim, br#"{"cmd":"state"}"#);
        assert_eq!(a, json!({"ok": true, "state": {"coins": [500]}}));
    }

    #[test]
    fn the_socket_answers_line_by_line_and_survives_long_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.sock");
        let sim = Arc::new(Counter::default());
        let server = ControlServer::start(path.clone(), sim.clone()).expect("start");
        assert!(ControlServer::start(path.clone(), sim.clone()).is_err());

        let mut stream = UnixStream::connect(&path).expect("connect");
        let mut lines = BufReader::new(stream.try_clone().expect("clone")).lines();
        let mut ask = |text: &[u8]| -> Value {
            stream.write_all(text).expect("write");
            let line = lines.next().expect("an answer").expect("read");
            serde_json::from_str(&line).expect("json answer")
        };
        assert_eq!(
            ask(b"{\"cmd\":\"insert_coin\",\"value\":100}\n")["ok"],
            true
        );
        let mut long = vec![b' '; MAX_CONTROL_LINE * 3];
        long.push(b'\n');
        let a = ask(&long);
        assert_eq!(a["ok"], false, "{a}");
        // The connection goes on after the long line.
        let a = ask(b"{\"cmd\":\"state\"}\n");
        assert_eq!(a, json!({"ok": true, "state": {"coins": [100]}}));
        drop(server);
        assert!(!path.exists());
    }
}
