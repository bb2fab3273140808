//! A bounded load driver for authgate, run against a server on loopback
//! (`scripts/bench` starts one with a fresh database and runs this):
//!
//! ```sh
//! cargo bench --bench load -- 127.0.0.1:8000 SERVER_PID 4 [only=me,refresh] [conns=64,256] [idle=10000]
//! ```
//!
//! Positional arguments: the server's address, its pid (for its memory and
//! CPU in /proc) and the seconds each scenario is measured (after a short
//! warm-up). Each connection is one keep-alive HTTP/1.1 connection driven
//! by one task on a single thread, through a minimal client (`http.rs`), so
//! the driver costs the shared cores much less than the server does. In the
//! refresh scenarios each connection follows its own rotation chain (its
//! own session), as real clients do. Prints one markdown table.

mod http;
mod proc;
mod scenario;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scenario::{Client, Ctx, Kind, Tally};

struct Args {
    addr: SocketAddr,
    pid: u32,
    window: Duration,
    only: Option<Vec<String>>,
    conns: Vec<usize>,
    idle: usize,
    verify_ms: Option<f64>,
}

fn parse_args() -> Option<Args> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let (positional, options): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| !a.contains('='));
    let [addr, pid, secs] = positional.as_slice() else { return None };
    let mut a = Args {
        addr: addr.parse().ok()?,
        pid: pid.parse().ok()?,
        window: Duration::from_secs_f64(secs.parse().ok()?),
        only: None,
        conns: vec![64, 256],
        idle: 10_000,
        verify_ms: None,
    };
    for opt in options {
        let (k, v) = opt.split_once('=')?;
        match k {
            "only" => a.only = Some(v.split(',').map(str::to_string).collect()),
            "conns" => a.conns = v.split(',').map(|n| n.parse().ok()).collect::<Option<_>>()?,
            "idle" => a.idle = v.parse().ok()?,
            "verify_ms" => a.verify_ms = Some(v.parse().ok()?),
            _ => return None,
        }
    }
    Some(a)
}

struct Row {
    name: String,
    conns: usize,
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
    peak_rss: f64,
    server_cpu: f64,
    driver_cpu: f64,
}

fn main() {
    let Some(args) = parse_args() else {
        eprintln!(
            "usage: cargo bench --bench load -- ADDR SERVER_PID SECONDS [only=a,b] [conns=64,256] [idle=N] \
             [verify_ms=X] (nothing run)"
        );
        return;
    };
    // One thread: the driver must leave the cores it shares to the server.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(run(args));
}

fn wanted(args: &Args, name: &str) -> bool {
    args.only.as_ref().is_none_or(|o| o.iter().any(|n| n == name))
}

async fn run(args: Args) {
    let idle_rss = proc::status_mib(args.pid, "VmRSS").unwrap_or(0.0);
    let ctx = Arc::new(Ctx {
        login_body: format!(
            "{{\"email_or_phone\":\"load-{}@bench.example.com\",\"password\":\"{}\"}}",
            args.pid,
            scenario::PASSWORD
        ),
        run: u64::from(args.pid) * 1000 + u64::from(std::process::id() % 1000),
    });
    let mut rows = Vec::new();
    let most = args.conns.iter().copied().max().unwrap_or(64);
    let mut clients = setup(&args, &ctx, most).await;
    let warmup = Duration::from_millis(500);
    let scenarios = [
        ("healthz", "GET /healthz", Kind::Healthz),
        ("me", "GET me", Kind::Me),
        ("refresh", "POST token/refresh", Kind::Refresh),
        ("login", "POST login", Kind::Login),
        ("register", "POST register", Kind::Register),
        ("mixed", "mixed 70/20/8/2", Kind::Mixed),
    ];
    for (key, name, kind) in scenarios {
        if !wanted(&args, key) {
            continue;
        }
        for &n in &args.conns {
            let group: Vec<Client> = clients.drain(..n).collect();
            let before = Measure::start(args.pid);
            let (group, tally) = scenario::drive(group, kind, ctx.clone(), warmup, args.window).await;
            rows.push(before.row(name, n, tally, args.window));
            clients.splice(0..0, group);
            eprintln!("done: {name} x{n}");
        }
    }
    if wanted(&args, "flood") {
        let n = args.conns.first().copied().unwrap_or(64);
        let me: Vec<Client> = clients.drain(..n).collect();
        let login: Vec<Client> = (0..n).map(|i| Client::new(100_000 + i, http::Conn::new(args.addr))).collect();
        let before = Measure::start(args.pid);
        let ((me, me_tally), (_, login_tally)) = tokio::join!(
            scenario::drive(me, Kind::Me, ctx.clone(), warmup, args.window),
            scenario::drive(login, Kind::Login, ctx.clone(), warmup, args.window),
        );
        let login_row = Measure::row_without_cpu("POST login (the flood)", n, login_tally, args.window);
        rows.push(before.row("GET me during a login flood", n, me_tally, args.window));
        rows.push(login_row);
        clients.splice(0..0, me);
        eprintln!("done: flood");
    }
    drop(clients);
    let idle = if wanted(&args, "idle") && args.idle > 0 { Some(hold_idle(&args).await) } else { None };
    let verify_ms = args.verify_ms.unwrap_or_else(median_verify_ms);
    let parallel = all_cores_verify_rate();
    print_report(&args, &rows, idle_rss, idle, verify_ms, parallel);
}

