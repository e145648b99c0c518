//! The real devices: kiosk-devices' drivers on the configured serial ports and IPP URI.
//!
//! Each driver is an actor; this module only starts them and translates both ways: the
//! orchestrator's commands into driver commands, the drivers' completions and events into
//! [`Input`]s. Every translation that can go two ways goes the way that keeps the citizen
//! whole: a payout whose result is unknown counts as unpaid (an IOU, checked by staff), a
//! stack command that fails counts as a returned note only if the driver says so.

use kiosk_core::session::{Event, PrintFault};
use kiosk_core::{Coin, Note, Sheets};
use kiosk_devices::api::{DeviceHandle, QueueSizes};
use kiosk_devices::cctalk::acceptor::{
    self, AcceptorCommand, AcceptorConfig, AcceptorEvent, AcceptorPayload,
};
use kiosk_devices::cctalk::hopper::{self, HopperCommand, HopperConfig, HopperPayload};
use kiosk_devices::escpos::printer::{
    self as receipt, ReceiptCommand, ReceiptPayload, ReceiptPrinterConfig,
};
use kiosk_devices::ipp::printer::{
    self as a4, A4Command, A4Event, A4Job, A4Payload, A4PrinterConfig,
};
use kiosk_devices::ipp::{Condition, Health};
use kiosk_devices::link::SerialLink;
use kiosk_devices::ssp::validator::{
    self, NoteEvent, ValidatorCommand, ValidatorConfig, ValidatorPayload,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use zeroize::Zeroizing;

use crate::config::DevicesSection;
use crate::kiosk::Msg;
use crate::ports::{DeviceNote, Hardware, HopperFacts, Input, JobFacts, ValidatorFacts};

/// The started drivers.
pub struct SerialHardware {
    acceptor: DeviceHandle<AcceptorCommand, AcceptorPayload>,
    hoppers: BTreeMap<Coin, DeviceHandle<HopperCommand, HopperPayload>>,
    validator: DeviceHandle<ValidatorCommand, ValidatorPayload>,
    receipt: DeviceHandle<ReceiptCommand, ReceiptPayload>,
    a4: DeviceHandle<A4Command, A4Payload>,
    jobs: Arc<Mutex<Jobs>>,
    printer_ok: Arc<AtomicBool>,
    validator_serial: Arc<AtomicU32>,
    scanner: Scanner,
    tx: mpsc::Sender<Msg>,
}

/// A print job being followed: our job number, its pages and the pages already reported.
#[derive(Debug, Clone, Copy)]
struct JobTrack {
    job: u32,
    reported: u32,
    pages: u32,
}

/// Print jobs by the name we gave them until the printer names them, then by the
/// printer's job id: a page is only ever counted for the job the printer says printed
/// it, never for "the current job".
#[derive(Debug, Default)]
struct Jobs {
    by_name: BTreeMap<String, JobTrack>,
    by_id: BTreeMap<i32, JobTrack>,
}

/// Locks the job table, held only for a lookup (never across an await); a panic while
/// it was held leaves plain data behind, still usable.
fn lock(jobs: &Mutex<Jobs>) -> std::sync::MutexGuard<'_, Jobs> {
    jobs.lock().unwrap_or_else(|p| p.into_inner())
}

/// The coin acceptor's resume point, read from the journal's cursor at start. Saving is
/// the daemon's booking of each coin with its cursor, in one transaction, so this store
/// saves nothing: a coin reported and then lost to a crash is reported again.
struct JournalCounter(Option<u8>);

impl acceptor::CounterStore for JournalCounter {
    fn load(&self) -> Option<u8> {
        self.0
    }
    fn save(&mut self, _counter: u8) -> Result<(), acceptor::StoreError> {
        Ok(())
    }
}

/// Errors starting the devices.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A port did not open.
    #[error("{device}: cannot open {port}: {source}")]
    Port {
        /// Which device.
        device: &'static str,
        /// The port.
        port: String,
        /// Why.
        source: serialport::Error,
    },
    /// The configuration names a coin with no hopper driver possible.
    #[error("{0}")]
    Config(String),
}

fn open(device: &'static str, port: &Path, baud: u32) -> Result<SerialLink, StartError> {
    let p = serialport::new(port.to_string_lossy(), baud)
        .timeout(Duration::from_millis(20))
        .open_native()
        .map_err(|source| StartError::Port {
            device,
            port: port.display().to_string(),
            source,
        })?;
    Ok(SerialLink::new(p))
}

