//! kioskctl: the command-line tool for contractors and staff.
//!
//! Every subcommand reads validated files and prints plain text or JSON (`render` also
//! writes the PDF it was asked for); none of them touches a device. Exit status: 0 when
//! everything is sound, 1 when a check failed (a bad catalog, a ledger or a verification
//! code that does not verify), 2 on a usage error.

mod catalog_cmd;
mod ledger_cmd;
mod render_cmd;
mod simulate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kioskctl",
    version,
    about = "Tools for the people who run the kiosks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The document catalog: validate it, list it.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// The kiosk's ledger: simulate, verify, balances, export.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Render a certificate with synthetic data to PDF; print its verification payload.
    Render(render_cmd::RenderArgs),
    /// Check a certificate's verification payload (its QR code) offline.
    VerifyDoc(render_cmd::VerifyDocArgs),
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Validate the catalog (and a kiosk's overrides); report every problem.
    Check {
        /// The catalog file.
        #[arg(long, default_value = "config/documents.toml")]
        catalog: PathBuf,
        /// A kiosk's overrides file.
        #[arg(long)]
        overrides: Option<PathBuf>,
    },
    /// List every document type with its code, names, fee and identity rule.
    List {
        /// The catalog file.
        #[arg(long, default_value = "config/documents.toml")]
        catalog: PathBuf,
        /// A kiosk's overrides file; fees are then this kiosk's fees today.
        #[arg(long)]
        overrides: Option<PathBuf>,
        /// The day whose fees to show (default: today in Korea).
        #[arg(long)]
        on: Option<kiosk_catalog::Date>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Book N realistic, randomised issuing sessions into a ledger.
    Simulate {
        /// The ledger database (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// How many citizen sessions to book.
        #[arg(long)]
        sessions: u32,
        /// Seed of the simulation; the same seed books the same entries.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The catalog to draw documents and fees from.
        #[arg(long, default_value = "config/documents.toml")]
        catalog: PathBuf,
    },
    /// Re-walk the hash chain and re-derive every balance; with --expect-head, also check
    /// that the ledger still reaches heads signed earlier (not rewritten, not truncated).
    Verify {
        /// The ledger database.
        #[arg(long)]
        db: PathBuf,
        /// A file of signed heads (one JSON object a line, as the kiosk writes
        /// `signed-heads.jsonl`): the ledger must reach every one.
        #[arg(long, value_name = "FILE")]
        expect_head: Option<PathBuf>,
        /// The kiosk's ed25519 public key, 64 hex digits (with --expect-head).
        #[arg(long, value_name = "HEX", value_parser = render_cmd::parse_public_key)]
        public_key: Option<kiosk_render::VerifyingKey>,
        /// The published key file (`<name> <64 hex digits>` a line; with --expect-head).
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
    },
    /// Sign the ledger's chain head with the kiosk's key and print it (one JSON line), as
    /// the daemon does at every start.
    SignHead {
        /// The ledger database.
        #[arg(long)]
        db: PathBuf,
        /// The kiosk's id.
        #[arg(long)]
        kiosk: String,
        /// The kiosk's signing key file (64 hex digits; `signing.key`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Print every account's balance.
    Balances {
        /// The ledger database.
        #[arg(long)]
        db: PathBuf,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print entries as JSON lines, for the district server.
    Export {
        /// The ledger database.
        #[arg(long)]
        db: PathBuf,
        /// Only entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
}

/// Prints `text` and a newline. A reader that went away (`kioskctl catalog list | head`)
/// is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Today's date in Korea (UTC+9, no daylight saving), from the system clock. kioskctl reads
/// the clock only for defaults a user can override: here and `render`'s time of issue.
fn today_in_korea() -> anyhow::Result<kiosk_catalog::Date> {
    let kst = jiff::tz::TimeZone::fixed(jiff::tz::offset(9));
    Ok(jiff::Timestamp::now().to_zoned(kst).date())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Catalog(CatalogCommand::Check { catalog, overrides }) => {
            catalog_cmd::check(&catalog, overrides.as_deref())
        }
        Command::Catalog(CatalogCommand::List {
            catalog,
            overrides,
            on,
            json,
        }) => catalog_cmd::list(&catalog, overrides.as_deref(), on, json),
        Command::Ledger(LedgerCommand::Simulate {
            db,
            sessions,
            seed,
            catalog,
        }) => simulate::run(&db, sessions, seed, &catalog),
        Command::Ledger(LedgerCommand::Verify {
            db,
            expect_head,
            public_key,
            keys,
        }) => ledger_cmd::verify(&db, expect_head.as_deref(), public_key, keys.as_deref()),
        Command::Ledger(LedgerCommand::SignHead { db, kiosk, key }) => {
            ledger_cmd::sign_head(&db, &kiosk, &key)
        }
        Command::Ledger(LedgerCommand::Balances { db, json }) => ledger_cmd::balances(&db, json),
        Command::Ledger(LedgerCommand::Export { db, since }) => ledger_cmd::export(&db, since),
        Command::Render(args) => render_cmd::render(&args),
        Command::VerifyDoc(args) => render_cmd::verify_doc(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kioskctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
