//! A whole kiosk on one machine: egov-sim, every device simulator and a kiosk-daemon, each
//! its own process, wired by a generated `kiosk.toml`. The demo runs one; the end-to-end
//! and crash tests run many. Nothing here is used by a real kiosk.

use anyhow::{Context, Result, bail};
use kiosk_core::{Account, Coin, Transfer, TransferCode};
use kiosk_ledger::{Entry, Ledger, Op};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Bins {
    /// kiosk-daemon.
    pub daemon: PathBuf,
    /// kiosk-sim.
    pub sim: PathBuf,
    /// egov-sim.
    pub egov: PathBuf,
}

impl Bins {
    /// Beside the running program (`target/<profile>/`), or beside its parent directory
    /// for test binaries (`target/<profile>/deps/`).
    pub fn beside_me() -> Result<Bins> {
        let me = std::env::current_exe()?;
        let mut dir = me.parent().context("no directory")?.to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let find = |name: &str| -> Result<PathBuf> {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                bail!(
                    "{} is missing: build it first (cargo build -p kiosk-daemon -p kiosk-sim -p egov-sim)",
                    p.display()
                )
            }
        };
        Ok(Bins {
            daemon: find("kiosk-daemon")?,
            sim: find("kiosk-sim")?,
            egov: find("egov-sim")?,
        })
    }
}

/// How the simulated kiosk is set up.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Its data directory (ledger, logs, printed PDFs, certificates).
    pub dir: PathBuf,
    /// The repository (config/, ui/).
    pub repo: PathBuf,
    /// Time per printed page in the A4 simulator.
    pub page_ms: u64,
    /// Time per coin paid by a hopper simulator.
    pub pay_every_ms: u64,
    /// Seed of egov-sim's population.
    pub seed: u64,
    /// egov-sim's fingerprint failure rate.
    pub fingerprint_fail_rate: f64,
    /// Sheets in the tray.
    pub paper: u32,
    /// Hoppers: coin and level.
    pub hoppers: Vec<(Coin, u32)>,
    /// Local API port (0: any).
    pub api_port: u16,
    /// Seconds of inactivity before the warning.
    pub warn_after_s: u64,
}

impl StackOptions {
    /// Defaults for `dir`.
    pub fn new(dir: PathBuf, repo: PathBuf) -> StackOptions {
        StackOptions {
            dir,
            repo,
            page_ms: 50,
            pay_every_ms: 10,
            seed: 1,
            fingerprint_fail_rate: 0.0,
            paper: 500,
            hoppers: vec![(Coin::W100, 300), (Coin::W500, 200)],
            api_port: 0,
            warn_after_s: 60,
        }
    }
}

/// A running simulated kiosk.
pub struct Stack {
    /// The options.
    pub opts: StackOptions,
    /// The programs.
    pub bins: Bins,
    egov: Child,
    sims: Child,
    daemon: Option<Child>,
    /// egov-sim's ready line (`url`, `admin`, `authority_key`).
    pub egov_info: Value,
    /// kiosk-sim's ready line (device name -> `port`/`uri`, `control`).
    pub sim_info: Value,
    /// The daemon's local API.
    pub api: Option<SocketAddr>,
    /// The daemon's metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// How many times the daemon was started.
    pub starts: u32,
}

async fn ready_line(child: &mut Child, what: &str) -> Result<Value> {
    let out = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(out).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .with_context(|| format!("{what} did not get ready"))??
        .with_context(|| format!("{what} exited before it was ready"))?;
    // Keep draining so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    serde_json::from_str(&line).with_context(|| format!("{what}: bad ready line {line:?}"))
}

