//! The harness: a real authgate on a random port with a database of its own,
//! a client that reads every answer as JSON, and the contract §1 envelope
//! check that every test applies to every answer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authgate::Config;
use authgate::config::{MetricsBind, Secret};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod answers;
mod log;

pub use answers::*;
pub use log::*;

/// The signing secret of every test server (at least 32 characters).
pub const TEST_SECRET: &str = "authgate-integration-tests-secret-0123456789";
/// Passes every rule of the password policy for the accounts used here.
pub const PASSWORD: &str = "correct horse battery staple";
pub const EMAIL: &str = "ana@example.com";
pub const PHONE: &str = "+14155552671";

pub const LOGIN: &str = "/api/v1/auth/login/";
pub const REGISTER: &str = "/api/v1/auth/register/";
pub const LOGOUT: &str = "/api/v1/auth/logout/";
pub const REFRESH: &str = "/api/v1/auth/token/refresh/";
pub const VERIFY_OTP: &str = "/api/v1/auth/verify-otp/";
pub const RESEND_OTP: &str = "/api/v1/auth/resend-otp/";
pub const ME: &str = "/api/v1/auth/me/";
pub const RESET_REQUEST: &str = "/api/v1/password/reset-request/";
pub const RESET_CONFIRM: &str = "/api/v1/password/reset-confirm/";
pub const CHANGE_PASSWORD: &str = "/api/v1/password/change/";

// ---------------------------------------------------------------- the app

pub struct TestApp {
    pub addr: SocketAddr,
    client: reqwest::Client,
    pub secret: String,
    db: Arc<TestDatabase>,
}

/// A request being built (`TestApp::request`).
pub struct TestRequest(reqwest::RequestBuilder);

impl TestRequest {
    /// `Authorization: Bearer {token}`, when there is one.
    pub fn bearer(self, token: Option<&str>) -> TestRequest {
        match token {
            Some(token) => TestRequest(self.0.bearer_auth(token)),
            None => self,
        }
    }

    /// `body` as JSON, when there is one.
    pub fn json(self, body: Option<&Value>) -> TestRequest {
        match body {
            Some(body) => TestRequest(self.0.json(body)),
            None => self,
        }
    }

    /// Raw bytes, with `content_type` when given.
    pub fn raw(self, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> TestRequest {
        let req = self.0.body(body);
        TestRequest(match content_type {
            Some(ct) => req.header(CONTENT_TYPE, ct),
            None => req,
        })
    }

    pub fn header(self, name: &str, value: &str) -> TestRequest {
        TestRequest(self.0.header(name, value))
    }

    /// Sends it and reads the answer, which must be the §1 envelope's JSON.
    pub async fn send(self) -> Reply {
        Reply::read(self.0.send().await.expect("the request is answered")).await
    }

    /// Sends it, for an answer that is not JSON (a page, an asset) or a
    /// request a test holds in flight: the future owns everything it needs.
    pub fn send_raw(self) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static {
        self.0.send()
    }
}

/// An answer, read whole. Reading fails the test unless the body is JSON
/// sent as `Content-Type: application/json` (contract §1).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server whose config the test may adjust first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let db = Arc::new(TestDatabase::fresh().await);
    spawn_app_on(db, configure).await
}

/// Starts a server whose config the test adjusts knowing the address it
/// will listen on (for a public URL that names it, say).
pub async fn spawn_app_at(configure: impl FnOnce(&mut Config, SocketAddr)) -> TestApp {
    let db = Arc::new(TestDatabase::fresh().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    let config = test_config(&db, |c| configure(c, addr));
    let secret = config.secret_key.as_ref().map(|s| s.0.clone()).unwrap_or_default();
    let limits = authgate::Limits::from(&config);
    let router = authgate::app(config).await.expect("the app builds");
    tokio::spawn(authgate::serve_with(listener, router, limits, std::future::pending()));
    TestApp { addr, client: test_client(), secret, db }
}

/// The config of a test server on `db`, adjusted by `configure`.
fn test_config(db: &TestDatabase, configure: impl FnOnce(&mut Config)) -> Config {
    log::capture_deliveries();
    let mut config = Config {
        database_url: db.url.clone(),
        secret_key: Some(Secret(TEST_SECRET.into())),
        throttle_enabled: false,
        expose_otp: true,
        // Most tests scrape the server they talk to; a test of the private
        // listener asks for one (observability.rs).
        metrics_bind: MetricsBind::Main,
        ..Config::default()
    };
    configure(&mut config);
    config
}

fn test_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().expect("a client")
}

