//! The virtual I/O board.
//!
//! The firmware runs unchanged: [`kiosk_firmware::Shell`] polls virtual input pins, the
//! master side of a pty pair (the host opens the slave, `/dev/pts/N`), a clock from
//! [`Instant`] and a counting watchdog. The control interface (line-delimited JSON over a
//! Unix socket, see `docs/SIMULATORS.md`) flips the virtual inputs and reads the outputs.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kiosk_firmware::{Board, BootCounter, Clock, Config, Pins, Shell, Watchdog};
use kiosk_ioproto::{Input, InputSet, Key, Lock, LockSet};
use serde::{Deserialize, Serialize};
use serialport::{SerialPort, TTYPort};

/// Longest control line accepted.
pub const MAX_CONTROL_LINE: usize = 4096;
/// Most control connections served at once.
pub const MAX_CONTROL_CONNECTIONS: usize = 8;
/// The board's main-loop period.
pub const LOOP_PERIOD: Duration = Duration::from_millis(2);

/// Levels of the virtual pins, shared between the board thread and the control interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoState {
    /// Raw input levels (active = door open, tamper tripped, paper low, earphone in,
    /// cashbox present).
    pub inputs: InputSet,
    /// Energised lock solenoids.
    pub locks: LockSet,
    /// The host reset relay.
    pub reset_relay: bool,
    /// How many times the reset relay closed.
    pub reset_pulses: u64,
    /// How many times the firmware fed its hardware watchdog.
    pub watchdog_feeds: u64,
}

impl Default for IoState {
    fn default() -> Self {
        IoState {
            // Doors closed, no tamper, paper fine, no earphone, cashbox in.
            inputs: InputSet::EMPTY.with(Input::Cashbox, true),
            locks: LockSet::EMPTY,
            reset_relay: false,
            reset_pulses: 0,
            watchdog_feeds: 0,
        }
    }
}

type Shared = Arc<Mutex<IoState>>;

fn lock_state(shared: &Shared) -> MutexGuard<'_, IoState> {
    // A panicking holder cannot leave IoState inconsistent (plain fields), so go on.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A virtual input pin reading the shared state (high = active).
pub struct VirtualInput {
    shared: Shared,
    input: Input,
}

impl embedded_hal::digital::ErrorType for VirtualInput {
    type Error = Infallible;
}

impl embedded_hal::digital::InputPin for VirtualInput {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(lock_state(&self.shared).inputs.contains(self.input))
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!lock_state(&self.shared).inputs.contains(self.input))
    }
}

/// What a virtual output pin drives.
#[derive(Clone, Copy, Debug)]
enum OutputKind {
    Lock(Lock),
    ResetRelay,
}

/// A virtual output pin writing the shared state.
pub struct VirtualOutput {
    shared: Shared,
    kind: OutputKind,
}

impl VirtualOutput {
    fn set(&mut self, high: bool) {
        let mut s = lock_state(&self.shared);
        match self.kind {
            OutputKind::Lock(lock) => s.locks = s.locks.with(lock, high),
            OutputKind::ResetRelay => {
                if high && !s.reset_relay {
                    s.reset_pulses += 1;
                }
                s.reset_relay = high;
            }
        }
    }
}

impl embedded_hal::digital::ErrorType for VirtualOutput {
    type Error = Infallible;
}

impl embedded_hal::digital::OutputPin for VirtualOutput {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.set(false);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.set(true);
        Ok(())
    }
}

/// The board's end of the pty as an embedded-io serial port.
pub struct PtySerial(TTYPort);

fn io_kind(e: &std::io::Error) -> embedded_io::ErrorKind {
    match e.kind() {
        std::io::ErrorKind::TimedOut => embedded_io::ErrorKind::TimedOut,
        std::io::ErrorKind::Interrupted => embedded_io::ErrorKind::Interrupted,
        _ => embedded_io::ErrorKind::Other,
    }
}

impl embedded_io::ErrorType for PtySerial {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for PtySerial {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.0.read(buf).map_err(|e| io_kind(&e))
    }
}

impl embedded_io::ReadReady for PtySerial {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        self.0
            .bytes_to_read()
            .map(|n| n > 0)
            .map_err(|_| embedded_io::ErrorKind::Other)
    }
}

impl embedded_io::Write for PtySerial {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.write(buf).map_err(|e| io_kind(&e))
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.flush().map_err(|e| io_kind(&e))
    }
}

/// Milliseconds since the simulator started.
pub struct SimClock(Instant);

