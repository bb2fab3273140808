//! Micro-benchmarks of authgate's hot paths: `cargo bench --bench micro`
//! (or `cargo bench --bench micro -- verify` for the hashers only).
//!
//! Password verification runs once per Django format authgate accepts,
//! each with the parameters it is written with by default: authgate's own
//! (argon2id at OWASP cost, PBKDF2-SHA256 at 1,500,000 rounds) and Django's
//! (the real Django 6.1 hashes in `tests/fixtures/django_vectors.json`).
//! The slow hashers take ten flat samples, so the whole run stays in minutes.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use serde_json::Value;

use authgate::crypto::hashers::{Hasher, HasherKind};
use authgate::crypto::jwt::{JwtKeys, TokenType, claims};
use authgate::crypto::reset_token::{self, TokenSubject};
use authgate::domain::{Email, Phone};

const PASSWORD: &str = "correct horse battery staple";

/// The first real Django hash of `algorithm` whose parameters `pick` likes,
/// with its password.
fn django_hash(algorithm: &str, pick: impl Fn(&Value) -> bool) -> (String, String) {
    let v: Value = serde_json::from_str(include_str!("../tests/fixtures/django_vectors.json")).expect("vectors");
    let e = v["password_hashes"]
        .as_array()
        .expect("password_hashes")
        .iter()
        .find(|e| e["algorithm"] == algorithm && pick(&e["params"]))
        .unwrap_or_else(|| panic!("no {algorithm} vector"));
    (e["password"].as_str().expect("password").into(), e["encoded"].as_str().expect("encoded").into())
}

fn verify(c: &mut Criterion) {
    let hasher = Hasher::new(HasherKind::Argon2);
    let default = |p: &Value| p["django_default"] == true;
    let cases: Vec<(&str, String, String)> = vec![
        ("argon2id m=19456,t=2,p=1 (authgate default)", PASSWORD.into(), hasher.hash(PASSWORD)),
        (
            "pbkdf2_sha256 1500000 (authgate and Django default)",
            PASSWORD.into(),
            Hasher::new(HasherKind::Pbkdf2Sha256).hash(PASSWORD),
        ),
        {
            let (pw, enc) = django_hash("argon2", default);
            ("argon2id m=102400,t=2,p=8 (Django default)", pw, enc)
        },
        {
            let (pw, enc) = django_hash("bcrypt_sha256", default);
            ("bcrypt_sha256 12 rounds (Django default)", pw, enc)
        },
        {
            let (pw, enc) = django_hash("scrypt", default);
            ("scrypt N=16384,r=8,p=5 (Django default)", pw, enc)
        },
        {
            let (pw, enc) = django_hash("pbkdf2_sha1", |_| true);
            ("pbkdf2_sha1 1000 (legacy vector)", pw, enc)
        },
        {
            let (pw, enc) = django_hash("bcrypt", |_| true);
            ("bcrypt 4 rounds (legacy vector)", pw, enc)
        },
        {
            let (pw, enc) = django_hash("md5", |_| true);
            ("md5 (Django's test hasher)", pw, enc)
        },
    ];
    let mut group = c.benchmark_group("verify");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for (name, pw, encoded) in &cases {
        assert!(hasher.verify(pw, encoded).matches, "{name} does not verify");
        group.bench_function(*name, |b| b.iter(|| hasher.verify(pw, encoded)));
    }
    group.finish();
}

fn jwt(c: &mut Criterion) {
    let keys = JwtKeys::new(b"bench-secret-bench-secret-bench-secret-0123");
    let now = Utc::now().timestamp();
    let claims = claims(
        TokenType::Access,
        "0190a6f4-8f0e-7c2a-9d3b-2f6e1a4b5c6d",
        "client",
        "0190a6f4-9a1b-7c2a-9d3b-2f6e1a4b5c6d",
        "0123456789abcdef0123456789abcdef".into(),
        now,
        Duration::from_secs(300),
    );
    let token = keys.sign(&claims);
    let mut group = c.benchmark_group("jwt");
    group.bench_function("sign access", |b| b.iter(|| keys.sign(&claims)));
    group.bench_function("verify access", |b| b.iter(|| keys.verify(&token, TokenType::Access, now)));
    group.finish();
}

fn reset_tokens(c: &mut Criterion) {
    let secret = "django-insecure-proto-secret-key-0123456789abcdefghijklmnopqrstuvwxyz";
    let subject = TokenSubject {
        pk: "0190a6f4-8f0e-7c2a-9d3b-2f6e1a4b5c6d",
        password_hash: "pbkdf2_sha256$1500000$abcdefghijklmnopqrstuv$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        last_login: Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 15).single(),
        email: "alice@example.com",
    };
    let now = Utc::now().timestamp();
    let token = reset_token::make(secret, &subject, now);
    let mut group = c.benchmark_group("reset_token");
    group.bench_function("make", |b| b.iter(|| reset_token::make(secret, &subject, now)));
    group.bench_function("check", |b| b.iter(|| reset_token::check(secret, &subject, &token, now, 3 * 86400)));
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("email", |b| b.iter(|| Email::parse("  Alice.Smith+tag@Example.COM ")));
    group.bench_function("phone (E.164)", |b| b.iter(|| Phone::parse("+14155552671")));
    group.bench_function("phone (national format)", |b| b.iter(|| Phone::parse("+44 20 7946 0958")));
    group.finish();
}

criterion_group!(benches, verify, jwt, reset_tokens, parsing);
criterion_main!(benches);
