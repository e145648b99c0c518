//! The shipping IPP A4 printer driver against CUPS's real `ippeveprinter` (Debian package
//! cups-ipp-utils, plus dbus). These tests FAIL, not skip, when it is not installed.
//!
//! Each test starts its own printer on a free port in a temporary directory. The printer's
//! print command (`printcmd.sh`) is steered by files there: `state` lines are echoed as
//! `STATE: ...` (changing printer-state-reasons live), `pages` is reported as
//! job-impressions-completed, and while `hold` exists the job stays processing (a stuck
//! printer), then fails.

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::until;
use kiosk_devices::api::{CompletionCode, DeviceHandle, Event, QueueSizes};
use kiosk_devices::ipp::printer::{self, A4Command, A4Event, A4Job, A4Payload, A4PrinterConfig};
use kiosk_devices::ipp::{Condition, Health, JobState};
use tokio::sync::mpsc::Receiver;

const PRINTCMD: &str = r#"#!/bin/sh
d="$(dirname "$0")"
cp "$1" "$d/last.pdf"
echo job >> "$d/jobs"
if [ -f "$d/state" ]; then
  while IFS= read -r l; do echo "STATE: $l" >&2; done < "$d/state"
fi
if [ -f "$d/hold" ]; then
  i=0
  while [ -f "$d/hold" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
  exit 1
fi
echo "ATTR: job-impressions-completed=$(cat "$d/pages" 2>/dev/null || echo 1)" >&2
exit 0
"#;

/// A running `ippeveprinter` with its private D-Bus; both are killed on drop.
struct Eve {
    dir: tempfile::TempDir,
    printer: Child,
    dbus_pid: Option<String>,
    port: u16,
}

fn missing(what: &str, e: std::io::Error) -> ! {
    panic!(
        "cannot run `{what}` ({e}): the A4 printer tests need CUPS's ippeveprinter and \
         dbus-daemon: apt-get install -y cups-ipp-utils dbus"
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Eve {
    fn start() -> Eve {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::create_dir(d.join("spool")).expect("spool");
        let cmd = d.join("printcmd.sh");
        std::fs::write(&cmd, PRINTCMD).expect("printcmd");
        let chmod = Command::new("chmod")
            .arg("+x")
            .arg(&cmd)
            .status()
            .expect("chmod");
        assert!(chmod.success());
        let bus = format!("unix:path={}", d.join("dbus.sock").display());
        let out = Command::new("dbus-daemon")
            .args(["--session", "--fork", "--print-pid"])
            .arg(format!("--address={bus}"))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .unwrap_or_else(|e| missing("dbus-daemon", e));
        assert!(out.status.success(), "dbus-daemon failed");
        let dbus_pid = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .map(str::to_owned);
        let port = free_port();
        let log = std::fs::File::create(d.join("printer.log")).expect("log");
        let printer = Command::new("ippeveprinter")
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus)
            .args([
                "-r",
                "off",
                "-n",
                "localhost",
                "-k",
                "-f",
                "application/pdf",
            ])
            .arg("-p")
            .arg(port.to_string())
            .arg("-d")
            .arg(d.join("spool"))
            .arg("-c")
            .arg(&cmd)
            .arg("kiosk-a4")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                if let Some(pid) = &dbus_pid {
                    let _ = Command::new("kill").arg(pid).status();
                }
                missing("ippeveprinter", e)
            });
        let mut eve = Eve {
            dir,
            printer,
            dbus_pid,
            port,
        };
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = eve.printer.try_wait() {
                panic!("ippeveprinter exited ({status}): {}", eve.log());
            }
            assert!(
                Instant::now() < end,
                "ippeveprinter never listened: {}",
                eve.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        eve
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn set(&self, name: &str, content: &str) {
        std::fs::write(self.path(name), content).expect("write control file");
    }

    fn jobs(&self) -> usize {
        std::fs::read_to_string(self.path("jobs")).map_or(0, |s| s.lines().count())
    }

    fn log(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(self.path("printer.log")).map(|mut f| f.read_to_string(&mut s));
        s
    }

    fn uri(&self) -> String {
        format!("ipp://localhost:{}/ipp/print", self.port)
    }
}

impl Drop for Eve {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path("hold"));
        let _ = self.printer.kill();
        let _ = self.printer.wait();
        if let Some(pid) = &self.dbus_pid {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

/// A one-page A4 PDF, written by hand with a correct cross-reference table.
fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

type Handle = DeviceHandle<A4Command, A4Payload>;

fn config(uri: String) -> A4PrinterConfig {
    A4PrinterConfig {
        uri,
        poll_interval: Duration::from_secs(3600),
        job_poll: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        job_timeout: Duration::from_secs(20),
        stall_timeout: Duration::from_millis(300),
        offline_after: 2,
        ..A4PrinterConfig::default()
    }
}

async fn rig(eve: &Eve) -> (Handle, Receiver<Event<A4Event>>) {
    let (h, mut rx) = printer::spawn(config(eve.uri()), QueueSizes::default());
    let (ready, _) = until(&mut rx, |e| {
        matches!(e, A4Event::Ready(_) | A4Event::Offline { .. })
    })
    .await;
    let A4Event::Ready(s) = ready else {
        panic!("printer not reachable: {ready:?}\n{}", eve.log())
    };
    assert_eq!(s.health, Health::Ok, "{s:?}");
    (h, rx)
}

fn job() -> A4Job {
    A4Job {
        name: "resident-register-copy 1234-5678".into(),
        pdf: pdf(),
    }
}

fn file(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_prints_to_completion_with_its_pages() {
    let eve = Eve::start();
    let (h, mut rx) = rig(&eve).await;
    eve.set("pages", "1");
    let c = h.call(A4Command::Print(job())).await.expect("ack");
    assert!(c.is_success(), "{c:?}\n{}", eve.log());
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    assert_eq!(r.job.state, JobState::Completed);
    assert_eq!(r.job.pages_completed, 1);
    assert_eq!(r.status.health, Health::Ok);
    assert_eq!(
        file(&eve.path("last.pdf")),
        pdf(),
        "the printer got our PDF"
    );
    let (e, _) = until(&mut rx, |e| matches!(e, A4Event::Job(_))).await;
    let A4Event::Job(p) = e else { unreachable!() };
    assert_eq!(p.job_id, r.job.job_id);

    // A second job is a second job.
    eve.set("pages", "1");
    let c = h.call(A4Command::Print(job())).await.expect("ack");
    let Some(A4Payload::Job(r2)) = c.payload else {
        panic!("{c:?}")
    };
    assert_ne!(r2.job.job_id, r.job.job_id);
    assert_eq!(eve.jobs(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_tray_during_a_job_is_reported_and_the_job_never_completes() {
    let eve = Eve::start();
    let (h, mut rx) = rig(&eve).await;
    eve.set("state", "+media-empty-error\n");
    eve.set("hold", "");
    let c = h.call(A4Command::Print(job())).await.expect("ack");
    assert_eq!(
        c.code,
        CompletionCode::HardwareError,
        "{c:?}\n{}",
        eve.log()
    );
    assert!(c.detail.contains("media-empty"), "{}", c.detail);
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    assert_ne!(r.job.state, JobState::Completed);
    assert_eq!(r.job.pages_completed, 0);
    assert!(r.status.has(&Condition::MediaEmpty), "{:?}", r.status);
    assert_eq!(r.status.health, Health::Error);
    let (e, _) = until(
        &mut rx,
        |e| matches!(e, A4Event::StatusChanged(s) if s.has(&Condition::MediaEmpty)),
    )
    .await;
    let A4Event::StatusChanged(s) = e else {
        unreachable!()
    };
    assert_eq!(s.health, Health::Error, "{s:?}");
    let mut seen = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        seen.push(ev.body);
    }
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, A4Event::Job(p) if p.state == JobState::Completed)),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jam_stops_the_job_and_refuses_the_next_before_submitting() {
    let eve = Eve::start();
    let (h, _rx) = rig(&eve).await;
    eve.set("state", "+media-jam-error\n");
    eve.set("hold", "");
    let c = h.call(A4Command::Print(job())).await.expect("ack");
    assert_eq!(c.code, CompletionCode::HardwareError, "{c:?}");
    assert!(c.detail.contains("media-jam"), "{}", c.detail);
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    assert_ne!(r.job.state, JobState::Completed);
    assert!(r.status.has(&Condition::MediaJam));
    assert_eq!(eve.jobs(), 1);

    // The jam stays: the next document is refused before it reaches the printer.
    let _ = std::fs::remove_file(eve.path("hold"));
    let c = h.call(A4Command::Print(job())).await.expect("ack");
    assert_eq!(c.code, CompletionCode::DeviceNotReady, "{c:?}");
    assert_eq!(c.detail, "not printed: media-jam");
    let Some(A4Payload::Status(s)) = c.payload else {
        panic!("{c:?}")
    };
    assert_eq!(s.health, Health::Error);
    assert_eq!(eve.jobs(), 1, "no second job was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_paper_and_toner_are_warnings_that_still_print() {
    let eve = Eve::start();
    let (h, mut rx) = rig(&eve).await;
    eve.set("state", "+media-low-warning\n+toner-low-warning\n");
    let c = h.call(A4Command::Print(job())).await.expect("ack");
    assert!(c.is_success(), "{c:?}");
    let c = h.call(A4Command::Status).await.expect("ack");
    let Some(A4Payload::Status(s)) = c.payload else {
        panic!("{c:?}")
    };
    assert_eq!(s.health, Health::Warning, "{s:?}");
    assert!(
        s.has(&Condition::MediaLow) && s.has(&Condition::TonerLow),
        "{s:?}"
    );
    assert_eq!(s.describe(Health::Warning), "media-low, toner-low");
    let (e, _) = until(
        &mut rx,
        |e| matches!(e, A4Event::StatusChanged(s) if s.has(&Condition::TonerLow)),
    )
    .await;
    let A4Event::StatusChanged(s) = e else {
        unreachable!()
    };
    assert_eq!(s.health, Health::Warning, "{s:?}");
    // Still prints.
    eve.set("state", "");
    let c = h.call(A4Command::Print(job())).await.expect("ack");
    assert!(c.is_success(), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_printer_is_a_clear_error() {
    let uri = format!("ipp://localhost:{}/ipp/print", free_port());
    let (h, mut rx) = printer::spawn(config(uri), QueueSizes::default());
    let c = h.call(A4Command::Print(job())).await.expect("ack");
    assert_eq!(c.code, CompletionCode::DeviceNotReady, "{c:?}");
    assert!(
        c.detail.starts_with("not printed: Get-Printer-Attributes:"),
        "{}",
        c.detail
    );
    until(&mut rx, |e| matches!(e, A4Event::Offline { .. })).await;
    let c = h
        .call(A4Command::Print(A4Job {
            name: "x".into(),
            pdf: b"not a pdf".to_vec(),
        }))
        .await
        .expect("ack");
    assert_eq!(c.code, CompletionCode::InvalidData);
}

/// What recovery does after a host crash, against CUPS's own IPP server: a new driver (the
/// restarted daemon) finds the jobs of the old one by name with Get-Jobs `which-jobs=all`,
/// and cancels the one still printing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_host_finds_its_jobs_by_name_and_cancels_the_one_printing() {
    let eve = Eve::start();
    let (h, mut rx) = rig(&eve).await;
    eve.set("pages", "1");
    let done = A4Job {
        name: "S1-1-1".into(),
        pdf: pdf(),
    };
    let c = h.call(A4Command::Print(done)).await.expect("ack");
    assert!(c.is_success(), "{c:?}\n{}", eve.log());
    let Some(A4Payload::Job(r)) = c.payload else {
        panic!("{c:?}")
    };
    let (e, _) = until(&mut rx, |e| matches!(e, A4Event::Submitted { .. })).await;
    assert_eq!(
        e,
        A4Event::Submitted {
            name: "S1-1-1".into(),
            job_id: r.job.job_id
        }
    );

    // The old host's next job hangs in the printer.
    eve.set("hold", "");
    let stuck = h
        .submit(A4Command::Print(A4Job {
            name: "S1-2-1".into(),
            pdf: pdf(),
        }))
        .expect("ack");
    let (e, _) = until(&mut rx, |e| matches!(e, A4Event::Submitted { .. })).await;
    let A4Event::Submitted {
        job_id: stuck_id, ..
    } = e
    else {
        unreachable!()
    };
    until(
        &mut rx,
        |e| matches!(e, A4Event::Job(p) if p.job_id == stuck_id && p.state == JobState::Processing),
    )
    .await;

    let (h2, _rx2) = rig(&eve).await;
    let find = |name: &str| {
        let h2 = h2.clone();
        let name = name.to_owned();
        async move {
            let c = h2.call(A4Command::FindJob { name }).await.expect("ack");
            assert!(c.is_success(), "{c:?}");
            match c.payload {
                Some(A4Payload::Found(f)) => f,
                other => panic!("{other:?}"),
            }
        }
    };
    let p = find("S1-1-1").await.expect("the completed job");
    assert_eq!((p.job_id, p.state), (r.job.job_id, JobState::Completed));
    assert_eq!(p.pages_completed, 1);
    let p = find("S1-2-1").await.expect("the job printing");
    assert_eq!((p.job_id, p.state), (stuck_id, JobState::Processing));
    assert_eq!(find("S1-3-1").await, None);

    // ippeveprinter ends a canceled job when its print command exits (here: once the hold
    // is gone), as a laser printer finishes the sheet in its paper path: Cancel waits for
    // the job to be over.
    let cancel = h2
        .submit(A4Command::Cancel { job_id: stuck_id })
        .expect("ack");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = std::fs::remove_file(eve.path("hold"));
    let c = cancel.completion().await;
    assert_eq!(c.payload, Some(A4Payload::Done), "{c:?}\n{}", eve.log());
    let p = find("S1-2-1").await.expect("the canceled job");
    assert!(p.state.is_terminal(), "{p:?}");
    // Canceling it again, or the completed one, is no error.
    for job_id in [stuck_id, r.job.job_id] {
        let c = h2.call(A4Command::Cancel { job_id }).await.expect("ack");
        assert_eq!(c.payload, Some(A4Payload::Done), "{c:?}");
    }
    let c = stuck.completion().await;
    assert!(!c.is_success(), "{c:?}");
}
