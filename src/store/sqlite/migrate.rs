//! Schema migrations: the files of `migrations/sqlite/`, embedded. The
//! pending ones and their ledger rows go in one write (one `BEGIN
//! IMMEDIATE` transaction; SQLite's DDL is transactional), so a second
//! process starting on the same file waits for the write lock, then finds
//! nothing left to do. The ledger is sqlx's `_sqlx_migrations`, with sqlx's
//! checksums (SHA-384 of the file), so databases migrated by earlier
//! releases open unchanged.

use std::time::Instant;

use rusqlite::params;
use sha2::{Digest, Sha384};

use super::Store;
use super::writer::rows;
use crate::error::{Error, Result};
use crate::store::contract::Schema;

/// A migration file: its version, its description (the file name after the
/// version, `_` read as a space, as sqlx reads it) and its SQL.
pub(super) struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($( $version:literal $description:literal $file:literal, )*) => {
        &[$( Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../../../migrations/sqlite/", $file)),
        }, )*]
    };
}

/// Every migration, in order (a test checks this against the folder).
pub(super) const MIGRATIONS: &[Migration] = migrations! {
    1 "init" "0001_init.sql",
    2 "otp limits" "0002_otp_limits.sql",
    3 "name search" "0003_name_search.sql",
    4 "login defence" "0004_login_defence.sql",
    5 "recovery quotas" "0005_recovery_quotas.sql",
    6 "signing keys" "0006_signing_keys.sql",
    7 "revocations" "0007_revocations.sql",
    8 "sessions devices" "0008_sessions_devices.sql",
    9 "mfa" "0009_mfa.sql",
    10 "passkeys" "0010_passkeys.sql",
    11 "django import" "0011_django_import.sql",
    12 "social" "0012_social.sql",
    13 "defence events" "0013_defence_events.sql",
};

/// sqlx's ledger table, as its SQLite driver creates it.
const LEDGER: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// What sqlx records as a migration's checksum.
pub(super) fn checksum(sql: &str) -> Vec<u8> {
    Sha384::digest(sql.as_bytes()).to_vec()
}

impl Store {
    /// The schema against `MIGRATIONS`, read without writing.
    pub async fn schema(&self) -> Result<Schema> {
        let applied = self
            .read(|c| {
                let ledger: i64 = c.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                    [],
                    |r| r.get(0),
                )?;
                if ledger == 0 {
                    return Ok(None);
                }
                c.query_row("SELECT max(version) FROM _sqlx_migrations WHERE success", [], |r| r.get(0))
            })
            .await?;
        Ok(Schema::against(applied, MIGRATIONS.last().map(|m| m.version)))
    }
}

/// Why the database cannot be migrated by this release.
enum Refused {
    Newer(i64),
    Changed(&'static Migration),
}

impl Store {
    /// Applies pending migrations, exactly once however many instances
    /// start together.
    pub async fn migrate(&self) -> Result<()> {
        let applied = self
            .write(|tx| {
                tx.conn.execute_batch(LEDGER)?;
                let applied: Vec<(i64, Vec<u8>)> =
                    rows(tx.conn, "SELECT version, checksum FROM _sqlx_migrations", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                if let Some((newer, _)) = applied.iter().find(|(v, _)| !MIGRATIONS.iter().any(|m| m.version == *v)) {
                    return Ok(Err(tx.undo(Refused::Newer(*newer))));
                }
                let mut done = Vec::new();
                for m in MIGRATIONS {
                    if let Some((_, sum)) = applied.iter().find(|(v, _)| *v == m.version) {
                        if *sum != checksum(m.sql) {
                            return Ok(Err(tx.undo(Refused::Changed(m))));
                        }
                        continue;
                    }
                    let started = Instant::now();
                    tx.conn.execute_batch(m.sql)?;
                    let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
                    tx.exec(
                        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                         VALUES (?1, ?2, TRUE, ?3, ?4)",
                        params![m.version, m.description, checksum(m.sql), nanos],
                    )?;
                    done.push(m);
                }
                Ok(Ok(done))
            })
            .await?;
        match applied {
            Ok(done) => {
                for m in done {
                    tracing::info!(version = m.version, description = m.description, "migration applied");
                }
                Ok(())
            }
            Err(Refused::Newer(v)) => Err(Error::internal(format!(
                "the database has migration {v}, which this authgate does not know: it was migrated by a newer release"
            ))),
            Err(Refused::Changed(m)) => Err(Error::internal(format!(
                "migration {} ({}) differs from the one this database recorded; restore the original file",
                m.version, m.description
            ))),
        }
    }
}