/// Registers the account every connection signs in to, then signs each
/// connection in (its own session).
async fn setup(args: &Args, ctx: &Ctx, n: usize) -> Vec<Client> {
    let mut c = http::Conn::new(args.addr);
    let email = format!("load-{}@bench.example.com", args.pid);
    let body = format!("{{\"email\":\"{email}\",\"password\":\"{}\",\"first_name\":\"Load\"}}", scenario::PASSWORD);
    let status = c.send(&http::post_json(scenario::REGISTER, &body)).await.expect("register the load account");
    assert!(status == 201 || status == 400, "register answered {status}: {}", String::from_utf8_lossy(c.body()));
    let mut clients: Vec<Client> = (0..n).map(|i| Client::new(i, http::Conn::new(args.addr))).collect();
    // Sign in a few at a time: each costs one password hash.
    for chunk in clients.chunks_mut(16) {
        let signed = futures::future::join_all(chunk.iter_mut().map(|c| c.sign_in(ctx))).await;
        assert!(signed.iter().all(|ok| *ok), "a setup login failed");
    }
    clients
}

/// Server memory and CPU from the start of a scenario.
struct Measure {
    pid: u32,
    server_cpu: f64,
    driver_cpu: f64,
    at: Instant,
}

impl Measure {
    fn start(pid: u32) -> Measure {
        proc::reset_peak(pid);
        Measure {
            pid,
            server_cpu: proc::cpu_secs(pid),
            driver_cpu: proc::cpu_secs(std::process::id()),
            at: Instant::now(),
        }
    }

    fn row(&self, name: &str, conns: usize, tally: Tally, window: Duration) -> Row {
        let secs = self.at.elapsed().as_secs_f64();
        Row {
            peak_rss: proc::status_mib(self.pid, "VmHWM").unwrap_or(0.0),
            server_cpu: (proc::cpu_secs(self.pid) - self.server_cpu) / secs,
            driver_cpu: (proc::cpu_secs(std::process::id()) - self.driver_cpu) / secs,
            ..Self::row_without_cpu(name, conns, tally, window)
        }
    }

    fn row_without_cpu(name: &str, conns: usize, mut tally: Tally, window: Duration) -> Row {
        let (p50, p99) = tally.percentiles();
        Row {
            name: name.into(),
            conns,
            rps: tally.latencies_us.len() as f64 / window.as_secs_f64(),
            p50,
            p99,
            errors: tally.errors,
            peak_rss: f64::NAN,
            server_cpu: f64::NAN,
            driver_cpu: f64::NAN,
        }
    }
}

struct Idle {
    held: usize,
    refused: usize,
    rss: f64,
    peak_rss: f64,
}