impl Stack {
    /// Starts egov-sim and the device simulators, and stocks a new ledger with the tray's
    /// paper and the hoppers' coins. The daemon is started by [`Stack::start_daemon`].
    pub async fn start(opts: StackOptions, bins: Bins) -> Result<Stack> {
        let dir = &opts.dir;
        std::fs::create_dir_all(dir.join("certs"))?;
        std::fs::create_dir_all(dir.join("printed"))?;
        std::fs::create_dir_all(dir.join("control"))?;
        let certs = dir.join("certs");
        if !certs.join("ca.pem").exists() {
            let st = Command::new(&bins.egov)
                .arg("--gen-certs")
                .arg(&certs)
                .stdout(Stdio::null())
                .status()
                .await
                .context("egov-sim --gen-certs")?;
            if !st.success() {
                bail!("egov-sim --gen-certs failed");
            }
        }
        let mut egov = Command::new(&bins.egov)
            .arg("--certs")
            .arg(&certs)
            .arg("--seed")
            .arg(opts.seed.to_string())
            .arg("--fingerprint-fail-rate")
            .arg(opts.fingerprint_fail_rate.to_string())
            .arg("--documents")
            .arg(opts.repo.join("config/documents.toml"))
            .arg("--templates")
            .arg(opts.repo.join("config/templates"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(
                dir.join("egov-sim.log"),
            )?))
            .kill_on_drop(true)
            .spawn()
            .context("egov-sim")?;
        let egov_info = ready_line(&mut egov, "egov-sim").await?;

        let mut devices = format!(
            "control_dir = {:?}\n[coin_acceptor]\n[bill_validator]\n[receipt_printer]\n\
             [a4_printer]\npaper = {}\npage_ms = {}\nsave_dir = {:?}\n",
            dir.join("control"),
            opts.paper,
            opts.page_ms,
            dir.join("printed")
        );
        for (c, level) in &opts.hoppers {
            devices.push_str(&format!(
                "[[hopper]]\ncoin = {}\nlevel = {level}\npay_every_ms = {}\n",
                c.value().get(),
                opts.pay_every_ms
            ));
        }
        // The I/O board's unlock key: random per stack, in a file only the two ends read.
        let key_file = dir.join("io-board.key");
        if !key_file.exists() {
            crate::secrets::write_private(&key_file, &hex::encode(*crate::secrets::random_32()?))?;
        }
        // The certificate signing key: random per stack too, never a key derivable from
        // the source; its public half goes to the published key file verifiers read.
        let signing = dir.join("signing.key");
        if !signing.exists() {
            let seed = crate::secrets::random_32()?;
            crate::secrets::write_private(&signing, &hex::encode(*seed))?;
            let public = kiosk_render::SigningKey::from_bytes(&seed).verifying_key();
            std::fs::write(
                dir.join(PUBLIC_KEYS),
                format!("{} {}\n", KIOSK_ID, hex::encode(public.to_bytes())),
            )?;
        }
        devices.push_str(&format!("[io_board]\nkey_file = {key_file:?}\n"));
        std::fs::write(dir.join("devices.toml"), devices)?;
        let mut sims = Command::new(&bins.sim)
            .arg("all")
            .arg("--config")
            .arg(dir.join("devices.toml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(
                dir.join("kiosk-sim.log"),
            )?))
            .kill_on_drop(true)
            .spawn()
            .context("kiosk-sim")?;
        let sim_info = ready_line(&mut sims, "kiosk-sim").await?;

