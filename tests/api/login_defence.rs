//! Contract §14.1: the per-account sign-in defence. After N failures for a
//! login id, attempts for it wait a delay that doubles with each further
//! failure (429, `Retry-After`, the password not checked); the account is
//! never locked. Trusted networks and several instances are in
//! `login_defence_shared.rs`; this file holds the harness both use.
//!
//! The clock is a manual one that tests move instead of sleeping. It still
//! runs with real time, so an exact `Retry-After` assumes less than a
//! second passes between a failure and the next attempt. Every request
//! reaches the server from 127.0.0.1, a trusted proxy, so
//! `X-Forwarded-For` sets the client address. Accounts have unique emails,
//! so the Redis-backed runs (when `AUTHGATE_TEST_REDIS_URL` is set) share
//! nothing with other tests or earlier runs.

use std::time::Duration;

use authgate::Config;
use authgate::domain::Clock;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::helpers::*;

pub const DELAYED: &str = "Too many failed attempts for this account. Try again later.";
pub const WRONG: &str = "not the password";
/// An address of the attacker, on no network the owner uses.
pub const ELSEWHERE: &str = "203.0.113.9";

/// Where the failure counters live.
#[derive(Clone)]
pub enum Counters {
    Database,
    Redis(String),
}

/// The Redis counters, or `None` (and a skip line) when
/// `AUTHGATE_TEST_REDIS_URL` is unset.
pub fn on_redis(test: &str) -> Option<Counters> {
    let url = std::env::var("AUTHGATE_TEST_REDIS_URL").ok().filter(|u| !u.trim().is_empty());
    if url.is_none() {
        eprintln!("skipping {test}: AUTHGATE_TEST_REDIS_URL is not set");
    }
    url.map(Counters::Redis)
}

/// A server with the defence at its defaults (N = 5), a manual clock, and
/// 127.0.0.1 as a trusted proxy.
pub struct Defended {
    pub app: TestApp,
    pub clock: Clock,
    counters: Counters,
}

impl Defended {
    pub async fn start(counters: &Counters) -> Defended {
        Defended::start_with(counters, |_| {}).await
    }

    pub async fn start_with(counters: &Counters, configure: impl FnOnce(&mut Config)) -> Defended {
        let clock = Clock::manual();
        let app = spawn_app_with(|c| {
            setup(c, counters, &clock);
            configure(c);
        })
        .await;
        Defended { app, clock, counters: counters.clone() }
    }

    /// A second instance on the same database, clock and counters.
    pub async fn peer(&self) -> TestApp {
        self.app.spawn_peer(|c| setup(c, &self.counters, &self.clock)).await
    }

    /// Registers an account with a unique email; returns the email.
    pub async fn account(&self) -> String {
        let email = unique_email();
        self.app.register(Some(&email), None, PASSWORD).await;
        email
    }

    pub async fn attempt(&self, login: &str, password: &str, ip: &str) -> Reply {
        attempt_on(&self.app, login, password, ip).await
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// `n` wrong guesses from `ip` that each wait out the delay in force
    /// (the clock moves by `Retry-After`), as a patient attacker would.
    pub async fn fail(&self, login: &str, ip: &str, n: usize) {
        for i in 1..=n {
            let mut r = self.attempt(login, WRONG, ip).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                self.advance(Duration::from_secs(assert_delayed(&r)));
                r = self.attempt(login, WRONG, ip).await;
            }
            assert_wrong(&r, &format!("guess {i} of {n}"));
        }
    }
}

fn setup(c: &mut Config, counters: &Counters, clock: &Clock) {
    c.clock = clock.clone();
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    if let Counters::Redis(url) = counters {
        c.redis_url = Some(url.clone());
    }
}

/// A login on `app` from client address `ip`.
pub async fn attempt_on(app: &TestApp, login: &str, password: &str, ip: &str) -> Reply {
    let body = json!({"email_or_phone": login, "password": password});
    app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &[("x-forwarded-for", ip)]).await
}