impl Clock for SimClock {
    fn now_ms(&mut self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Counts feeds of the board's hardware watchdog.
pub struct SimWatchdog(Shared);

impl Watchdog for SimWatchdog {
    fn feed(&mut self) {
        lock_state(&self.0).watchdog_feeds += 1;
    }
}

/// A door, in control commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Door {
    /// Front service door.
    Front,
    /// Rear maintenance door.
    Rear,
    /// Cash cabinet door.
    Cash,
}

impl Door {
    fn input(self) -> Input {
        match self {
            Door::Front => Input::FrontDoor,
            Door::Rear => Input::RearDoor,
            Door::Cash => Input::CashDoor,
        }
    }
}

/// A control command (one JSON object per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlCommand {
    /// Open or close a door.
    Door {
        /// Which door.
        door: Door,
        /// Open (true) or closed (false).
        open: bool,
    },
    /// Insert or remove the earphone plug.
    Earphone {
        /// Inserted (true) or removed (false).
        inserted: bool,
    },
    /// Trip or reset the tamper switch.
    Tamper {
        /// Tripped (true) or reset (false).
        tripped: bool,
    },
    /// Raise or clear the paper-low sensor.
    PaperLow {
        /// Low (true) or fine (false).
        low: bool,
    },
    /// Remove or put back the cashbox.
    Cashbox {
        /// Present (true) or removed (false).
        present: bool,
    },
    /// Only read the state.
    Status,
}

/// Applies a control command to the virtual pins.
pub fn apply(state: &mut IoState, cmd: &ControlCommand) {
    let (input, active) = match *cmd {
        ControlCommand::Door { door, open } => (door.input(), open),
        ControlCommand::Earphone { inserted } => (Input::Earphone, inserted),
        ControlCommand::Tamper { tripped } => (Input::Tamper, tripped),
        ControlCommand::PaperLow { low } => (Input::PaperLow, low),
        ControlCommand::Cashbox { present } => (Input::Cashbox, present),
        ControlCommand::Status => return,
    };
    state.inputs = state.inputs.with(input, active);
}

/// The JSON answer to a control command: `ok` plus the pin levels.
pub fn state_json(s: &IoState) -> serde_json::Value {
    let i = |input| s.inputs.contains(input);
    let l = |lock| s.locks.contains(lock);
    serde_json::json!({
        "ok": true,
        "inputs": {
            "front_door_open": i(Input::FrontDoor),
            "rear_door_open": i(Input::RearDoor),
            "cash_door_open": i(Input::CashDoor),
            "tamper": i(Input::Tamper),
            "paper_low": i(Input::PaperLow),
            "earphone": i(Input::Earphone),
            "cashbox_present": i(Input::Cashbox),
        },
        "locks": {
            "front": l(Lock::FrontDoor),
            "rear": l(Lock::RearDoor),
            "cash": l(Lock::CashDoor),
        },
        "reset_relay": s.reset_relay,
        "reset_pulses": s.reset_pulses,
        "watchdog_feeds": s.watchdog_feeds,
    })
}

/// How to start the virtual board.
#[derive(Clone, Debug)]
pub struct IoBoardOptions {
    /// The per-board key.
    pub key: Key,
    /// The board identity.
    pub board_id: u32,
    /// Where to put the control socket.
    pub control_path: PathBuf,
    /// Firmware configuration.
    pub config: Config,
}