const SIZES: QueueSizes = QueueSizes {
    commands: 16,
    events: 64,
};

async fn send(tx: &mpsc::Sender<Msg>, i: Input) {
    let _ = tx.send(Msg::Input(i)).await;
}

impl SerialHardware {
    /// Opens every port and starts every driver; their events flow into `tx`.
    pub fn start(
        cfg: &DevicesSection,
        hopper_coins: &[Coin],
        acceptor_resume: Option<u8>,
        tx: mpsc::Sender<Msg>,
    ) -> Result<SerialHardware, StartError> {
        // Coin acceptor: it resumes after the last coin the journal booked, so a coin
        // reported before a crash but not booked is reported again, and one booked is not.
        let link = open("coin acceptor", &cfg.coin_acceptor.port, 9600)?;
        let acfg = AcceptorConfig {
            address: cfg.coin_acceptor.address.unwrap_or(2),
            ..AcceptorConfig::default()
        };
        let store = JournalCounter(acceptor_resume);
        let (acceptor, mut aev) = acceptor::spawn(link, acfg, Box::new(store), SIZES);
        let t = tx.clone();
        tokio::spawn(async move {
            let mut serial = 0u32;
            while let Some(e) = aev.recv().await {
                match e.body {
                    AcceptorEvent::CoinCredited { coin, counter, .. } => {
                        send(
                            &t,
                            Input::CoinCredited {
                                coin,
                                serial,
                                counter,
                            },
                        )
                        .await
                    }
                    AcceptorEvent::CounterAdvanced { counter } => {
                        send(&t, Input::CoinCounter { serial, counter }).await
                    }
                    AcceptorEvent::EventsLost {
                        previous,
                        current,
                        coins,
                    } => {
                        send(
                            &t,
                            Input::CoinsLost {
                                serial,
                                previous,
                                current,
                                coins,
                            },
                        )
                        .await
                    }
                    AcceptorEvent::DeviceReset => send(&t, Input::CoinAcceptorReset).await,
                    AcceptorEvent::Ready { identity, .. } => {
                        serial = identity.serial;
                        note(&t, "coin-acceptor", true).await
                    }
                    AcceptorEvent::Online => note(&t, "coin-acceptor", true).await,
                    AcceptorEvent::Offline { reason } => {
                        warn!(%reason, "coin acceptor offline");
                        note(&t, "coin-acceptor", false).await
                    }
                    AcceptorEvent::FraudAttempt { code } => {
                        warn!(
                            incident = "coin-fraud",
                            code, "the coin acceptor reported fraud"
                        );
                        let device = "coin-acceptor";
                        send(&t, Input::Device(DeviceNote::Fraud { device })).await
                    }
                    AcceptorEvent::CounterStoreFailed { reason, uncredited } => {
                        warn!(%reason, coins = uncredited.len(), "coin counter store failed");
                    }
                    other => info!(event = ?other, "coin acceptor"),
                }
            }
        });

        let mut hoppers = BTreeMap::new();
        for (h, &coin) in cfg.hopper.iter().zip(hopper_coins) {
            let link = open("hopper", &h.port, 9600)?;
            let (handle, mut hev) = hopper::spawn(link, HopperConfig::new(h.address, coin), SIZES);
            let t = tx.clone();
            tokio::spawn(async move {
                while let Some(e) = hev.recv().await {
                    use kiosk_devices::cctalk::hopper::HopperEvent as H;
                    match e.body {
                        H::Ready { status, .. } => {
                            send(
                                &t,
                                Input::HopperCounter {
                                    coin,
                                    counter: status.counter,
                                },
                            )
                            .await;
                            note(&t, "hopper", true).await
                        }
                        H::Online => note(&t, "hopper", true).await,
                        H::FraudAttempt { bits } => {
                            warn!(incident = "hopper-fraud", bits, "a hopper reported fraud");
                            let device = "hopper";
                            send(&t, Input::Device(DeviceNote::Fraud { device })).await
                        }
                        H::Offline { .. } => note(&t, "hopper", false).await,
                        _ => {}
                    }
                }
            });
            hoppers.insert(coin, handle);
        }

        let link = open("bill validator", &cfg.bill_validator.port, 9600)?;
        let vcfg = ValidatorConfig {
            id: cfg.bill_validator.address.unwrap_or(0),
            ..ValidatorConfig::default()
        };
        let (validator, mut vev) = validator::spawn(link, vcfg, SIZES);
        let validator_serial = Arc::new(AtomicU32::new(0));
        let (t, vs) = (tx.clone(), validator_serial.clone());
        tokio::spawn(async move {
            while let Some(e) = vev.recv().await {
                match e.body {
                    NoteEvent::Escrowed(n) => send(&t, Input::Event(Event::NoteEscrowed(n))).await,
                    NoteEvent::Identified { serial, .. } => vs.store(serial, Ordering::SeqCst),
                    // The one money-in event: booked under its stacked counter, so the
                    // stack command's own answer (below) cannot book it a second time.
                    NoteEvent::Credited { note, stacked } => {
                        let serial = vs.load(Ordering::SeqCst);
                        send(
                            &t,
                            Input::NoteCredited {
                                note,
                                serial,
                                stacked,
                            },
                        )
                        .await
                    }
                    NoteEvent::Online | NoteEvent::Ready(_) => {
                        note(&t, "bill-validator", true).await
                    }
                    NoteEvent::Offline { .. } => note(&t, "bill-validator", false).await,
                    NoteEvent::StackerFull => {
                        send(&t, Input::Device(DeviceNote::StackerFull)).await
                    }
                    NoteEvent::FraudAttempt { note } => {
                        warn!(incident = "note-fraud", ?note, "a note was pulled back");
                        let device = "bill-validator";
                        send(&t, Input::Device(DeviceNote::Fraud { device })).await
                    }
                    _ => {}
                }
            }
        });

        let link = open("receipt printer", &cfg.receipt_printer.port, 9600)?;
        let (receipt, mut rev) = receipt::spawn(link, ReceiptPrinterConfig::default(), SIZES);
        let t = tx.clone();
        tokio::spawn(async move {
            while let Some(e) = rev.recv().await {
                use kiosk_devices::escpos::printer::ReceiptEvent as R;
                match e.body {
                    R::Online | R::Ready(_) => note(&t, "receipt-printer", true).await,
                    R::Offline { .. } => note(&t, "receipt-printer", false).await,
                    _ => {}
                }
            }
        });

        let pcfg = A4PrinterConfig {
            uri: cfg.a4_printer.uri.clone(),
            poll_interval: Duration::from_millis(500),
            job_poll: Duration::from_millis(50),
            ..A4PrinterConfig::default()
        };
        let (a4, mut pev) = a4::spawn(pcfg, SIZES);
        let jobs: Arc<Mutex<Jobs>> = Arc::new(Mutex::new(Jobs::default()));
        let printer_ok = Arc::new(AtomicBool::new(false));
        let (t, track, ok) = (tx.clone(), jobs.clone(), printer_ok.clone());
        tokio::spawn(async move {
            while let Some(e) = pev.recv().await {
                match e.body {
                    A4Event::Submitted { name, job_id } => {
                        let mut g = lock(&track);
                        if let Some(j) = g.by_name.remove(&name) {
                            g.by_id.insert(job_id, j);
                        }
                    }
                    A4Event::Job(p) => {
                        let mut pages = Vec::new();
                        {
                            let mut g = lock(&track);
                            if let Some(j) = g.by_id.get_mut(&p.job_id) {
                                while j.reported < p.pages_completed.min(j.pages) {
                                    j.reported += 1;
                                    pages.push(j.job);
                                }
                            }
                        }
                        for job in pages {
                            send(&t, Input::Event(Event::PagePrinted { job })).await;
                        }
                    }
                    A4Event::Ready(s) | A4Event::StatusChanged(s) => {
                        let can = s.health != Health::Error
                            && !s.has(&Condition::TonerEmpty)
                            && !s.has(&Condition::MarkerSupplyEmpty);
                        ok.store(can, Ordering::SeqCst);
                        send(&t, Input::Device(DeviceNote::Toner { ok: can })).await;
                        note(&t, "a4-printer", true).await;
                    }
                    A4Event::Offline { .. } => {
                        ok.store(false, Ordering::SeqCst);
                        note(&t, "a4-printer", false).await;
                    }
                    A4Event::Online => note(&t, "a4-printer", true).await,
                }
            }
        });

        if let Some(io) = &cfg.io_board {
            start_io_board(&io.port, &io.key_file, tx.clone())?;
        }

        Ok(SerialHardware {
            acceptor,
            hoppers,
            validator,
            receipt,
            a4,
            jobs,
            printer_ok,
            validator_serial,
            scanner: Scanner::from_config(cfg),
            tx,
        })
    }
}