/// §14.1's 429: the envelope, its message, and `Retry-After` in whole
/// seconds (returned).
pub fn assert_delayed(r: &Reply) -> u64 {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "expected the delay's 429: {}", r.body);
    assert_envelope(&r.body, false);
    assert_eq!(r.message(), DELAYED);
    assert_eq!(r.body["errors"], json!({"non_field_errors": [DELAYED]}));
    let retry_after = r.headers.get("retry-after").expect("a Retry-After header").to_str().unwrap();
    let secs: u64 = retry_after.parse().unwrap_or_else(|_| panic!("Retry-After {retry_after:?} is not whole seconds"));
    assert!(secs >= 1, "Retry-After is {secs}");
    secs
}

/// The 401 of wrong credentials.
pub fn assert_wrong(r: &Reply, what: &str) {
    assert_unauthorized(r, what);
    assert_eq!(r.message(), "Invalid credentials.", "{what}");
}

pub fn assert_signed_in(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
    assert_envelope(&r.body, true);
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ------------------------------------------------------------ the finding

async fn guessing_from_many_addresses_delays_the_account_until_d_has_passed(counters: Counters) {
    // Arrange
    let d = Defended::start(&counters).await;
    let email = d.account().await;
    let started = d.clock.now();

    // Act: 100 wrong guesses from 25 addresses on 25 networks, each waiting
    // out the delay in force, then the right password.
    for i in 0..100 {
        d.fail(&email, &format!("198.18.{}.7", i % 25), 1).await;
    }
    let took = d.clock.now() - started;
    let owner = d.attempt(&email, PASSWORD, "192.0.2.1").await;

    // Assert: cycles of 15 guesses, 1 s to 15 min apart, each cycle
    // starting after 15 quiet minutes; the 100th is the 10th of its cycle,
    // so D is 2^(10 - 5) s.
    assert!(took >= chrono::TimeDelta::hours(3), "100 guesses took the attacker {took}");
    assert_eq!(assert_delayed(&owner), 32);
    d.advance(secs(32));
    assert_signed_in(&d.attempt(&email, PASSWORD, "192.0.2.1").await, "once D has passed");
}

#[tokio::test]
async fn guessing_from_many_addresses_delays_the_account_until_d_has_passed_db() {
    guessing_from_many_addresses_delays_the_account_until_d_has_passed(Counters::Database).await;
}

#[tokio::test]
async fn guessing_from_many_addresses_delays_the_account_until_d_has_passed_redis() {
    let Some(redis) = on_redis("guessing_from_many_addresses_delays_the_account_until_d_has_passed_redis") else {
        return;
    };
    guessing_from_many_addresses_delays_the_account_until_d_has_passed(redis).await;
}

// -------------------------------------------------------------- the delay

async fn the_delay_is_one_second_at_the_nth_failure_and_doubles_up_to_fifteen_minutes(counters: Counters) {
    // Arrange
    let d = Defended::start(&counters).await;
    let email = d.account().await;
    for i in 1..=4 {
        assert_wrong(&d.attempt(&email, WRONG, ELSEWHERE).await, &format!("failure {i}"));
    }

    for delay in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] {
        // Act: the Nth (or a further) failure, then attempts within D.
        assert_wrong(&d.attempt(&email, WRONG, ELSEWHERE).await, &format!("the failure before D = {delay} s"));
        let at_once = d.attempt(&email, PASSWORD, ELSEWHERE).await;
        d.advance(secs(delay) - Duration::from_millis(500));
        let just_before = d.attempt(&email, PASSWORD, ELSEWHERE).await;
        d.advance(Duration::from_millis(500));

        // Assert: refused even with the right password, until D.
        assert_eq!(assert_delayed(&at_once), delay, "{}", at_once.body);
        assert_eq!(assert_delayed(&just_before), 1, "rounded up: {}", just_before.body);
    }
    assert_wrong(&d.attempt(&email, WRONG, ELSEWHERE).await, "the failure before the cap");
    assert_eq!(assert_delayed(&d.attempt(&email, WRONG, ELSEWHERE).await), 900, "at most 15 minutes");
}

