//! Issue 21, crash safety: the built server, killed with SIGKILL at a
//! random moment while registrations and refreshes run at load, then
//! restarted on the same database. Every registration and rotation it
//! answered 2xx is there after the restart, and a refresh token retired
//! before the kill is still refused (the reuse-after-restart class of bug).
//! `AUTHGATE_CRASH_ROUNDS` rounds (default 3; `scripts/crash-loop` runs 20),
//! each on a fresh database, on SQLite (`api`) and PostgreSQL (`api_pg`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

const WORKERS: usize = 8;
/// Rotations each worker asks for per session before signing in again.
const ROTATIONS: usize = 4;

/// The server binary, serving the database at `url`.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(url: &str) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(env!("CARGO_BIN_EXE_authgate"))
            .arg("serve")
            .env_clear()
            .env("AUTHGATE_BIND", format!("127.0.0.1:{port}"))
            .env("AUTHGATE_DATABASE_URL", url)
            .env("AUTHGATE_SECRET_KEY", TEST_SECRET)
            .env("AUTHGATE_THROTTLE_ENABLED", "false")
            .env("AUTHGATE_LOGIN_FAILURES_BEFORE_DELAY", "0")
            .env("AUTHGATE_METRICS_ENABLED", "false")
            // The restart must fall within it for the last rotation that was
            // written but never answered (see `verify`).
            .env("AUTHGATE_REFRESH_REUSE_GRACE", "60s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server binary starts");
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let client = client();
        for _ in 0..300 {
            if client.get(format!("{}/healthz", server.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not answer /healthz within 15 s");
    }

    /// SIGKILL: no shutdown, no flush, nothing the process can do.
    fn kill(&mut self) {
        self.child.kill().expect("the server is killed");
        self.child.wait().expect("the server is reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().expect("a client")
}

/// What the server acknowledged (answered 2xx) before the kill.
#[derive(Default)]
struct Acknowledged {
    registered: Vec<String>,
    /// Per session, its refresh tokens in the order they were answered.
    sessions: Vec<Vec<String>>,
}

/// POSTs `body`; `None` once the server is gone (the load stops there).
async fn post(client: &reqwest::Client, base: &str, path: &str, body: &Value) -> Option<(StatusCode, Value)> {
    let r = client.post(format!("{base}{path}")).json(body).send().await.ok()?;
    let status = r.status();
    Some((status, r.json().await.ok()?))
}

/// One worker's load: register, sign in, rotate, again, until the server
/// stops answering; each 2xx goes in the ledger at once.
async fn load(base: String, ledger: Arc<Mutex<Acknowledged>>) {
    let client = client();
    loop {
        let email = unique_email();
        let body = json!({"email": email, "password": PASSWORD, "first_name": "Ana"});
        let Some((StatusCode::CREATED, _)) = post(&client, &base, REGISTER, &body).await else { return };
        ledger.lock().unwrap().registered.push(email.clone());
        let body = json!({"email_or_phone": email, "password": PASSWORD});
        let Some((StatusCode::OK, signed_in)) = post(&client, &base, LOGIN, &body).await else { return };
        let mut refresh = text(&signed_in["data"]["refresh"]);
        let session = {
            let mut ledger = ledger.lock().unwrap();
            ledger.sessions.push(vec![refresh.clone()]);
            ledger.sessions.len() - 1
        };
        for _ in 0..ROTATIONS {
            let Some((StatusCode::OK, rotated)) = post(&client, &base, REFRESH, &json!({"refresh": refresh})).await
            else {
                return;
            };
            refresh = text(&rotated["data"]["refresh"]);
            ledger.lock().unwrap().sessions[session].push(refresh.clone());
        }
    }
}

/// After the restart: every acknowledged account signs in; every session's
/// last acknowledged token refreshes (current, or the previous one within
/// the grace when the kill took the answer of a rotation it had written);
/// a token retired two rotations before that is reuse.
async fn verify(base: &str, ledger: &Acknowledged, round: usize) {
    let client = client();
    for email in &ledger.registered {
        let body = json!({"email_or_phone": email, "password": PASSWORD});
        let (status, answer) = post(&client, base, LOGIN, &body).await.expect("the restarted server answers");
        assert_eq!(status, StatusCode::OK, "round {round}: an acknowledged registration is gone: {answer}");
    }
    for tokens in &ledger.sessions {
        let last = tokens.last().expect("a session has its first token");
        let (status, answer) = post(&client, base, REFRESH, &json!({"refresh": last})).await.expect("an answer");
        assert_eq!(status, StatusCode::OK, "round {round}: an acknowledged rotation is gone: {answer}");
        if let Some(retired) = tokens.len().checked_sub(3).map(|i| &tokens[i]) {
            let (status, _) = post(&client, base, REFRESH, &json!({"refresh": retired})).await.expect("an answer");
            assert_eq!(status, StatusCode::UNAUTHORIZED, "round {round}: a retired token works after the restart");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_a_sigkill_and_retired_tokens_stay_retired() {
    let rounds: usize = std::env::var("AUTHGATE_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for round in 0..rounds {
        // Arrange
        let db = TestDatabase::fresh().await;
        let mut server = Server::start(&db.url).await;
        let ledger = Arc::new(Mutex::new(Acknowledged::default()));
        let workers: Vec<_> =
            (0..WORKERS).map(|_| tokio::spawn(load(server.base.clone(), Arc::clone(&ledger)))).collect();

        // Act: once the load is under way, the kill lands anywhere in it,
        // mid-write included.
        while ledger.lock().unwrap().sessions.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let at = rand::rng().random_range(0..1500);
        tokio::time::sleep(Duration::from_millis(at)).await;
        server.kill();
        for worker in workers {
            worker.await.expect("a worker ends once the server is gone");
        }
        let restarted = Server::start(&db.url).await;

        // Assert
        let ledger = std::mem::take(&mut *ledger.lock().unwrap());
        let rotations: usize = ledger.sessions.iter().map(|s| s.len() - 1).sum();
        eprintln!(
            "round {round}: killed {at} ms into the load; acknowledged {} registrations, {} sign-ins, {rotations} rotations",
            ledger.registered.len(),
            ledger.sessions.len()
        );
        verify(&restarted.base, &ledger, round).await;
        drop(restarted);
        drop(db);
    }
}