/// The host watchdog timeout the daemon sets on the I/O board (the firmware's default):
/// the board power-cycles the PC after this long without a heartbeat (sent every 500 ms).
pub const IO_BOARD_WATCHDOG_S: u16 = 60;
/// How often the daemon reads the board's signed status to check the watchdog is still set
/// as it left it (and re-asserts it when not).
const IO_BOARD_CONFIG_CHECK: Duration = Duration::from_secs(30);

/// Sets the board's host watchdog with an authenticated command and checks the board's
/// signed status agrees. A refusal or a mismatch is an incident (`io-board-config`): the
/// watchdog is what brings a hung kiosk back, and a board that will not take or keep the
/// host's setting has been tampered with or is broken.
fn assert_io_board_config(client: &mut kiosk_devices::ioboard::IoBoardClient) -> bool {
    match client.assert_watchdog(IO_BOARD_WATCHDOG_S) {
        Ok(status) => {
            info!(
                watchdog_s = status.watchdog_s,
                "I/O board host watchdog set and confirmed"
            );
            true
        }
        Err(e) => {
            error!(
                incident = "io-board-config",
                %e,
                wanted_s = IO_BOARD_WATCHDOG_S,
                "the I/O board did not take the host watchdog setting"
            );
            false
        }
    }
}