/// A running virtual board. Dropping it stops the threads and removes the control socket.
pub struct IoBoardSim {
    port: String,
    control_path: PathBuf,
    shared: Shared,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl IoBoardSim {
    /// Creates the pty pair and the control socket and starts the board.
    pub fn start(opts: IoBoardOptions) -> anyhow::Result<IoBoardSim> {
        let (master, slave) = TTYPort::pair().context("creating a pty pair")?;
        let port = slave
            .name()
            .context("the pty pair has no slave device name")?;
        if opts.control_path.exists() {
            bail!(
                "control socket path {} already exists",
                opts.control_path.display()
            );
        }
        let listener = UnixListener::bind(&opts.control_path)
            .with_context(|| format!("binding {}", opts.control_path.display()))?;
        listener.set_nonblocking(true)?;

        let shared: Shared = Arc::new(Mutex::new(IoState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let seed = random_seed()?;
        // The count of starts, kept beside the control socket as a real board keeps it in
        // its EEPROM: advanced and stored before the board exists.
        let boots = FileBootCounter(opts.control_path.with_extension("boots"))
            .advance()
            .context("the boot counter")?;
        let board = Board::new(opts.config, opts.key, opts.board_id, seed, boots);
        let pins = Pins {
            inputs: Input::ALL.map(|input| VirtualInput {
                shared: shared.clone(),
                input,
            }),
            active_low: InputSet::EMPTY,
            locks: Lock::ALL.map(|lock| VirtualOutput {
                shared: shared.clone(),
                kind: OutputKind::Lock(lock),
            }),
            reset_relay: VirtualOutput {
                shared: shared.clone(),
                kind: OutputKind::ResetRelay,
            },
        };
        let mut shell = Shell::new(
            board,
            pins,
            PtySerial(master),
            SimClock(Instant::now()),
            SimWatchdog(shared.clone()),
        );

        let board_stop = stop.clone();
        let board_thread =
            std::thread::Builder::new()
                .name("io-board".into())
                .spawn(move || {
                    // Keep the slave open so the master never reads EIO while no host is
                    // connected; the host opens the same device by name.
                    let _slave = slave;
                    while !board_stop.load(Ordering::Relaxed) {
                        shell.poll();
                        std::thread::sleep(LOOP_PERIOD);
                    }
                })?;

        let ctl_stop = stop.clone();
        let ctl_shared = shared.clone();
        let control_thread = std::thread::Builder::new()
            .name("io-board-control".into())
            .spawn(move || serve_control(listener, ctl_shared, ctl_stop))?;

        Ok(IoBoardSim {
            port,
            control_path: opts.control_path,
            shared,
            stop,
            threads: vec![board_thread, control_thread],
        })
    }

    /// The device the host opens (`/dev/pts/N`).
    pub fn port(&self) -> &str {
        &self.port
    }

    /// The control socket's path.
    pub fn control_path(&self) -> &Path {
        &self.control_path
    }

    /// The pin levels now.
    pub fn state(&self) -> IoState {
        *lock_state(&self.shared)
    }

    /// Applies a control command directly (same as over the socket).
    pub fn control(&self, cmd: &ControlCommand) -> IoState {
        let mut s = lock_state(&self.shared);
        apply(&mut s, cmd);
        *s
    }

    /// Blocks until the board thread ends (it runs until the process is killed).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for IoBoardSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.control_path);
    }
}

/// The virtual board's non-volatile boot counter: a small file, replaced atomically.
pub struct FileBootCounter(pub PathBuf);

impl BootCounter for FileBootCounter {
    type Error = std::io::Error;
    fn advance(&mut self) -> std::io::Result<u32> {
        let now = match std::fs::read_to_string(&self.0) {
            Ok(t) => t.trim().parse::<u32>().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "not a boot count")
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        let next = now.saturating_add(1);
        let tmp = self.0.with_extension("boots.tmp");
        std::fs::write(&tmp, next.to_string())?;
        std::fs::rename(&tmp, &self.0)?;
        Ok(next)
    }
}

fn random_seed() -> anyhow::Result<[u8; 16]> {
    let mut seed = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading /dev/urandom")?;
    Ok(seed)
}

fn serve_control(listener: UnixListener, shared: Shared, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.load(Ordering::Relaxed) >= MAX_CONTROL_CONNECTIONS {
                    let mut stream = stream;
                    let _ = writeln!(
                        stream,
                        "{}",
                        serde_json::json!({"ok": false, "error": "too many connections"})
                    );
                    continue;
                }
                active.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                let conn_active = active.clone();
                let stop = stop.clone();
                let spawned = std::thread::Builder::new()
                    .name("io-board-control-conn".into())
                    .spawn(move || {
                        let _ = serve_connection(stream, &shared, &stop);
                        conn_active.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    // The thread never ran, so it cannot give its slot back.
                    active.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve_connection(stream: UnixStream, shared: &Shared, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match (&mut reader)
            .take((MAX_CONTROL_LINE + 1 - line.len()) as u64)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
        if line.last() != Some(&b'\n') {
            if line.len() > MAX_CONTROL_LINE {
                writeln!(
                    writer,
                    "{}",
                    serde_json::json!({"ok": false, "error": "line too long"})
                )?;
                return Ok(());
            }
            continue; // partial line, read more
        }
        let reply = match serde_json::from_slice::<ControlCommand>(&line) {
            Ok(cmd) => {
                let mut s = lock_state(shared);
                apply(&mut s, &cmd);
                state_json(&s)
            }
            Err(e) => serde_json::json!({"ok": false, "error": format!("bad command: {e}")}),
        };
        line.clear();
        writeln!(writer, "{reply}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_counter_advances_across_starts_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("io-board.boots");
        assert_eq!(FileBootCounter(p.clone()).advance().unwrap(), 1);
        assert_eq!(FileBootCounter(p.clone()).advance().unwrap(), 2);
        std::fs::write(&p, "two").unwrap();
        assert!(FileBootCounter(p.clone()).advance().is_err());
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "two",
            "left as it was"
        );
    }

    #[test]
    fn control_commands_parse_and_apply() {
        let mut s = IoState::default();
        assert!(s.inputs.contains(Input::Cashbox));
        let cmds = [
            r#"{"cmd":"door","door":"cash","open":true}"#,
            r#"{"cmd":"earphone","inserted":true}"#,
            r#"{"cmd":"tamper","tripped":true}"#,
            r#"{"cmd":"paper_low","low":true}"#,
            r#"{"cmd":"cashbox","present":false}"#,
        ];
        for c in cmds {
            let cmd: ControlCommand = serde_json::from_str(c).unwrap();
            apply(&mut s, &cmd);
        }
        let want = InputSet::EMPTY
            .with(Input::CashDoor, true)
            .with(Input::Earphone, true)
            .with(Input::Tamper, true)
            .with(Input::PaperLow, true);
        assert_eq!(s.inputs, want);
        let json = state_json(&s);
        assert_eq!(json["inputs"]["cashbox_present"], false);
        assert_eq!(json["inputs"]["cash_door_open"], true);
    }

    #[test]
    fn bad_control_commands_are_refused() {
        for bad in [
            r#"{"cmd":"door","door":"side","open":true}"#,
            r#"{"cmd":"door","door":"front"}"#,
            r#"{"cmd":"door","door":"front","open":true,"extra":1}"#,
            r#"{"cmd":"unlock","door":"front"}"#,
            "not json",
        ] {
            assert!(
                serde_json::from_str::<ControlCommand>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
