//! Schema migrations: applied in order at open, recorded with a checksum, never edited.

use crate::LedgerError;
use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// One schema step, embedded from `migrations/ledger/NNNN_name.sql`.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Its number; applied in increasing order, from 1, without gaps.
    pub version: i64,
    /// Its name (the file name without number and extension).
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every migration this code knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "journal",
        sql: include_str!("../../../migrations/ledger/0001_journal.sql"),
    },
    Migration {
        version: 2,
        name: "sql_guards",
        sql: include_str!("../../../migrations/ledger/0002_sql_guards.sql"),
    },
    Migration {
        version: 3,
        name: "egov_messages",
        sql: include_str!("../../../migrations/ledger/0003_egov_messages.sql"),
    },
    Migration {
        version: 4,
        name: "device_intents",
        sql: include_str!("../../../migrations/ledger/0004_device_intents.sql"),
    },
];

const BOOTSTRAP: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version  INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    checksum TEXT NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS schema_migrations_no_update BEFORE UPDATE ON schema_migrations
BEGIN SELECT RAISE(ABORT, 'migration records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS schema_migrations_no_delete BEFORE DELETE ON schema_migrations
BEGIN SELECT RAISE(ABORT, 'migration records are append-only'); END;
";

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// The newest version recorded in `conn`, or 0 for a new database. Reads only.
pub(crate) fn recorded_version(conn: &Connection) -> Result<i64, LedgerError> {
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

/// Refuses a database newer than this code before anything is written.
pub(crate) fn refuse_newer(conn: &Connection) -> Result<(), LedgerError> {
    let found = recorded_version(conn)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if found > known {
        return Err(LedgerError::TooNew { found, known });
    }
    Ok(())
}

/// Applies every migration not yet recorded, each in its own transaction, and checks
/// that the ones already applied are the ones this code carries.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), LedgerError> {
    refuse_newer(conn)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(BOOTSTRAP)?;
    tx.commit()?;
    for m in MIGRATIONS {
        let applied: Option<(String, String)> = conn
            .query_row(
                "SELECT name, checksum FROM schema_migrations WHERE version = ?1",
                [m.version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match applied {
            Some((_, sum)) if sum == checksum(m.sql) => continue,
            Some(_) => {
                return Err(LedgerError::MigrationChanged {
                    version: m.version,
                    name: m.name.into(),
                });
            }
            None => {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.execute_batch(m.sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
                    rusqlite::params![m.version, m.name, checksum(m.sql)],
                )?;
                tx.commit()?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            assert!(!m.sql.trim().is_empty());
        }
    }
}