/// Reads the board's signed status; re-asserts the watchdog when it is not what the host
/// set (an incident, `io-board-config`).
fn check_io_board_config(client: &mut kiosk_devices::ioboard::IoBoardClient) -> bool {
    match client.status() {
        Ok(s) if s.watchdog_s == IO_BOARD_WATCHDOG_S => true,
        Ok(s) => {
            error!(
                incident = "io-board-config",
                got_s = s.watchdog_s,
                wanted_s = IO_BOARD_WATCHDOG_S,
                "the I/O board's host watchdog changed: setting it again"
            );
            assert_io_board_config(client);
            false
        }
        Err(e) => {
            warn!(%e, "I/O board status unreadable; checking again later");
            false
        }
    }
}

/// The I/O board: doors, earphone jack, paper-low and the host watchdog. Its client is
/// blocking (a request/reply protocol on one port), so it runs on its own thread: a
/// heartbeat every 500 ms (which also feeds the board's host watchdog) and the events.
/// Only events with a valid MAC over the board's current boot and a rising sequence number
/// get through (the client drops the rest); each drop is an incident
/// (`io-board-event-forged`). The watchdog setting is asserted at start, again whenever the
/// board restarts, and checked every 30 s.
fn start_io_board(port: &Path, key_file: &Path, tx: mpsc::Sender<Msg>) -> Result<(), StartError> {
    use kiosk_devices::ioboard::IoBoardClient;
    use kiosk_ioproto::{EventKind, Input as Pin, Key};
    let key_text = crate::secrets::read_private(key_file, "the I/O board key")
        .map_err(|e| StartError::Config(e.to_string()))?;
    // Never print the key, not even in an error.
    let key = Key::from_hex(key_text.trim())
        .ok_or_else(|| StartError::Config("io-board key: 64 hex digits expected".into()))?;
    let link = open("I/O board", port, 115_200)?;
    let mut client = IoBoardClient::connect(link, key, Duration::from_millis(500))
        .map_err(|e| StartError::Config(format!("I/O board: {e}")))?;
    let mut config_ok = assert_io_board_config(&mut client);
    if !config_ok {
        let n = DeviceNote::BoardAlarm { alarm: "config" };
        let _ = tx.try_send(Msg::Input(Input::Device(n)));
    }
    std::thread::Builder::new()
        .name("io-board".into())
        .spawn(move || {
            let mut online = true;
            let mut last_check = std::time::Instant::now();
            let (mut forged, mut replayed) = (0u64, 0u64);
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let alive = client.heartbeat().is_ok();
                if alive != online {
                    online = alive;
                    let n = DeviceNote::Online {
                        device: "io-board",
                        online,
                    };
                    if tx.blocking_send(Msg::Input(Input::Device(n))).is_err() {
                        return;
                    }
                }
                let Ok(events) = client.take_events() else {
                    continue;
                };
                let mut notes = Vec::new();
                if client.forged_events() > forged || client.replayed_events() > replayed {
                    error!(
                        incident = "io-board-event-forged",
                        forged = client.forged_events() - forged,
                        replayed = client.replayed_events() - replayed,
                        "I/O board events with a bad MAC or an old sequence number dropped: \
                         something on the serial line is faking the board"
                    );
                    forged = client.forged_events();
                    replayed = client.replayed_events();
                    notes.push(DeviceNote::BoardAlarm {
                        alarm: "event-forged",
                    });
                }
                let mut restarted = false;
                for e in events {
                    let note = match e.kind {
                        EventKind::Input {
                            input: Pin::Earphone,
                            active,
                        } => DeviceNote::Earphone { inserted: active },
                        EventKind::Input {
                            input: Pin::FrontDoor,
                            active,
                        } => DeviceNote::Door {
                            door: "front",
                            open: active,
                        },
                        EventKind::Input {
                            input: Pin::RearDoor,
                            active,
                        } => DeviceNote::Door {
                            door: "rear",
                            open: active,
                        },
                        EventKind::Input {
                            input: Pin::CashDoor,
                            active,
                        } => DeviceNote::Door {
                            door: "cash",
                            open: active,
                        },
                        EventKind::Input {
                            input: Pin::Tamper,
                            active,
                        } => DeviceNote::Tamper { tripped: active },
                        EventKind::Alarm(kiosk_ioproto::Alarm::AuthLockout) => {
                            DeviceNote::BoardAlarm {
                                alarm: "auth-lockout",
                            }
                        }
                        EventKind::Alarm(kiosk_ioproto::Alarm::HostReset) => {
                            DeviceNote::BoardAlarm {
                                alarm: "host-reset",
                            }
                        }
                        EventKind::Alarm(kiosk_ioproto::Alarm::BoardStarted) => {
                            // A (re)started board runs its default watchdog setting.
                            info!("I/O board started");
                            restarted = true;
                            continue;
                        }
                        EventKind::Overflow { lost } => {
                            warn!(lost, "I/O board events lost: its status is the truth");
                            DeviceNote::BoardAlarm {
                                alarm: "events-lost",
                            }
                        }
                        other => {
                            info!(event = ?other, "I/O board");
                            continue;
                        }
                    };
                    notes.push(note);
                }
                if restarted || last_check.elapsed() >= IO_BOARD_CONFIG_CHECK {
                    last_check = std::time::Instant::now();
                    let ok = if restarted || !config_ok {
                        assert_io_board_config(&mut client)
                    } else {
                        check_io_board_config(&mut client)
                    };
                    if config_ok && !ok {
                        notes.push(DeviceNote::BoardAlarm { alarm: "config" });
                    }
                    config_ok = ok;
                }
                for note in notes {
                    if tx.blocking_send(Msg::Input(Input::Device(note))).is_err() {
                        return;
                    }
                }
            }
        })
        .map_err(|e| StartError::Config(format!("I/O board thread: {e}")))?;
    Ok(())
}

