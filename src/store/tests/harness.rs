//! The databases the contract tests run on, and the values they build.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::domain::AuditAction;
use crate::domain::session::{NewSession, RefreshState};
use crate::domain::{
    AuditEvent, ClientInfo, Clock, Email, Jti, Outcome, Phone, Role, SessionId, User, UserId, from_micros, micros,
};
use crate::store::{AuditFilter, AuditRecord, Backend, NewUser, Store};

/// Connections per store: enough for every concurrent test call at once.
const CONNECTIONS: u32 = 8;

/// One test's database, its store and the store's clock.
pub(crate) struct Db {
    pub store: Store,
    /// The store's clock: `advance` it instead of sleeping.
    pub clock: Clock,
    pub backend: Backend,
    url: String,
    /// SQLite: the temporary folder of the file. PostgreSQL: the schema.
    place: Place,
}

enum Place {
    Folder(PathBuf),
    Schema(String),
}

impl Db {
    /// A new, migrated database for one test.
    pub async fn fresh(backend: Backend) -> Db {
        let db = Db::unmigrated(backend).await;
        db.store.migrate().await.expect("the schema migrates");
        db
    }

    /// A new, empty database (no migration run yet).
    pub async fn unmigrated(backend: Backend) -> Db {
        let (url, place) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("authgate-store-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("a temporary folder");
                (format!("sqlite://{}", dir.join("authgate.db").display()), Place::Folder(dir))
            }
            Backend::Postgres => fresh_schema().await,
        };
        let clock = Clock::manual();
        let store = Store::connect(&url, CONNECTIONS, clock.clone()).await.expect("the store opens");
        Db { store, clock, backend, url, place }
    }

    /// A store of another instance on the same database, with the same
    /// clock, as a second process would open it.
    pub async fn instance(&self) -> Store {
        Store::connect(&self.url, CONNECTIONS, self.clock.clone()).await.expect("a second store opens")
    }

    /// Runs one statement on the database itself, to arrange a state no
    /// operation produces (rows sharing one timestamp). It relies on the
    /// schema of `migrations/`, not on any backend's code.
    pub async fn arrange(&self, sql: String) {
        match self.backend {
            Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://").to_owned();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(path).expect("the SQLite file opens");
                    conn.busy_timeout(std::time::Duration::from_secs(10)).expect("a busy timeout");
                    conn.execute_batch(&sql).expect("the statement runs");
                })
                .await
                .expect("the statement ran");
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.expect("the schema opens");
                sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await.expect("the statement runs");
                conn.close().await.ok();
            }
        }
    }

    /// Closes the store and drops the database (a failed test leaves its
    /// PostgreSQL schema for a look; a later run sweeps it).
    pub async fn finish(self) {
        self.store.close().await;
        if let Place::Schema(schema) = &self.place {
            let mut admin = PgConnection::connect(&base_url()).await.expect("the test PostgreSQL answers");
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("the schema is dropped");
            admin.close().await.ok();
        }
    }

    /// Creates the user (with the `register` event), which must succeed.
    pub async fn user(&self, new: NewUser) -> User {
        let event = event(AuditAction::Register, Some(new.id));
        self.store.create_user(&new, None, &event).await.expect("no store error").expect("the login is free")
    }

    /// Opens a session of `user` for `client` now, refreshable for a day.
    pub async fn sign_in(&self, user: UserId, client: &ClientInfo) -> NewSession {
        let session = new_session(&self.reload(user).await, client, self.clock.now());
        let event = AuditEvent::new(AuditAction::Login, Outcome::Success, Some(user), client);
        self.store.open_session(&session, &event).await.expect("no store error").expect("the session opens");
        session
    }

    /// Every stored event of `action`, newest first.
    pub async fn audit(&self, action: &str) -> Vec<AuditRecord> {
        let filter = AuditFilter { action: Some(action.into()), limit: 1000, ..AuditFilter::default() };
        self.store.list_audit(&filter).await.expect("the audit trail lists")
    }

    /// The clock's time, to the microsecond the database keeps.
    pub fn now(&self) -> DateTime<Utc> {
        from_micros(micros(self.clock.now()))
    }

    /// The user as stored now.
    pub async fn reload(&self, id: UserId) -> User {
        self.store.find_user(id).await.expect("no store error").expect("the user exists")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Place::Folder(dir) = &self.place {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn base_url() -> String {
    std::env::var("AUTHGATE_TEST_DATABASE_URL").expect("AUTHGATE_TEST_DATABASE_URL names the test PostgreSQL")
}

/// A new schema named for its creation time, as `tests/api/db.rs` names
/// its own (so either sweeps the other's leftovers): schemas of runs older
/// than an hour are dropped first.
async fn fresh_schema() -> (String, Place) {
    let base = base_url();
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
            let _ =
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {old} CASCADE"))).execute(&mut admin).await;
        }
    }
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.expect("a schema");
    admin.close().await.ok();
    let sep = if base.contains('?') { '&' } else { '?' };
    (format!("{base}{sep}options[search_path]={schema}"), Place::Schema(schema))
}