/// Starts a server on `db`, which may be another server's database.
async fn spawn_app_on(db: Arc<TestDatabase>, configure: impl FnOnce(&mut Config)) -> TestApp {
    let config = test_config(&db, configure);
    let secret = config.secret_key.as_ref().map(|s| s.0.clone()).unwrap_or_default();
    let limits = authgate::Limits::from(&config);

    let router = authgate::app(config).await.expect("the app builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(authgate::serve_with(listener, router, limits, std::future::pending()));

    TestApp { addr, client: test_client(), secret, db }
}

/// A server run as the binary runs it (`authgate::App::serve`), until the
/// test sends `stop`.
pub struct StoppableApp {
    pub app: TestApp,
    /// Where `/metrics` is served when `metrics_bind` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub served: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn spawn_stoppable_app(configure: impl FnOnce(&mut Config)) -> StoppableApp {
    spawn_stoppable_on(Arc::new(TestDatabase::fresh().await), configure).await
}

async fn spawn_stoppable_on(db: Arc<TestDatabase>, configure: impl FnOnce(&mut Config)) -> StoppableApp {
    let config = test_config(&db, configure);
    let secret = config.secret_key.as_ref().map(|s| s.0.clone()).unwrap_or_default();

    let mut built = authgate::App::build(config).await.expect("the app builds");
    let metrics_addr = built.bind_metrics().await.expect("the metrics address is free");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(built.serve(listener, async {
        let _ = stopped.await;
    }));

    StoppableApp { app: TestApp { addr, client: test_client(), secret, db }, metrics_addr, stop, served }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The one request builder of the suite: every helper below is a
    /// shorthand for it. `path` is on this server, unless it is a whole URL.
    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        let url = if path.starts_with("http://") { path.to_string() } else { self.url(path) };
        TestRequest(self.client.request(method, url))
    }

    /// Any request: `token` goes in `Authorization: Bearer`, `body` as JSON.
    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        self.request(method, path).bearer(token).json(body).send().await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, None, Some(body)).await
    }

    /// A POST as the holder of `access`.
    pub async fn post_as(&self, access: &str, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(access), Some(body)).await
    }

    /// A POST of raw bytes, with `content_type` when given.
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> Reply {
        self.post_raw_as(None, path, content_type, body).await
    }

    pub async fn post_raw_as(
        &self,
        access: Option<&str>,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        self.request(Method::POST, path).bearer(access).raw(content_type, body).send().await
    }

    pub async fn get(&self, path: &str, access: Option<&str>) -> Reply {
        self.send(Method::GET, path, access, None).await
    }

    /// A GET with a raw `Authorization` header.
    pub async fn get_with_authorization(&self, path: &str, authorization: &str) -> Reply {
        self.request(Method::GET, path).header(reqwest::header::AUTHORIZATION.as_str(), authorization).send().await
    }

    pub async fn patch(&self, path: &str, access: Option<&str>, body: &Value) -> Reply {
        self.send(Method::PATCH, path, access, Some(body)).await
    }

    pub async fn refresh(&self, refresh: &str) -> Reply {
        self.post(REFRESH, &json!({ "refresh": refresh })).await
    }

    /// Rotates `refresh` and returns the new `(access, refresh)`.
    pub async fn refreshed(&self, refresh: &str) -> (String, String) {
        let r = self.refresh(refresh).await;
        assert_eq!(r.status, StatusCode::OK, "refresh failed: {}", r.body);
        assert_envelope(&r.body, true);
        (text(&r.body["data"]["access"]), text(&r.body["data"]["refresh"]))
    }

    /// Registers "Ana" and returns `data` (`user`, and `otp` when exposed).
    pub async fn register(&self, email: Option<&str>, phone: Option<&str>, password: &str) -> Value {
        let body = json!({"email": email, "phone": phone, "password": password, "first_name": "Ana"});
        let r = self.post(REGISTER, &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "registration failed: {}", r.body);
        assert_envelope(&r.body, true);
        r.body["data"].clone()
    }

    /// Signs in and returns `(access, refresh)`.
    pub async fn login(&self, email_or_phone: &str, password: &str) -> (String, String) {
        let r = self.post(LOGIN, &json!({"email_or_phone": email_or_phone, "password": password})).await;
        assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
        assert_envelope(&r.body, true);
        (text(&r.body["data"]["access"]), text(&r.body["data"]["refresh"]))
    }

    /// Registers `email` and signs in: `(user id, access, refresh)`.
    pub async fn signed_in(&self, email: &str) -> (String, String, String) {
        let data = self.register(Some(email), None, PASSWORD).await;
        let (access, refresh) = self.login(email, PASSWORD).await;
        (text(&data["user"]["id"]), access, refresh)
    }

    // ---------------------------------------------------- direct database access
    //
    // Arranging states no endpoint of this contract produces (an inactive,
    // a deleted account, an expired code) and reading what no endpoint
    // returns. The only SQL of the suite, valid on SQLite and PostgreSQL.

    pub async fn sql(&self, query: &'static str, binds: &[&str]) {
        self.db.execute(query, binds).await;
    }

    pub async fn deactivate(&self, user_id: &str) {
        self.sql("UPDATE users SET is_active = FALSE WHERE id = $1", &[user_id]).await;
    }

    pub async fn soft_delete(&self, user_id: &str) {
        self.sql("UPDATE users SET deleted_at = updated_at WHERE id = $1", &[user_id]).await;
    }

    pub async fn expire_otps(&self, user_id: &str) {
        self.sql("UPDATE otp_codes SET expires_at = 0 WHERE user_id = $1", &[user_id]).await;
    }

    /// Breaks the schema under the running server: every flow that writes
    /// an audit event then fails inside the database.
    pub async fn drop_audit_table(&self) {
        self.sql("DROP TABLE audit_events", &[]).await;
    }

    /// Makes the database refuse every change to a session signed in with
    /// the user agent `trapped`, as a broken disk or a constraint would,
    /// until `lift_session_trap`.
    pub async fn trap_session_writes(&self) {
        match self.db.backend {
            Backend::Sqlite => {
                self.sql(
                    "CREATE TRIGGER trap BEFORE UPDATE ON sessions WHEN OLD.user_agent = 'trapped'
                     BEGIN SELECT RAISE(ABORT, 'trapped'); END",
                    &[],
                )
                .await
            }
            Backend::Postgres => {
                self.sql(
                    "CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'trapped'; END $$",
                    &[],
                )
                .await;
                self.sql(
                    "CREATE TRIGGER trap BEFORE UPDATE ON sessions FOR EACH ROW
                     WHEN (OLD.user_agent = 'trapped') EXECUTE FUNCTION trap()",
                    &[],
                )
                .await;
            }
        }
    }

    pub async fn lift_session_trap(&self) {
        match self.db.backend {
            Backend::Sqlite => self.sql("DROP TRIGGER trap", &[]).await,
            Backend::Postgres => self.sql("DROP TRIGGER trap ON sessions", &[]).await,
        }
    }

    /// Blocks every session write, as a long write by another client would,
    /// until `release`: SQLite's write lock, or an exclusive lock on the
    /// sessions table in PostgreSQL.
    pub async fn hold_write_lock(&self) -> WriteLock {
        self.db.write_lock().await
    }

    pub async fn password_hash(&self, user_id: &str) -> String {
        let rows = self.db.rows("SELECT password FROM users WHERE id = $1", &[user_id]).await;
        rows.into_iter().next().and_then(|mut r| r.remove(0)).expect("the user exists")
    }

    /// The stored audit events named `action`, oldest first.
    pub async fn audit_events(&self, action: &str) -> Vec<AuditRow> {
        let rows = self
            .db
            .rows(
                "SELECT outcome, user_id, ip, user_agent, detail FROM audit_events WHERE action = $1 ORDER BY at, id",
                &[action],
            )
            .await;
        rows.into_iter()
            .map(|mut r| AuditRow {
                outcome: r[0].take().unwrap_or_default(),
                user_id: r[1].take(),
                ip: r[2].take(),
                user_agent: r[3].take(),
                detail: r[4].take().and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null),
            })
            .collect()
    }

    /// The stored signing keys, oldest first: `(kid, alg, private_key as
    /// stored, retired)`.
    pub async fn signing_key_rows(&self) -> Vec<(String, String, String, bool)> {
        let rows = self
            .db
            .rows(
                "SELECT kid, alg, private_key, CASE WHEN retired_at IS NULL THEN 'no' ELSE 'yes' END
                   FROM signing_keys ORDER BY created_at, kid",
                &[],
            )
            .await;
        rows.into_iter()
            .map(|mut r| {
                let mut take = |i: usize| r[i].take().unwrap_or_default();
                (take(0), take(1), take(2), take(3) == "yes")
            })
            .collect()
    }

    /// The config of a server on this one's database (for the library's
    /// commands, e.g. `authgate::rotate_signing_key`), adjusted by
    /// `configure`.
    pub fn peer_config(&self, configure: impl FnOnce(&mut Config)) -> Config {
        test_config(&self.db, configure)
    }

    /// Rows of a query on this server's database, every column as text.
    pub async fn query_rows(&self, query: &'static str, binds: &[&str]) -> Vec<super::db::TextRow> {
        self.db.rows(query, binds).await
    }

    /// Cuts the revocation feed of the instances on this database:
    /// PostgreSQL, their listening connections (`pg_terminate_backend`);
    /// SQLite, the table they poll, moved away until
    /// `restore_revocation_feed`.
    pub async fn interrupt_revocation_feed(&self) {
        match self.db.backend {
            Backend::Postgres => {
                self.sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE application_name = 'authgate-revocation-feed'
                        AND query LIKE '%authgate_revocations_' || current_schema() || '%'",
                    &[],
                )
                .await
            }
            Backend::Sqlite => self.sql("ALTER TABLE revocations RENAME TO revocations_away", &[]).await,
        }
    }

    pub async fn restore_revocation_feed(&self) {
        if self.db.backend == Backend::Sqlite {
            self.sql("ALTER TABLE revocations_away RENAME TO revocations", &[]).await;
        }
    }

    /// The SQLite file of this server's database (`None` on PostgreSQL).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.db.dir.as_ref().map(|dir| dir.join("authgate.db"))
    }

    /// Starts a second instance on this one's database, as another
    /// machine behind the same load balancer would run.
    pub async fn spawn_peer(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        spawn_app_on(Arc::clone(&self.db), configure).await
    }

    /// `spawn_peer`, run as the binary runs it, until the test stops it.
    pub async fn spawn_stoppable_peer(&self, configure: impl FnOnce(&mut Config)) -> StoppableApp {
        spawn_stoppable_on(Arc::clone(&self.db), configure).await
    }
}