async fn note(t: &mpsc::Sender<Msg>, device: &'static str, online: bool) {
    send(t, Input::Device(DeviceNote::Online { device, online })).await;
}

impl Hardware for SerialHardware {
    fn set_acceptors(&mut self, on: bool) {
        let (a, v) = if on {
            (AcceptorCommand::Enable, ValidatorCommand::Enable)
        } else {
            (AcceptorCommand::Disable, ValidatorCommand::Disable)
        };
        if let Err(e) = self.acceptor.submit(a) {
            warn!(%e, "coin acceptor command not queued");
        }
        if let Err(e) = self.validator.submit(v) {
            warn!(%e, "validator command not queued");
        }
    }

    fn stack_note(&mut self, note: Note) {
        let tx = self.tx.clone();
        let pending = self.validator.submit(ValidatorCommand::Stack);
        let vs = self.validator_serial.clone();
        tokio::spawn(async move {
            let input = match pending {
                Ok(p) => {
                    let c = p.completion().await;
                    match c.payload {
                        Some(ValidatorPayload::Stacked { note, stacked }) => Input::NoteCredited {
                            note,
                            serial: vs.load(Ordering::SeqCst),
                            stacked,
                        },
                        Some(ValidatorPayload::Returned(n)) => Input::Event(Event::NoteReturned(n)),
                        _ => {
                            // Not stacked and not known to be returned: the validator gives an
                            // escrowed note back when a stack fails (SSP).
                            warn!(detail = %c.detail, "stack failed; note returned");
                            Input::Event(Event::NoteReturned(note))
                        }
                    }
                }
                Err(e) => {
                    warn!(%e, "stack not queued; note returned");
                    Input::Event(Event::NoteReturned(note))
                }
            };
            send(&tx, input).await;
        });
    }

