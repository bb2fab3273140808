//! What each of §20's checks costs a request: `cargo bench --bench bots`.
//!
//! - `altcha`: issuing a challenge, and verifying a solution (the server's
//!   side; the client's search is `maxnumber`/2 SHA-256s on average).
//! - `blocklist`: looking an address up in a table the size of FireHOL's
//!   level 1 list and of a list of 100,000 networks.
//! - `breached_file`: a search of a Pwned Passwords file of a million
//!   hashes (the real one, 35 GB, takes about 2 log2(size) = 70 reads).
//! - `challenge_guard`: the check a sign-in makes before its password hash,
//!   with the challenge off and with `adaptive` when nothing asks for one
//!   (the three counts read from SQLite). A sign-in's password hash costs
//!   tens of milliseconds (`cargo bench --bench micro -- verify`).

use std::net::IpAddr;
use std::time::Duration;

use authgate::config::{ChallengeMode, Config, Secret};
use authgate::crypto::altcha;
use criterion::{Criterion, criterion_group, criterion_main};

const KEY: &[u8] = b"a bench key of thirty-two bytes!";

fn altcha_checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("altcha");
    group.bench_function("create", |b| b.iter(|| altcha::create(KEY, 100_000, 2_000_000_000)));
    let challenge = altcha::create(KEY, 1_000, 2_000_000_000);
    let payload = altcha::payload(&challenge, altcha::solve(&challenge).expect("solvable"));
    group.bench_function("verify", |b| b.iter(|| altcha::verify(KEY, &payload, 1_900_000_000).expect("valid")));
    group.finish();
}

/// A netset of `n` distinct IPv4 networks (/16 to /32) and some IPv6 ones.
fn netset(n: u32) -> String {
    let mut text = String::from("# generated\n");
    for i in 0..n {
        let x = i.wrapping_mul(2_654_435_761);
        let prefix = 16 + x % 17;
        text.push_str(&format!("{}.{}.{}.{}/{prefix}\n", x >> 24, (x >> 16) & 255, (x >> 8) & 255, x & 255));
        if i % 10 == 0 {
            text.push_str(&format!("2001:db8:{:x}::/48\n", i & 0xffff));
        }
    }
    text
}

fn blocklist(c: &mut Criterion) {
    use authgate::domain::ip_table::IpTable;
    let mut group = c.benchmark_group("blocklist");
    let probe: Vec<IpAddr> = (0..1024u32).map(|i| IpAddr::from(i.wrapping_mul(2_246_822_519).to_be_bytes())).collect();
    for n in [4_500, 100_000] {
        let table = IpTable::parse(&netset(n));
        group.bench_function(format!("contains/{n}_networks"), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % probe.len();
                table.contains(probe[i])
            })
        });
    }
    group.finish();
}

fn breached_file(c: &mut Criterion) {
    use sha1::{Digest, Sha1};
    let dir = tempdir::Dir::new();
    let path = dir.0.join("pwned.txt");
    let mut hashes: Vec<[u8; 20]> = (0..1_000_000u32).map(|i| Sha1::digest(i.to_le_bytes()).into()).collect();
    hashes.sort_unstable();
    let mut text = String::with_capacity(hashes.len() * 46);
    for (i, h) in hashes.iter().enumerate() {
        text.push_str(&format!("{}:{}\r\n", hex::encode_upper(h), i % 97 + 1));
    }
    std::fs::write(&path, text).expect("the file is written");
    let file = authgate::testing::BreachedFile::open(&path).expect("the file opens");
    let mut group = c.benchmark_group("breached_file");
    let absent: [u8; 20] = Sha1::digest(b"not in the file").into();
    group.bench_function("listed", |b| b.iter(|| assert!(file.contains(&hashes[123_456]).expect("read"))));
    group.bench_function("not_listed", |b| b.iter(|| assert!(!file.contains(&absent).expect("read"))));
    group.finish();
}

/// An app on a fresh SQLite file in `mode`, with a signed-up account.
fn app(rt: &tokio::runtime::Runtime, mode: ChallengeMode) -> (authgate::App, tempdir::Dir) {
    let dir = tempdir::Dir::new();
    let config = Config {
        database_url: format!("sqlite://{}", dir.0.join("bench.db").display()),
        secret_key: Some(Secret("bench-secret-bench-secret-bench-secret-0123".into())),
        throttle_enabled: false,
        metrics_enabled: false,
        defence: authgate::config::DefenceConfig { challenge: mode, ..Default::default() },
        ..Config::default()
    };
    (rt.block_on(authgate::App::build(config)).expect("the app builds"), dir)
}

fn challenge_guard(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let ip: IpAddr = "203.0.113.9".parse().expect("an address");
    let mut group = c.benchmark_group("challenge_guard");
    for (name, mode) in [("off", ChallengeMode::Off), ("adaptive_not_required", ChallengeMode::Adaptive)] {
        let (app, _dir) = app(&rt, mode);
        group.bench_function(name, |b| {
            b.iter(|| assert!(rt.block_on(authgate::testing::passes_without_proof(&app, "ana@example.com", ip))))
        });
    }
    group.finish();
}

/// A scratch folder, removed when dropped.
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!("authgate-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&path).expect("a scratch folder");
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = altcha_checks, blocklist, breached_file, challenge_guard
}
criterion_main!(benches);