/// One stored audit event, as `audit_events` reads it.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub outcome: String,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Value,
}

pub use super::db::{Backend, WriteLock};

/// Which database this test binary runs the suite on: the `api` binary on
/// SQLite, the `api_pg` binary (built when `AUTHGATE_TEST_DATABASE_URL` is
/// set) on PostgreSQL.
pub fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME") == "api_pg"
}

pub(crate) use super::db::TestDatabase;

// ------------------------------------------- sessions and admin API (§12, §13)
//
// Helpers of tests/api/sessions.rs and tests/api/admin.rs.

pub const SESSIONS: &str = "/api/v1/auth/sessions/";
pub const LOGOUT_ALL: &str = "/api/v1/auth/logout-all/";
pub const ADMIN_USERS: &str = "/api/v1/admin/users/";
pub const ADMIN_AUDIT: &str = "/api/v1/admin/audit/";

impl TestApp {
    /// Gives a user a role no endpoint grants (staff, admin): besides
    /// `createsuperuser`, the only way to make one.
    pub async fn make_role(&self, user_id: &str, role: &str) {
        self.sql("UPDATE users SET role = $2 WHERE id = $1", &[user_id, role]).await;
    }

    /// Any request, with extra headers (a `User-Agent`, say).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let req = headers.iter().fold(self.request(method, path), |req, (name, value)| req.header(name, value));
        req.bearer(token).json(body).send().await
    }

    pub async fn delete(&self, path: &str, access: Option<&str>) -> Reply {
        self.send(Method::DELETE, path, access, None).await
    }

    /// A PATCH of raw bytes sent as `application/json`.
    pub async fn patch_raw(&self, path: &str, access: Option<&str>, body: &'static str) -> Reply {
        self.request(Method::PATCH, path).bearer(access).raw(Some("application/json"), body).send().await
    }
}

// ---------------------------------------------------------------- clusters

/// Starts `n` instances on one fresh database at the same moment, as a
/// deployment that rolls out several machines does: each applies the
/// migrations as it starts.
pub async fn spawn_cluster(n: usize) -> Vec<TestApp> {
    let db = Arc::new(TestDatabase::fresh().await);
    futures::future::join_all((0..n).map(|_| spawn_app_on(Arc::clone(&db), |_| {}))).await
}

impl TestApp {
    /// The versions in the migrations ledger, in order, repeats included.
    pub async fn applied_migrations(&self) -> Vec<i64> {
        let rows = self.db.rows("SELECT CAST(version AS TEXT) FROM _sqlx_migrations ORDER BY version", &[]).await;
        rows.into_iter().map(|r| r[0].as_deref().and_then(|v| v.parse().ok()).expect("a version")).collect()
    }
}