/// Opens `args.idle` keep-alive connections, each answered once, holds them
/// all open and reads the server's memory.
async fn hold_idle(args: &Args) -> Idle {
    use futures::StreamExt;
    proc::reset_peak(args.pid);
    let addr = args.addr;
    let opened: Vec<Option<http::Conn>> = futures::stream::iter(0..args.idle)
        .map(|_| async move {
            let mut c = http::Conn::new(addr);
            match c.send(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n").await {
                Ok(200) => Some(c),
                _ => None,
            }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let held = opened.iter().filter(|c| c.is_some()).count();
    // Let the server settle (and free what it used to answer) before reading.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = Idle {
        held,
        refused: args.idle - held,
        rss: proc::status_mib(args.pid, "VmRSS").unwrap_or(0.0),
        peak_rss: proc::status_mib(args.pid, "VmHWM").unwrap_or(0.0),
    };
    drop(opened);
    eprintln!("done: idle");
    idle
}

/// The median time of one verification with the configured hasher and
/// its default parameters, on this machine, now (same as the criterion
/// bench `hashers/verify`).
fn median_verify_ms() -> f64 {
    use authgate::crypto::hashers::{Hasher, HasherKind};
    let kind =
        std::env::var("AUTHGATE_PASSWORD_HASHER").ok().and_then(|k| k.parse().ok()).unwrap_or(HasherKind::Argon2);
    let hasher = Hasher::new(kind);
    let encoded = hasher.hash(scenario::PASSWORD);
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            assert!(hasher.verify(scenario::PASSWORD, &encoded).matches);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Verifications per second with one verifying thread per core, as the
/// server's hashing pool runs them under a login flood. On this kind of
/// machine each verification is slower when every core hashes at once
/// (shared memory bandwidth and cache for argon2's 19 MiB), so this is the
/// ceiling a login flood can actually reach.
fn all_cores_verify_rate() -> f64 {
    use authgate::crypto::hashers::{Hasher, HasherKind};
    let kind =
        std::env::var("AUTHGATE_PASSWORD_HASHER").ok().and_then(|k| k.parse().ok()).unwrap_or(HasherKind::Argon2);
    let hasher = Hasher::new(kind);
    let encoded = hasher.hash(scenario::PASSWORD);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let each = 20;
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| (0..each).for_each(|_| assert!(hasher.verify(scenario::PASSWORD, &encoded).matches)));
        }
    });
    (cores * each) as f64 / t.elapsed().as_secs_f64()
}

fn print_report(args: &Args, rows: &[Row], idle_rss: f64, idle: Option<Idle>, verify_ms: f64, parallel: f64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "| scenario | connections | requests/s | p50 ms | p99 ms | errors | server peak RSS MiB | server CPU (cores) \
         | server CPU µs/request | driver CPU (cores) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let mib = |v: f64| if v.is_nan() { "".to_string() } else { format!("{v:.1}") };
        let cpu = |v: f64| if v.is_nan() { "".to_string() } else { format!("{v:.2}") };
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
            r.name,
            r.conns,
            r.rps,
            r.p50,
            r.p99,
            r.errors,
            mib(r.peak_rss),
            cpu(r.server_cpu),
            if r.server_cpu.is_nan() { String::new() } else { format!("{:.0}", 1e6 * r.server_cpu / r.rps) },
            cpu(r.driver_cpu)
        );
    }
    println!("| idle server (after start-up) | 0 | | | | | {idle_rss:.1} (RSS) | | | |");
    if let Some(i) = &idle {
        println!(
            "| {} idle keep-alive connections | {} held | | | | {} refused | {:.1} (RSS; peak {:.1}) | | | |",
            args.idle, i.held, i.refused, i.rss, i.peak_rss
        );
    }
    println!();
    let find = |name: &str, n: usize| rows.iter().find(|r| r.name == name && r.conns == n);
    let ceiling = cores as f64 * 1000.0 / verify_ms;
    println!(
        "Hash-bound login ceiling: {cores} cores / {verify_ms:.1} ms median verify = {ceiling:.0} logins/s. \
         Ratios are within this run."
    );
    println!(
        "Measured with every core verifying at once: {parallel:.0} verifications/s ({:.1} ms each per core).",
        cores as f64 * 1000.0 / parallel
    );
    let first = args.conns.first().copied().unwrap_or(64);
    if let Some(h) = find("GET /healthz", first) {
        for (name, label) in [("GET me", "GET me"), ("POST token/refresh", "refresh")] {
            if let Some(r) = find(name, first) {
                println!("- {label} at {first}: {:.1}% of /healthz, p99 {:.2} ms", 100.0 * r.rps / h.rps, r.p99);
            }
        }
    }
    for &n in &args.conns {
        if let Some(r) = find("POST login", n) {
            println!(
                "- login at {n}: {:.0}% of the hash-bound ceiling, {:.0}% of the all-cores verify rate, {} errors",
                100.0 * r.rps / ceiling,
                100.0 * r.rps / parallel,
                r.errors
            );
        }
    }
    if let (Some(alone), Some(flood)) = (find("GET me", first), find("GET me during a login flood", first)) {
        println!("- me during a login flood: {:.0}% of its unloaded rate", 100.0 * flood.rps / alone.rps);
    }
}
