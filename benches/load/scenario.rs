//! The requests a scenario sends and the loop that sends them: every
//! connection is one task that sends its next request as soon as the last
//! answer is in (closed loop), for a warm-up and then the measured window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{self, Conn};

pub const ME: &str = "/api/v1/auth/me/";
pub const REFRESH: &str = "/api/v1/auth/token/refresh/";
pub const LOGIN: &str = "/api/v1/auth/login/";
pub const REGISTER: &str = "/api/v1/auth/register/";
pub const PASSWORD: &str = "load-Test-passphrase-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Healthz,
    Me,
    Refresh,
    Login,
    Register,
    /// 70% me, 20% refresh, 8% login, 2% register.
    Mixed,
}

/// What every connection shares: the account to sign in to, and a run id
/// that keeps registered emails unique across runs on one database.
pub struct Ctx {
    pub login_body: String,
    pub run: u64,
}

/// One connection with its own session (its own refresh rotation chain).
pub struct Client {
    pub id: usize,
    pub conn: Conn,
    pub access: String,
    pub refresh: String,
    me_request: Vec<u8>,
    rng: u64,
    seq: u64,
}

impl Client {
    pub fn new(id: usize, conn: Conn) -> Client {
        Client {
            id,
            conn,
            access: String::new(),
            refresh: String::new(),
            me_request: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            seq: 0,
        }
    }

    /// Signs in on this connection and keeps the tokens.
    pub async fn sign_in(&mut self, ctx: &Ctx) -> bool {
        let ok = matches!(self.conn.send(&http::post_json(LOGIN, &ctx.login_body)).await, Ok(200));
        ok && self.take_tokens()
    }

    fn take_tokens(&mut self) -> bool {
        let body = self.conn.body();
        let (Some(access), Some(refresh)) = (http::json_str(body, "access"), http::json_str(body, "refresh")) else {
            return false;
        };
        self.access = access.to_string();
        self.refresh = refresh.to_string();
        self.me_request = http::get(ME, Some(&self.access));
        true
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: plenty for picking request kinds.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Sends one request of `kind`; true when it got the expected answer.
    pub async fn step(&mut self, kind: Kind, ctx: &Ctx) -> bool {
        let kind = match kind {
            Kind::Mixed => match self.next_random() % 100 {
                0..70 => Kind::Me,
                70..90 => Kind::Refresh,
                90..98 => Kind::Login,
                _ => Kind::Register,
            },
            k => k,
        };
        match kind {
            Kind::Healthz => matches!(self.conn.send(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n").await, Ok(200)),
            Kind::Me => matches!(self.conn.send(&self.me_request).await, Ok(200)),
            Kind::Refresh => {
                let body = format!("{{\"refresh\":\"{}\"}}", self.refresh);
                matches!(self.conn.send(&http::post_json(REFRESH, &body)).await, Ok(200)) && self.take_tokens()
            }
            Kind::Login => matches!(self.conn.send(&http::post_json(LOGIN, &ctx.login_body)).await, Ok(200)),
            Kind::Register => {
                self.seq += 1;
                let body = format!(
                    "{{\"email\":\"r{}-{}-{}@bench.example.com\",\"password\":\"{PASSWORD}\",\"first_name\":\"Bench\"}}",
                    ctx.run, self.id, self.seq
                );
                matches!(self.conn.send(&http::post_json(REGISTER, &body)).await, Ok(201))
            }
            Kind::Mixed => unreachable!("resolved above"),
        }
    }
}

/// Latencies (µs) and failures seen in the measured window.
#[derive(Default)]
pub struct Tally {
    pub latencies_us: Vec<u32>,
    pub errors: u64,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
    }

    /// (p50, p99) in milliseconds; sorts in place.
    pub fn percentiles(&mut self) -> (f64, f64) {
        self.latencies_us.sort_unstable();
        let at = |q: usize| {
            let v = &self.latencies_us;
            if v.is_empty() { 0.0 } else { f64::from(v[(v.len() * q / 100).min(v.len() - 1)]) / 1000.0 }
        };
        (at(50), at(99))
    }
}

/// Runs `kind` on every client for `warmup` and then `window`; returns the
/// clients (with their rotated tokens) and what the window saw.
pub async fn drive(
    clients: Vec<Client>,
    kind: Kind,
    ctx: Arc<Ctx>,
    warmup: Duration,
    window: Duration,
) -> (Vec<Client>, Tally) {
    let start = Instant::now() + warmup;
    let end = start + window;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let mut tally = Tally { latencies_us: Vec::with_capacity(4096), errors: 0 };
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        break;
                    }
                    let ok = c.step(kind, &ctx).await;
                    if t0 >= start {
                        let us = t0.elapsed().as_micros();
                        tally.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                        tally.errors += u64::from(!ok);
                    }
                    if !ok {
                        // Do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                (c, tally)
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    let mut tally = Tally::default();
    for t in tasks {
        let (c, t) = t.await.expect("a load task panicked");
        clients.push(c);
        tally.merge(t);
    }
    (clients, tally)
}