#[tokio::test]
async fn the_delay_is_one_second_at_the_nth_failure_and_doubles_up_to_fifteen_minutes_db() {
    the_delay_is_one_second_at_the_nth_failure_and_doubles_up_to_fifteen_minutes(Counters::Database).await;
}

#[tokio::test]
async fn the_delay_is_one_second_at_the_nth_failure_and_doubles_up_to_fifteen_minutes_redis() {
    let test = "the_delay_is_one_second_at_the_nth_failure_and_doubles_up_to_fifteen_minutes_redis";
    let Some(redis) = on_redis(test) else { return };
    the_delay_is_one_second_at_the_nth_failure_and_doubles_up_to_fifteen_minutes(redis).await;
}

#[tokio::test]
async fn the_setting_names_the_failures_before_the_delay() {
    // Arrange
    let d = Defended::start_with(&Counters::Database, |c| c.login_failures_before_delay = 2).await;
    let email = d.account().await;

    // Act
    let first = d.attempt(&email, WRONG, ELSEWHERE).await;
    let second = d.attempt(&email, WRONG, ELSEWHERE).await;
    let third = d.attempt(&email, PASSWORD, ELSEWHERE).await;

    // Assert
    assert_wrong(&first, "first");
    assert_wrong(&second, "second");
    assert_eq!(assert_delayed(&third), 1);
}

#[tokio::test]
async fn zero_turns_the_defence_off() {
    // Arrange
    let d = Defended::start_with(&Counters::Database, |c| c.login_failures_before_delay = 0).await;
    let email = d.account().await;

    // Act
    let guesses = futures::future::join_all((0..30).map(|_| d.attempt(&email, WRONG, ELSEWHERE))).await;
    let owner = d.attempt(&email, PASSWORD, ELSEWHERE).await;

    // Assert
    for (i, r) in guesses.iter().enumerate() {
        assert_wrong(r, &format!("guess {i}"));
    }
    assert_signed_in(&owner, "with the defence off");
}

// ------------------------------------------------------------ what counts

async fn a_successful_sign_in_resets_the_count(counters: Counters) {
    // Arrange
    let d = Defended::start(&counters).await;
    let email = d.account().await;
    d.fail(&email, ELSEWHERE, 4).await;
    assert_signed_in(&d.attempt(&email, PASSWORD, "192.0.2.1").await, "the owner, at the fifth attempt");

    // Act: N more failures are each checked; only then the delay.
    let after: Vec<Reply> = futures::future::join_all((0..5).map(|_| d.attempt(&email, WRONG, ELSEWHERE))).await;
    let next = d.attempt(&email, WRONG, ELSEWHERE).await;

    // Assert
    for (i, r) in after.iter().enumerate() {
        assert_wrong(r, &format!("failure {} after the sign-in", i + 1));
    }
    assert_eq!(assert_delayed(&next), 1);
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_count_db() {
    a_successful_sign_in_resets_the_count(Counters::Database).await;
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_count_redis() {
    let Some(redis) = on_redis("a_successful_sign_in_resets_the_count_redis") else { return };
    a_successful_sign_in_resets_the_count(redis).await;
}

#[tokio::test]
async fn fifteen_minutes_without_failures_reset_the_count() {
    // Arrange
    let d = Defended::start(&Counters::Database).await;
    let email = d.account().await;
    d.fail(&email, ELSEWHERE, 5).await;

    // Act: 14 quiet minutes keep the count, 15 reset it.
    d.advance(secs(14 * 60));
    let kept = d.attempt(&email, WRONG, ELSEWHERE).await;
    let sixth = d.attempt(&email, WRONG, ELSEWHERE).await;
    d.advance(secs(15 * 60));
    let fresh: Vec<Reply> = futures::future::join_all((0..5).map(|_| d.attempt(&email, WRONG, ELSEWHERE))).await;
    let next = d.attempt(&email, WRONG, ELSEWHERE).await;

    // Assert
    assert_wrong(&kept, "after 14 minutes, D has passed");
    assert_eq!(assert_delayed(&sixth), 2, "the count was kept: the sixth failure");
    for (i, r) in fresh.iter().enumerate() {
        assert_wrong(r, &format!("failure {} after 15 quiet minutes", i + 1));
    }
    assert_eq!(assert_delayed(&next), 1, "the count started again");
}

#[tokio::test]
async fn an_unknown_login_id_is_delayed_exactly_like_a_known_one() {
    // Arrange
    let d = Defended::start(&Counters::Database).await;
    let known = d.account().await;
    let unknown = unique_email();

    // Act
    let mut answers = Vec::new();
    for email in [&known, &unknown] {
        let mut seen = Vec::new();
        for _ in 0..6 {
            let r = d.attempt(email, WRONG, ELSEWHERE).await;
            let retry_after = r.headers.get("retry-after").map(|v| v.to_str().unwrap().to_string());
            seen.push((r.status, r.body, retry_after));
        }
        answers.push(seen);
    }

    // Assert
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1][5].0, StatusCode::TOO_MANY_REQUESTS, "{:?}", answers[1]);
    assert_eq!(answers[1][5].2.as_deref(), Some("1"));
}

