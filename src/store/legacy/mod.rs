//! The store before the redesign (issue 13): one dialect for SQLite and
//! PostgreSQL through sqlx's `Any` driver, with rusqlite for SQLite's hot
//! paths. It serves the contract until each database has its native
//! implementation (`store::sqlite`, `store::postgres`), then goes.

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
mod direct;
mod login_defence;
mod migrate;
mod otp;
mod passwords;
mod rotations;
mod row;
mod sessions;
mod settings;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, AnyPool};

use super::Backend;
use super::contract::PoolUsage;
use super::sqlite::private_file;
use crate::domain::Clock;
use crate::error::{Error, Result};

/// SQLite allows one writer at a time, so there writes go through a pool of
/// one connection: writers queue in order inside the process instead of
/// spinning on SQLite's busy handler, and reads (WAL mode) never wait for a
/// writer. On PostgreSQL both are one pool and row locks do the ordering.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    pool: AnyPool,
    writer: AnyPool,
    /// SQLite only: the hot paths on the calling thread (see `direct`).
    direct: Option<Arc<direct::Direct>>,
    /// SQLite only: rotations waiting for the writer (group commit).
    rotations: Arc<rotations::Rotations>,
    clock: Clock,
}

impl Store {
    /// Opens the database at `url` (a SQLite file is created if missing)
    /// with at most `max_connections` connections for reads (and, on
    /// PostgreSQL, writes).
    pub async fn connect(url: &str, max_connections: u32, clock: Clock) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)
            .ok_or_else(|| Error::internal(format!("AUTHGATE_DATABASE_URL: unsupported {url:?}")))?;
        let store = match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                let options = SqliteConnectOptions::from_str(&url)?;
                let file = options.get_filename();
                private_file(file)?;
                let writer = sqlite_options(1).connect(&url).await?;
                let pool = sqlite_options(max_connections).min_connections(1).connect(&url).await?;
                let direct = direct_paths_apply(&url, file).then(|| Arc::new(direct::Direct::new(file, clock.clone())));
                Store { backend, pool, writer, direct, rotations: Default::default(), clock }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                Store { backend, writer: pool.clone(), pool, direct: None, rotations: Default::default(), clock }
            }
        };
        Ok(store)
    }

    /// True when the database answers a trivial query within two seconds.
    pub async fn ping(&self) -> bool {
        let probe = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(Duration::from_secs(2), probe).await, Ok(Ok(_)))
    }

    /// Connections of each pool right now, for metrics: `main` (reads, and
    /// writes on PostgreSQL) and, on SQLite, `writer`.
    pub fn pool_usage(&self) -> Vec<(&'static str, PoolUsage)> {
        let usage = |pool: &AnyPool| PoolUsage {
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        };
        match self.backend {
            Backend::Sqlite => vec![("main", usage(&self.pool)), ("writer", usage(&self.writer))],
            Backend::Postgres => vec![("main", usage(&self.pool))],
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// A write transaction. On SQLite it takes the write lock up front, so
    /// two writers queue on the busy timeout instead of failing on upgrade.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.writer.begin_with(self.begin_write()).await?)
    }

    /// `write_tx` on a writer connection the caller already holds.
    async fn write_tx_on<'c>(&self, conn: &'c mut AnyConnection) -> Result<sqlx::Transaction<'c, sqlx::Any>> {
        Ok(sqlx::Connection::begin_with(conn, self.begin_write()).await?)
    }

    fn begin_write(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Serializes a kind of write across every instance until the
    /// transaction ends. SQLite's write transactions are serial already;
    /// PostgreSQL takes a transaction-scoped advisory lock named by `what`.
    async fn lock_for(&self, conn: &mut AnyConnection, what: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS locked")
                .bind(what)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
}

/// A SQLite connection is a file handle in this process: it cannot go stale
/// the way a network connection can, so the pool does not ping it before
/// each use (sqlx's default), which cost a round trip to the connection's
/// worker thread per query, and under load a wait in the runtime's queue
/// while holding the write lock.
fn sqlite_options(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new().max_connections(max_connections).test_before_acquire(false).after_connect(|conn, _| {
        Box::pin(async move {
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA busy_timeout = 10000;",
            )
            .await?;
            Ok(())
        })
    })
}

/// The direct paths open the file by name, read-write: not for an in-memory
/// database (each connection would get its own) or a read-only one.
fn direct_paths_apply(url: &str, file: &Path) -> bool {
    let mode = url.split(['?', '&']).find_map(|pair| pair.strip_prefix("mode="));
    file != Path::new(":memory:") && matches!(mode, None | Some("rw" | "rwc"))
}

/// The SQLite URL with `mode=rwc` (create if missing) unless a mode is set.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

pub(crate) use crate::domain::{from_micros, micros};

pub(crate) fn now_micros() -> i64 {
    micros(chrono::Utc::now())
}