        let ledger_path = dir.join(crate::daemon::LEDGER_FILE);
        if !ledger_path.exists() {
            let mut l = Ledger::open(&ledger_path)?;
            let mut ops = vec![Op::Post(Entry::new(
                Transfer::new(
                    Account::PaperTray,
                    Account::DistrictStock,
                    u64::from(opts.paper),
                    TransferCode::PaperLoaded,
                )?,
                0,
            ))];
            for (c, n) in opts.hoppers.iter().filter(|h| h.1 > 0) {
                ops.push(Op::Post(Entry::new(
                    Transfer::new(
                        Account::Hopper(*c),
                        Account::DistrictSafe,
                        c.value().get() * u64::from(*n),
                        TransferCode::CoinRefill,
                    )?,
                    0,
                )));
            }
            l.apply(&ops)?;
        }
        let s = Stack {
            opts,
            bins,
            egov,
            sims,
            daemon: None,
            egov_info,
            sim_info,
            api: None,
            metrics: None,
            starts: 0,
        };
        s.write_config()?;
        Ok(s)
    }

    fn write_config(&self) -> Result<()> {
        let o = &self.opts;
        let d = &o.dir;
        let port = |name: &str| -> Result<String> {
            Ok(self.sim_info[name]["port"]
                .as_str()
                .with_context(|| format!("no port for {name}"))?
                .to_owned())
        };
        let certs = d.join("certs");
        let url = self.egov_info["url"].as_str().context("egov url")?;
        let admin = self.egov_info["admin"].as_str().context("egov admin")?;
        let mut t = format!(
            r#"[kiosk]
id = "{KIOSK_ID}"
site = "서초구청 1층 민원실 앞"
data_dir = {data:?}

[hours]
always = true

# The simulated kiosk restarts half a day from now, never in the middle of a test.
[restart]
at = "{restart_at}"

[devices.coin_acceptor]
port = {ca:?}

[devices.bill_validator]
port = {bv:?}

[devices.receipt_printer]
port = {rp:?}

[devices.a4_printer]
uri = {a4:?}

[devices.io_board]
port = {io:?}
key_file = {key:?}

[devices.fingerprint]
simulated_people_url = "{admin}/people"

[egov]
endpoint = {url:?}
ca_cert = {ca_cert:?}
client_cert = {client_cert:?}
client_key = {client_key:?}
authority_key = {auth:?}
connect_timeout_ms = 1000
request_timeout_ms = 3000
max_attempts = 2
breaker_failures = 1
breaker_open_s = 2

[catalog]
documents = {docs:?}
templates = {templates:?}

[api]
listen = "127.0.0.1:{api_port}"
ui_dir = {ui:?}

[metrics]
listen = "127.0.0.1:0"

[session]
warn_after_s = {warn}

[[where_else]]
name = "서초구청 민원실"
hours = "평일 09:00-18:00"

[[where_else]]
name = "정부24"
url = "https://www.gov.kr"
"#,
            data = d,
            ca = port("coin-acceptor")?,
            bv = port("bill-validator")?,
            rp = port("receipt-printer")?,
            io = port("io-board")?,
            key = d.join("io-board.key"),
            a4 = self.sim_info["a4-printer"]["uri"]
                .as_str()
                .context("a4 uri")?,
            ca_cert = certs.join("ca.pem"),
            client_cert = certs.join("kiosk.pem"),
            client_key = certs.join("kiosk.key"),
            auth = certs.join("authority.pub"),
            docs = o.repo.join("config/documents.toml"),
            templates = o.repo.join("config/templates"),
            ui = o.repo.join("ui"),
            api_port = o.api_port,
            warn = o.warn_after_s,
            restart_at = half_a_day_from_now(),
        );
        for (c, _) in &o.hoppers {
            let name = format!("hopper-{}", c.value().get());
            t.push_str(&format!(
                "\n[[devices.hopper]]\nport = {:?}\ncoin = {}\naddress = {}\n",
                port(&name)?,
                c.value().get(),
                self.hopper_address(*c)
            ));
        }
        std::fs::write(d.join("kiosk.toml"), t)?;
        Ok(())
    }

    /// kiosk-sim numbers hoppers from address 3 in configuration order.
    fn hopper_address(&self, c: Coin) -> u8 {
        let i = self.opts.hoppers.iter().position(|h| h.0 == c).unwrap_or(0);
        3 + u8::try_from(i).unwrap_or(0)
    }

    /// Starts the daemon and waits for its "ready" log line.
    pub async fn start_daemon(&mut self) -> Result<()> {
        let d = &self.opts.dir;
        let mut child = Command::new(&self.bins.daemon)
            .arg("--config")
            .arg(d.join("kiosk.toml"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(d.join("daemon.stderr"))?,
            ))
            .kill_on_drop(true)
            .spawn()
            .context("kiosk-daemon")?;
        self.starts += 1;
        let out = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(out).lines();
        let mut log = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("daemon.log"))
            .await?;
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                log.write_all(line.as_bytes()).await?;
                log.write_all(b"\n").await?;
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["fields"]["message"] == "ready" {
                    return Ok::<_, anyhow::Error>(v);
                }
            }
            bail!("the daemon exited before it was ready (see daemon.log, daemon.stderr)")
        })
        .await
        .context("the daemon did not get ready in 30 s")??;
        let addr = |k: &str| -> Result<SocketAddr> {
            ready["fields"][k]
                .as_str()
                .context("no address")?
                .parse()
                .context("bad address")
        };
        self.api = Some(addr("api")?);
        self.metrics = Some(addr("metrics")?);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if log.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
                let _ = log.write_all(b"\n").await;
            }
        });
        self.daemon = Some(child);
        Ok(())
    }

    /// Starts the daemon and SIGKILLs it `after` later, ready or not: a crash during
    /// its start-up, while it settles what the last crash left (the crash test).
    pub async fn start_and_kill_daemon(&mut self, after: Duration) -> Result<()> {
        let d = &self.opts.dir;
        let mut child = Command::new(&self.bins.daemon)
            .arg("--config")
            .arg(d.join("kiosk.toml"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("kiosk-daemon")?;
        self.starts += 1;
        tokio::time::sleep(after).await;
        child.start_kill()?;
        child.wait().await?;
        Ok(())
    }

    /// The daemon's process id, while it runs.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().and_then(Child::id)
    }

    /// SIGKILLs the daemon (the crash test).
    pub async fn kill_daemon(&mut self) -> Result<()> {
        if let Some(mut c) = self.daemon.take() {
            c.start_kill()?;
            c.wait().await?;
        }
        Ok(())
    }

    /// Asks the daemon to stop (SIGTERM) and waits for it.
    pub async fn stop_daemon(&mut self) -> Result<std::process::ExitStatus> {
        let mut c = self.daemon.take().context("no daemon running")?;
        if let Some(pid) = c.id() {
            terminate(pid);
        }
        Ok(tokio::time::timeout(Duration::from_secs(30), c.wait())
            .await
            .context("the daemon did not stop in 30 s")??)
    }

    /// The simulators' controls.
    pub fn controls(&self) -> Controls {
        Controls {
            egov_info: self.egov_info.clone(),
            sim_info: self.sim_info.clone(),
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }

    /// Stops everything (SIGTERM, then waits).
    pub async fn stop(mut self) -> Result<()> {
        if self.daemon.is_some() {
            let _ = self.stop_daemon().await;
        }
        for c in [&mut self.sims, &mut self.egov] {
            if let Some(pid) = c.id() {
                terminate(pid);
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), c.wait()).await;
        }
        Ok(())
    }
}

