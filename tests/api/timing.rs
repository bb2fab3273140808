//! Enumeration by timing (issue 3, item 7): for an existing and an unknown
//! account, login and reset-request take the same time. Requests come in
//! pairs of the two kinds so that load from other tests falls on both alike,
//! with a pause after each so that work a request leaves in the background
//! (a reset is mailed off the request path) does not land on the next one;
//! the timing tests take turns. The median ratio of 50 back-to-back pairs
//! must be within 10%, in one of up to three rounds.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

async fn timed(app: &TestApp, path: &str, body: &Value, want: StatusCode) -> Duration {
    let start = Instant::now();
    let r = app.post(path, body).await;
    let took = start.elapsed();
    assert_eq!(r.status, want, "{}", r.body);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// One timing test at a time: they would otherwise load each other.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn compare(app: &TestApp, path: &str, known: Value, unknown: Value, want: StatusCode, settle: Duration) {
    let _turn = TURN.lock().await;
    for _ in 0..3 {
        timed(app, path, &known, want).await; // warm-up
    }
    // The other tests of the binary run meanwhile, and a burst of their
    // hashing can queue one side of a few pairs. A real difference shows in
    // every round; a burst of load passes. Up to three rounds.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let paired = paired_ratio(app, path, &known, &unknown, want, settle).await;
        seen.push(format!("{paired:.3}"));
        if (0.9..=1.1).contains(&paired) {
            return;
        }
    }
    panic!("{path}: existing/unknown paired median ratio not within 10% in any round: {seen:?}");
}

/// The median, over 50 back-to-back pairs, of existing/unknown time.
async fn paired_ratio(
    app: &TestApp,
    path: &str,
    known: &Value,
    unknown: &Value,
    want: StatusCode,
    pause: Duration,
) -> f64 {
    let settle = || tokio::time::sleep(pause);
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        // Which goes first is drawn per pair, so a pattern of the server's
        // (say, alternating hashing threads) cannot line up with the kinds.
        if rand::random::<bool>() {
            k.push(timed(app, path, known, want).await);
            settle().await;
            u.push(timed(app, path, unknown, want).await);
        } else {
            u.push(timed(app, path, unknown, want).await);
            settle().await;
            k.push(timed(app, path, known, want).await);
        }
        settle().await;
    }
    // Each pair ran back to back and shares the machine's load of that
    // moment, so the median of the pairs' ratios is the steadier measure.
    let mut ratios: Vec<f64> = k.iter().zip(&u).map(|(a, b)| a.as_secs_f64() / b.as_secs_f64()).collect();
    ratios.sort_unstable_by(f64::total_cmp);
    let paired = ratios[ratios.len() / 2];
    let (mk, mu) = (median(k), median(u));
    let diff = mk.abs_diff(mu).as_secs_f64() / mk.max(mu).as_secs_f64();
    println!(
        "{path}: median existing {mk:?}, unknown {mu:?} ({:.1}% apart); median paired ratio {paired:.3}",
        diff * 100.0
    );
    paired
}

#[tokio::test]
async fn login_takes_the_same_time_for_unknown_accounts_and_wrong_passwords() {
    // The sign-in defence (§14.1) does its work on every attempt, but with
    // a threshold above the attempts made here it never delays one.
    let app = spawn_app_with(|c| c.login_failures_before_delay = 1000).await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let known = json!({"email_or_phone": EMAIL, "password": "not the password"});
    let unknown = json!({"email_or_phone": "nobody@example.com", "password": "not the password"});
    compare(&app, LOGIN, known, unknown, StatusCode::UNAUTHORIZED, Duration::from_millis(5)).await;
}

#[tokio::test]
async fn reset_request_takes_the_same_time_whether_or_not_the_account_exists() {
    let app = spawn_app().await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let known = json!({"email_or_phone": EMAIL});
    let unknown = json!({"email_or_phone": "nobody@example.com"});
    // A reset leaves a few milliseconds of work behind (the look-up, the
    // mail): the pause outlasts it so it never lands on the next request.
    compare(&app, RESET_REQUEST, known, unknown, StatusCode::OK, Duration::from_millis(20)).await;
}