    fn return_note(&mut self, note: Note) {
        let tx = self.tx.clone();
        let pending = self.validator.submit(ValidatorCommand::Return);
        let vs = self.validator_serial.clone();
        tokio::spawn(async move {
            let input = match pending {
                Ok(p) => match p.completion().await.payload {
                    Some(ValidatorPayload::Stacked { note, stacked }) => Input::NoteCredited {
                        note,
                        serial: vs.load(Ordering::SeqCst),
                        stacked,
                    },
                    _ => Input::Event(Event::NoteReturned(note)),
                },
                Err(_) => Input::Event(Event::NoteReturned(note)),
            };
            send(&tx, input).await;
        });
    }

    fn dispense(&mut self, coin: Coin, count: u32, intent: String) {
        let tx = self.tx.clone();
        let pending = self
            .hoppers
            .get(&coin)
            .map(|h| h.submit(HopperCommand::Dispense { count }));
        tokio::spawn(async move {
            let (paid, unpaid, counter) = match pending {
                Some(Ok(p)) => match p.completion().await.payload {
                    Some(HopperPayload::Settled(s)) if s.paid + s.unpaid == count => {
                        (s.paid, s.unpaid, Some(s.counter))
                    }
                    other => {
                        warn!(?other, "payout result unknown: counted unpaid (IOU)");
                        (0, count, None)
                    }
                },
                _ => (0, count, None),
            };
            send(
                &tx,
                Input::HopperSettled {
                    coin,
                    paid,
                    unpaid,
                    intent,
                    counter,
                },
            )
            .await;
        });
    }

    fn print(&mut self, job: u32, name: String, pdf: Arc<Vec<u8>>, pages: u32) {
        let tx = self.tx.clone();
        let jobs = self.jobs.clone();
        let fresh = JobTrack {
            job,
            reported: 0,
            pages,
        };
        // Registered before the job is submitted, so its Submitted event finds it.
        lock(&self.jobs).by_name.insert(name.clone(), fresh);
        let pending = self.a4.submit(A4Command::Print(A4Job {
            name: name.clone(),
            pdf: pdf.as_ref().clone(),
        }));
        tokio::spawn(async move {
            let c = match pending {
                Ok(p) => Some(p.completion().await),
                Err(_) => None,
            };
            let job_id = match c.as_ref().and_then(|c| c.payload.as_ref()) {
                Some(A4Payload::Job(r)) => Some(r.job.job_id),
                _ => None,
            };
            let mut j = {
                let mut g = lock(&jobs);
                let by_name = g.by_name.remove(&name);
                job_id
                    .and_then(|id| g.by_id.remove(&id))
                    .or(by_name)
                    .unwrap_or(fresh)
            };
            let (ok, done, status) = match &c {
                Some(c) => match &c.payload {
                    Some(A4Payload::Job(r)) => (
                        c.is_success(),
                        r.job.pages_completed,
                        Some(r.status.clone()),
                    ),
                    Some(A4Payload::Status(s)) => (false, 0, Some(s.clone())),
                    _ => (c.is_success(), if c.is_success() { pages } else { 0 }, None),
                },
                None => (false, 0, None),
            };
            let done = if ok { pages } else { done.min(pages) };
            while j.reported < done {
                j.reported += 1;
                send(&tx, Input::Event(Event::PagePrinted { job })).await;
            }
            if ok {
                send(&tx, Input::Event(Event::CopyCompleted { job })).await;
            } else {
                let fault = match &status {
                    Some(s) if s.has(&Condition::MediaJam) => PrintFault::Jam,
                    Some(s) if s.has(&Condition::MediaEmpty) || s.has(&Condition::MediaNeeded) => {
                        PrintFault::TrayEmpty
                    }
                    _ => PrintFault::Other,
                };
                // A jammed sheet left the tray and will not be delivered.
                let spoiled =
                    Sheets::new(u32::from(fault == PrintFault::Jam && j.reported < pages));
                send(
                    &tx,
                    Input::Event(Event::PrintFailed {
                        job,
                        fault,
                        spoiled,
                    }),
                )
                .await;
            }
        });
    }

