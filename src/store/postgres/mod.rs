//! The store on PostgreSQL, through sqlx's native driver: every query is
//! checked at compile time against the schema (`query!`; the offline data
//! is in `.sqlx/`, refreshed by `scripts/sqlx-prepare`), prepared once per
//! connection (sqlx caches the statements), and each flow's write takes as
//! few round trips as SQL allows: a refresh rotation, a sign-in or a
//! sign-up is one statement, its audit event a data-modifying CTE of it.
//!
//! Times are BIGINT microseconds and ids UUID text, as the schema has them
//! (shared with databases the legacy store created).

mod admin;
mod audit;
mod dashboard;
mod defence;
mod feed;
mod import;
mod login_defence;
mod mfa;
mod passkeys;
mod recovery;
mod rotations;
mod sessions;
mod signing_keys;
mod social;
mod storage;
#[cfg(all(test, authgate_pg_tests))]
mod tests;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::contract::PoolUsage;
use crate::domain::{Clock, micros};
use crate::error::{Error, Result};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a free connection before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection idle this long is pinged before it is handed out (it may
/// have been cut meanwhile); a busy one is not, which would cost a round
/// trip per query.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection: every query of the store fits.
const STATEMENT_CACHE: usize = 256;

/// One pool for reads and writes: row locks and advisory locks order the
/// writes, across instances too.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    clock: Clock,
    feed: std::sync::Arc<feed::Feed>,
    rotations: rotations::Rotations,
}

impl Store {
    /// Connects to the database at `url` (its `options[search_path]` is
    /// honoured, which the tests use for a schema each) with at most
    /// `max_connections` connections.
    pub async fn connect(url: &str, max_connections: u32, clock: Clock) -> Result<Store> {
        let options = PgConnectOptions::from_str(url)?.statement_cache_capacity(STATEMENT_CACHE);
        let feed = feed::Feed::new(crate::revocation::Revocations::new(clock.clone()), options.clone());
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        let rotations = rotations::Rotations::start(pool.clone(), clock.clone());
        Ok(Store { pool, clock, feed, rotations })
    }

    /// The store's time, in microseconds, as the schema keeps it.
    fn now(&self) -> i64 {
        micros(self.clock.now())
    }

    pub async fn ping(&self) -> bool {
        let probe = sqlx::query!("SELECT 1 AS one").fetch_one(&self.pool);
        matches!(tokio::time::timeout(Duration::from_secs(2), probe).await, Ok(Ok(_)))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn pool_usage(&self) -> Vec<(&'static str, PoolUsage)> {
        let usage = PoolUsage {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        };
        vec![("main", usage)]
    }

    /// sqlx's migrator: it holds an advisory lock for the whole run, so
    /// instances starting together apply each migration once. The ledger
    /// is the one the legacy store kept, so existing databases carry on.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(Error::internal)
    }

    /// The schema against `MIGRATOR`, read without writing. The ledger is
    /// sqlx's own table, which the database `scripts/sqlx-prepare` checks
    /// queries against does not have: these two queries are unchecked.
    pub async fn schema(&self) -> Result<super::contract::Schema> {
        use super::contract::Schema;
        let ledger: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text").fetch_one(&self.pool).await?;
        if ledger.is_none() {
            return Ok(Schema::Empty);
        }
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool).await?;
        let latest = MIGRATOR.iter().map(|m| m.version).max();
        Ok(super::contract::Schema::against(applied, latest))
    }

    /// Stores `value` unless the key already has one, and returns the value
    /// that is stored, in one statement.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        // On a conflict the row is locked and re-read once committed, so a
        // concurrent first start gets the value the other stored.
        let stored = sqlx::query_scalar!(
            "INSERT INTO settings (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = settings.value RETURNING value",
            key,
            value,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(stored)
    }

    /// Serializes a kind of write across every instance until the
    /// transaction ends.
    async fn lock_for(conn: &mut sqlx::PgConnection, what: &str) -> Result<()> {
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtext($1))", what).execute(conn).await?;
        Ok(())
    }
}

/// A stored id (UUID text) as its type.
fn parse_id<T: FromStr>(s: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse().map_err(Error::internal)
}
