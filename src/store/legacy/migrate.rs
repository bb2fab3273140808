//! Schema migrations, applied exactly once however many instances start at
//! the same moment.
//!
//! PostgreSQL: sqlx's migrator, which holds an advisory lock for the whole
//! run. SQLite: sqlx takes no lock there, so two processes starting on one
//! file would both try the first migration and one would fail. Instead the
//! pending migrations and their ledger rows go in one `BEGIN IMMEDIATE`
//! transaction (SQLite's DDL is transactional): a second process waits for
//! the write lock, then finds nothing left to do. The ledger is sqlx's own
//! `_sqlx_migrations`, so databases migrated either way stay compatible.

use std::time::Instant;

use sqlx::migrate::{Migration, Migrator};
use sqlx::{AnyPool, Executor};

use super::{Backend, Store};
use crate::error::{Error, Result};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// sqlx's ledger table, as its SQLite driver creates it.
const LEDGER: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

impl Store {
    /// Applies pending migrations (see the module comment for how each
    /// backend makes that safe for instances starting together).
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Postgres => POSTGRES.run(&self.writer).await.map_err(Error::internal),
            Backend::Sqlite => migrate_sqlite(&self.writer).await,
        }
    }
}

async fn migrate_sqlite(writer: &AnyPool) -> Result<()> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    tx.execute(LEDGER).await?;
    let applied: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations").fetch_all(&mut *tx).await?;
    if let Some((unknown, _)) = applied.iter().find(|(v, _)| !SQLITE.iter().any(|m| m.version == *v)) {
        return Err(Error::internal(format!(
            "the database has migration {unknown}, which this authgate does not know: it was migrated by a newer release"
        )));
    }
    for m in SQLITE.iter().filter(|m| m.migration_type.is_up_migration()) {
        if let Some((_, checksum)) = applied.iter().find(|(v, _)| *v == m.version) {
            if checksum[..] != m.checksum[..] {
                return Err(changed(m));
            }
            continue;
        }
        let started = Instant::now();
        tx.execute(sqlx::raw_sql(m.sql.clone())).await?;
        let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, $4)",
        )
        .bind(m.version)
        .bind(m.description.to_string())
        .bind(m.checksum.to_vec())
        .bind(nanos)
        .execute(&mut *tx)
        .await?;
        tracing::info!(version = m.version, description = %m.description, "migration applied");
    }
    tx.commit().await?;
    Ok(())
}

fn changed(m: &Migration) -> Error {
    Error::internal(format!(
        "migration {} ({}) differs from the one this database recorded; restore the original file",
        m.version, m.description
    ))
}