#[tokio::test]
async fn an_inactive_account_with_the_right_password_is_not_a_failure() {
    // Arrange
    let d = Defended::start(&Counters::Database).await;
    let email = unique_email();
    let data = d.app.register(Some(&email), None, PASSWORD).await;
    d.app.deactivate(&text(&data["user"]["id"])).await;
    d.fail(&email, ELSEWHERE, 4).await;

    // Act
    let mut inactive = Vec::new();
    for _ in 0..3 {
        inactive.push(d.attempt(&email, PASSWORD, ELSEWHERE).await);
    }
    let fifth = d.attempt(&email, WRONG, ELSEWHERE).await;
    let next = d.attempt(&email, PASSWORD, ELSEWHERE).await;

    // Assert
    for r in &inactive {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    assert_wrong(&fifth, "the fifth failure");
    assert_eq!(assert_delayed(&next), 1);
}

#[tokio::test]
async fn an_invalid_body_is_refused_before_the_delay_and_does_not_count() {
    // Arrange
    let d = Defended::start(&Counters::Database).await;
    let email = d.account().await;
    d.fail(&email, ELSEWHERE, 4).await;

    // Act
    let body = json!({"email_or_phone": email});
    let headers = [("x-forwarded-for", ELSEWHERE)];
    let missing = d.app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &headers).await;
    let fifth = d.attempt(&email, WRONG, ELSEWHERE).await;
    let delayed_missing = d.app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &headers).await;

    // Assert
    assert_field_error(&missing, "password");
    assert_wrong(&fifth, "the fifth failure");
    assert_field_error(&delayed_missing, "password");
    assert_delayed(&d.attempt(&email, PASSWORD, ELSEWHERE).await);
}

// ------------------------------------------------------------------ audit

#[tokio::test]
async fn a_delayed_attempt_is_audited_login_delayed_with_its_network() {
    // Arrange
    let d = Defended::start(&Counters::Database).await;
    let target = unique_email();
    let target_id = text(&d.app.register(Some(&target), None, PASSWORD).await["user"]["id"]);
    d.fail(&target, ELSEWHERE, 5).await;

    // Act
    let refused = d.attempt(&target, PASSWORD, "2001:db8:1:2:aaaa::1").await;

    // Assert
    assert_delayed(&refused);
    let admin = unique_email();
    let admin_id = text(&d.app.register(Some(&admin), None, PASSWORD).await["user"]["id"]);
    d.app.make_role(&admin_id, "admin").await;
    let (access, _) = d.app.login(&admin, PASSWORD).await;
    let r = d.app.get(&format!("{ADMIN_AUDIT}?action=login_delayed&user_id={target_id}"), Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let events = r.body["data"]["events"].as_array().expect("events").clone();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["outcome"], json!("failure"), "{event}");
    assert_eq!(event["ip"], json!("2001:db8:1:2:aaaa::1"), "{event}");
    assert_eq!(event["detail"], json!({"network": "2001:db8:1:2::/64", "counter": "login", "retry_after": 1}));
    assert!(!event.to_string().contains(PASSWORD), "{event}");
}
