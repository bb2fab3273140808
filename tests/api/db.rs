//! The test databases, and direct access to them: arranging states no
//! endpoint produces and reading what no endpoint returns. Each database
//! through its own driver (rusqlite, sqlx's PostgreSQL driver), as the
//! server reaches it; statements are written once, with `$1` parameters.

use std::path::PathBuf;
use std::sync::Once;

use sqlx::{Connection, PgConnection, Row};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one test: a SQLite file, or a schema of its own in the
/// PostgreSQL database named by `AUTHGATE_TEST_DATABASE_URL`, so tests run in
/// parallel. The one place that creates databases.
pub(crate) struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    pub dir: Option<PathBuf>,
}

/// A row, every column as text (`NULL` as `None`).
pub type TextRow = Vec<Option<String>>;

impl TestDatabase {
    pub async fn fresh() -> TestDatabase {
        if super::helpers::on_postgres() {
            return TestDatabase::fresh_schema().await;
        }
        let dir = std::env::temp_dir().join(format!("authgate-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let url = format!("sqlite://{}", dir.join("authgate.db").display());
        TestDatabase { backend: Backend::Sqlite, url, dir: Some(dir) }
    }

    /// A new schema named for its creation time; schemas of runs older than
    /// an hour are dropped first, so the database does not fill up.
    async fn fresh_schema() -> TestDatabase {
        let base = std::env::var("AUTHGATE_TEST_DATABASE_URL").expect("AUTHGATE_TEST_DATABASE_URL is set for api_pg");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock").as_secs();
        let schema = format!("agt_{now}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut admin = PgConnection::connect(&base).await.expect("the test PostgreSQL answers");
        static SWEEP: Once = Once::new();
        let mut sweep = false;
        SWEEP.call_once(|| sweep = true);
        if sweep {
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'agt\\_%' \
                  AND split_part(nspname, '_', 2)::bigint < $1",
            )
            .bind(i64::try_from(now).unwrap_or(i64::MAX) - 3600)
            .fetch_all(&mut admin)
            .await
            .expect("the schemas are listed");
            for old in stale {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {old} CASCADE")))
                    .execute(&mut admin)
                    .await;
            }
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("a schema is created");
        admin.close().await.ok();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        TestDatabase { backend: Backend::Postgres, url, dir: None }
    }

    fn sqlite(&self) -> rusqlite::Connection {
        let path = self.dir.as_ref().expect("a SQLite database has a folder").join("authgate.db");
        let conn = rusqlite::Connection::open(path).expect("the test database opens");
        conn.busy_timeout(std::time::Duration::from_secs(10)).expect("a busy timeout");
        conn
    }

    async fn postgres(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("the test database opens")
    }

    /// Runs one statement with text parameters.
    pub async fn execute(&self, sql: &str, binds: &[&str]) {
        match self.backend {
            Backend::Sqlite => {
                let conn = self.sqlite();
                conn.execute(&sqlite_placeholders(sql), rusqlite::params_from_iter(binds)).expect("the statement runs");
            }
            Backend::Postgres => {
                let mut conn = self.postgres().await;
                let query = binds.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), |q, b| q.bind(*b));
                query.execute(&mut conn).await.expect("the statement runs");
                conn.close().await.ok();
            }
        }
    }

    /// The rows of a query whose columns are all text (cast others).
    pub async fn rows(&self, sql: &str, binds: &[&str]) -> Vec<TextRow> {
        match self.backend {
            Backend::Sqlite => {
                let conn = self.sqlite();
                let mut stmt = conn.prepare(&sqlite_placeholders(sql)).expect("the query prepares");
                let width = stmt.column_count();
                let rows = stmt.query_map(rusqlite::params_from_iter(binds), |r| {
                    (0..width).map(|i| r.get::<_, Option<String>>(i)).collect::<rusqlite::Result<TextRow>>()
                });
                rows.expect("the query runs").collect::<rusqlite::Result<_>>().expect("text columns")
            }
            Backend::Postgres => {
                let mut conn = self.postgres().await;
                let query = binds.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), |q, b| q.bind(*b));
                let rows = query.fetch_all(&mut conn).await.expect("the query runs");
                conn.close().await.ok();
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| r.try_get::<Option<String>, _>(i).expect("a text column")).collect())
                    .collect()
            }
        }
    }

    /// Blocks every session write, as a long write by another client would:
    /// SQLite's write lock, or an exclusive lock on the sessions table in
    /// PostgreSQL.
    pub async fn write_lock(&self) -> WriteLock {
        match self.backend {
            Backend::Sqlite => {
                let conn = self.sqlite();
                conn.execute_batch("BEGIN IMMEDIATE").expect("the write lock is free");
                WriteLock::Sqlite(conn)
            }
            Backend::Postgres => {
                let mut conn = self.postgres().await;
                for statement in ["BEGIN", "LOCK TABLE sessions IN EXCLUSIVE MODE"] {
                    sqlx::query(statement).execute(&mut conn).await.expect("the write lock is free");
                }
                WriteLock::Postgres(conn)
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A held write lock, until `release`.
pub enum WriteLock {
    Sqlite(rusqlite::Connection),
    Postgres(PgConnection),
}

impl WriteLock {
    pub async fn release(self) {
        match self {
            WriteLock::Sqlite(conn) => conn.execute_batch("ROLLBACK").expect("the lock is released"),
            WriteLock::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.expect("the lock is released");
            }
        }
    }
}

/// SQLite reads `$1` as a parameter named "$1"; `?1` is the first.
fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}
