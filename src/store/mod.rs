//! All SQL lives here, behind functions named for what they do. Flows never
//! see a query or a connection; a second backend slots in beside this one.

/// `SELECT <every user column> FROM users u <rest>`, as a static string.
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT u.id, u.email, u.phone, u.password, u.first_name, u.last_name, u.role, u.auth_provider, ",
            "u.is_active, u.is_verified, u.last_login, u.created_at, u.updated_at, u.deleted_at FROM users u ",
            $rest
        )
    };
}

mod admin;
mod audit;
mod otp;
mod passwords;
mod sessions;
mod settings;
mod users;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use admin::{AdminWrite, AuditFilter, AuditRecord, Cursor, UserChange, UserFilter, audit_time};
pub use otp::{OtpCheck, OtpPurpose};
pub use passwords::PasswordChange;
pub use sessions::{NewSession, RefreshState, Rotation, Session};
pub use users::{NewUser, UserTaken};

use crate::error::{Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite allows one writer at a time. Writes go through a pool of one
/// connection, so writers queue in order inside the process instead of
/// spinning on SQLite's busy handler; reads use a pool of their own and,
/// in WAL mode, never wait for a writer.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: SqlitePool,
}

impl Store {
    /// Opens (creating if missing) the database at `url`.
    pub async fn connect(url: &str) -> Result<Store> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::internal(format!("AUTHGATE_DATABASE_URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let pool = SqlitePoolOptions::new().max_connections(8).min_connections(1).connect_with(options).await?;
        Ok(Store { pool, writer })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.writer).await.map_err(Error::internal)
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// A write transaction that takes SQLite's write lock up front, so two
    /// writers queue on the busy timeout instead of failing on upgrade.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

pub(crate) fn now_micros() -> i64 {
    micros(Utc::now())
}