    fn print_receipt(&mut self, lines: Vec<String>, iou: Option<String>) {
        let r = kiosk_devices::escpos::Receipt {
            lines,
            iou,
            cut: kiosk_devices::escpos::Cut::default(),
        };
        if let Err(e) = self.receipt.submit(ReceiptCommand::Print(r)) {
            warn!(%e, "receipt not queued");
        }
    }

    fn scan_finger(&mut self, rrn: Zeroizing<String>) {
        let tx = self.tx.clone();
        let scanner = self.scanner.clone();
        tokio::spawn(async move {
            let r = scanner.read(&rrn).await;
            send(&tx, Input::FingerScanned(r)).await;
        });
    }

    fn printer_ok(&self) -> bool {
        self.printer_ok.load(Ordering::SeqCst)
    }

    async fn last_dispense(&self, coin: Coin) -> Result<HopperFacts, String> {
        let h = self
            .hoppers
            .get(&coin)
            .ok_or_else(|| format!("no hopper for {coin:?}"))?;
        let c = h
            .call(HopperCommand::LastDispense)
            .await
            .map_err(|e| e.to_string())?;
        match c.payload {
            Some(HopperPayload::Status(s)) if c.is_success() => Ok(HopperFacts {
                counter: s.counter,
                paid: s.paid,
                unpaid: s.unpaid,
            }),
            _ => Err(format!("hopper status: {}", c.detail)),
        }
    }

    async fn settle_validator(&self) -> Result<ValidatorFacts, String> {
        let c = self
            .validator
            .call(ValidatorCommand::Settle)
            .await
            .map_err(|e| e.to_string())?;
        match c.payload {
            Some(ValidatorPayload::Counters {
                serial, stacked, ..
            }) if c.is_success() => {
                self.validator_serial.store(serial, Ordering::SeqCst);
                Ok(ValidatorFacts { serial, stacked })
            }
            _ => Err(format!("validator counters: {}", c.detail)),
        }
    }

    async fn find_job(&self, name: &str) -> Result<Option<JobFacts>, String> {
        let c = self
            .a4
            .call(A4Command::FindJob { name: name.into() })
            .await
            .map_err(|e| e.to_string())?;
        match c.payload {
            Some(A4Payload::Found(j)) if c.is_success() => Ok(j.map(|j| JobFacts {
                job_id: j.job_id,
                pages: j.pages_completed,
                ended: j.state.is_terminal(),
                aborted: j.state == kiosk_devices::ipp::JobState::Aborted,
            })),
            _ => Err(format!("find job: {}", c.detail)),
        }
    }

    async fn cancel_job(&self, job_id: i32) -> Result<(), String> {
        let c = self
            .a4
            .call(A4Command::Cancel { job_id })
            .await
            .map_err(|e| e.to_string())?;
        if c.is_success() {
            Ok(())
        } else {
            Err(format!("cancel job: {}", c.detail))
        }
    }
}

/// The fingerprint scanner. The demo and the tests have no finger to read: the simulated
/// scanner asks the e-government simulator for the synthetic person's template.
#[derive(Clone)]
pub struct Scanner {
    people_url: Option<String>,
}

impl Scanner {
    fn from_config(cfg: &DevicesSection) -> Scanner {
        Scanner {
            people_url: cfg.fingerprint.simulated_people_url.clone(),
        }
    }

    /// Reads a finger.
    pub async fn read(&self, rrn: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let Some(url) = &self.people_url else {
            return Err("no fingerprint scanner configured".into());
        };
        crate::net::simulated_template(url, rrn).await
    }
}