/// Sends SIGTERM (through `kill`, keeping this crate free of unsafe code).
fn terminate(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// The simulated kiosk's id (in its configuration and its published key file).
pub const KIOSK_ID: &str = "KIOSK-DEMO-01";

/// The published public keys of the kiosk's certificate signing key, in the data
/// directory: one line per key, `<kiosk id> <64 hex digits>` (docs/VERIFYING.md).
pub const PUBLIC_KEYS: &str = "public-keys.txt";

/// The simulators' control endpoints: what a test or the demo's simulation panel uses to
/// play the world (insert money, jam the printer, cut the network).
#[derive(Debug, Clone)]
pub struct Controls {
    /// egov-sim's ready line.
    pub egov_info: Value,
    /// kiosk-sim's ready line.
    pub sim_info: Value,
}

impl Controls {
    /// Sends one command to a simulator's control socket and returns its answer.
    pub async fn sim(&self, device: &str, cmd: Value) -> Result<Value> {
        let path = self.sim_info[device]["control"]
            .as_str()
            .with_context(|| format!("no simulator {device}"))?;
        let mut s = tokio::net::UnixStream::connect(path).await?;
        s.write_all(format!("{cmd}\n").as_bytes()).await?;
        let mut lines = BufReader::new(s).lines();
        let line = lines.next_line().await?.context("no answer")?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Drops a coin into the acceptor.
    pub async fn insert_coin(&self, won: u64) -> Result<()> {
        self.sim(
            "coin-acceptor",
            serde_json::json!({"cmd": "insert_coin", "value": won}),
        )
        .await
        .map(drop)
    }

    /// Feeds a note to the validator.
    pub async fn insert_note(&self, won: u64) -> Result<()> {
        self.sim(
            "bill-validator",
            serde_json::json!({"cmd": "insert_note", "value": won}),
        )
        .await
        .map(drop)
    }

    /// Sets an egov-sim fault mode.
    pub async fn egov_fault(&self, fault: Value) -> Result<()> {
        let admin = self.egov_info["admin"].as_str().context("admin")?;
        let r = reqwest::Client::new()
            .post(format!("{admin}/faults"))
            .json(&fault)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("egov-sim refused the fault {fault}: {}", r.status());
        }
        Ok(())
    }

    /// Synthetic people of egov-sim (resident numbers for the identity step).
    pub async fn people(&self, n: usize) -> Result<Vec<String>> {
        let admin = self.egov_info["admin"].as_str().context("admin")?;
        let v: Value = reqwest::Client::new()
            .get(format!("{admin}/people?limit={n}"))
            .send()
            .await?
            .json()
            .await?;
        let list = v
            .as_array()
            .or_else(|| v["people"].as_array())
            .context("people")?;
        Ok(list
            .iter()
            .filter_map(|p| p["resident_number"].as_str().map(str::to_owned))
            .collect())
    }
}

/// The local (KST) time of day twelve hours from now, "HH:MM".
fn half_a_day_from_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let s = (now + crate::clock::KST_OFFSET_S + 12 * 3600).rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, (s / 60) % 60)
}