/// Runs the calls at once, each on a task of its own released together,
/// and returns their outcomes in order.
pub async fn at_once<T, F>(calls: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let calls: Vec<F> = calls.into_iter().collect();
    let start = Arc::new(tokio::sync::Barrier::new(calls.len()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|call| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                call.await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.expect("a concurrent call panicked"));
    }
    outcomes
}

/// A client user with this email, a placeholder hash and no names.
pub fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: Some(Email::parse(email).expect("a valid email")),
        phone: None,
        password_hash: "pbkdf2_sha256$1$salt$first".into(),
        first_name: String::new(),
        last_name: String::new(),
        role: Role::Client,
        is_verified: false,
    }
}

/// A user signing up with a phone number only.
pub fn phone_user(phone: &str) -> NewUser {
    NewUser { email: None, phone: Some(Phone::parse(phone).expect("a valid phone")), ..new_user("x@example.com") }
}

/// An admin with this email.
pub fn new_admin(email: &str) -> NewUser {
    NewUser { role: Role::Admin, ..new_user(email) }
}

/// A successful event of `action` about `user`, from no known client.
pub fn event(action: AuditAction, user: Option<UserId>) -> AuditEvent {
    AuditEvent::new(action, Outcome::Success, user, &ClientInfo::default())
}

/// A client at `ip` with this user agent.
pub fn client(ip: &str, agent: &str) -> ClientInfo {
    ClientInfo { ip: Some(ip.parse().expect("an IP address")), user_agent: Some(agent.into()) }
}

/// A session of `user` (as read now) for `client` opened at `at`,
/// refreshable for a day.
pub fn new_session(user: &User, client: &ClientInfo, at: DateTime<Utc>) -> NewSession {
    NewSession {
        id: SessionId::new(),
        user_id: user.id,
        user_updated_at: user.updated_at,
        refresh: refresh_state(at, Duration::from_secs(24 * 3600)),
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.clone(),
        at,
        device: client.user_agent.clone().unwrap_or_else(|| "Unknown device".into()),
        max_sessions: 0,
        new_device_alerts: false,
    }
}

/// A new refresh token's claims, issued at `at`, valid for `ttl`.
pub fn refresh_state(at: DateTime<Utc>, ttl: Duration) -> RefreshState {
    let iat = at.timestamp();
    RefreshState { jti: Jti::random(), iat, exp: iat + i64::try_from(ttl.as_secs()).expect("a short ttl") }
}

/// `t` moved by whole seconds.
pub fn plus(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    t + TimeDelta::seconds(secs)
}

/// A call of `at_once`, boxed, so that calls of different kinds go together.
pub type Call<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

pub fn boxed<T>(call: impl Future<Output = T> + Send + 'static) -> Call<T> {
    Box::pin(call)
}

/// Runs a test body on a fresh database of `backend`, then drops it.
pub async fn run(backend: Backend, body: impl AsyncFnOnce(&Db)) {
    let db = Db::fresh(backend).await;
    body(&db).await;
    db.finish().await;
}
