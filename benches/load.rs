//! A bounded HTTP load driver for authgate, run against a server on
//! loopback:
//!
//! ```sh
//! AUTHGATE_THROTTLE_ENABLED=false AUTHGATE_DATABASE_URL=sqlite:///tmp/load.db target/release/authgate &
//! cargo bench --bench load -- http://127.0.0.1:8000 64 10
//! ```
//!
//! Arguments: base URL, connections, seconds per scenario. Each connection
//! is its own keep-alive HTTP/1.1 client; in the refresh scenario each one
//! follows its own rotation chain (its own session), as real clients do.
//! Prints one row per scenario: requests/s, p50, p99, errors.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Clone, Copy)]
enum Scenario {
    Healthz,
    Me,
    Refresh,
}

struct Conn {
    client: reqwest::Client,
    access: String,
    refresh: String,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let [base, conns, secs] = args.as_slice() else {
        eprintln!("usage: cargo bench --bench load -- BASE_URL CONNECTIONS SECONDS (nothing run)");
        return;
    };
    let conns: usize = conns.parse().expect("CONNECTIONS is a number");
    let secs: u64 = secs.parse().expect("SECONDS is a number");
    let conns = setup(base, conns).await;
    println!("| scenario | connections | requests/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    for (name, s) in [
        ("GET /healthz", Scenario::Healthz),
        ("GET /api/v1/auth/me/", Scenario::Me),
        ("POST /api/v1/auth/token/refresh/", Scenario::Refresh),
    ] {
        let (rps, p50, p99, errors) = run(base, &conns, s, Duration::from_secs(secs)).await;
        println!("| {name} | {} | {rps:.0} | {p50:.2} | {p99:.2} | {errors} |", conns.len());
    }
}

/// One user, one sign-in (session) per connection.
async fn setup(base: &str, n: usize) -> Vec<Conn> {
    let c = reqwest::Client::new();
    let email = format!("load-{}@example.com", std::process::id());
    let body = json!({"email": email, "password": "load-test-passphrase", "first_name": "Load"});
    c.post(format!("{base}/api/v1/auth/register/")).json(&body).send().await.expect("register");
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
        let res: Value = client
            .post(format!("{base}/api/v1/auth/login/"))
            .json(&json!({"email_or_phone": email, "password": "load-test-passphrase"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login body");
        let data = &res["data"];
        out.push(Conn {
            client,
            access: data["access"].as_str().expect("access token").into(),
            refresh: data["refresh"].as_str().expect("refresh token").into(),
        });
    }
    out
}

async fn run(base: &str, conns: &[Conn], s: Scenario, dur: Duration) -> (f64, f64, f64, usize) {
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .iter()
        .map(|c| {
            let (client, base, access, mut refresh) =
                (c.client.clone(), base.to_string(), c.access.clone(), c.refresh.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                while start.elapsed() < dur {
                    let t = Instant::now();
                    let req = match s {
                        Scenario::Healthz => client.get(format!("{base}/healthz")),
                        Scenario::Me => client.get(format!("{base}/api/v1/auth/me/")).bearer_auth(&access),
                        Scenario::Refresh => {
                            client.post(format!("{base}/api/v1/auth/token/refresh/")).json(&json!({"refresh": refresh}))
                        }
                    };
                    match req.send().await {
                        Ok(res) if res.status().is_success() => {
                            let body = res.bytes().await.unwrap_or_default();
                            if let Scenario::Refresh = s {
                                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                                match v["data"]["refresh"].as_str() {
                                    Some(next) => refresh = next.to_string(),
                                    None => errors += 1,
                                }
                            }
                            lat.push(t.elapsed().as_micros() as u64);
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (lat, e) = t.await.expect("load task");
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0) as f64
            / 1000.0
    };
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99), errors)
}
