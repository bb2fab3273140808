//! §20 proof of work: the challenge route, `always`, and the three rules
//! of `adaptive` (a login id's failures, a network's, the whole service's).
//! Tests solve challenges as the ALTCHA widget does, with small
//! `maxnumber`s; the clock is a manual one they move. Every request comes
//! from 127.0.0.1, a trusted proxy, so `X-Forwarded-For` names the client.

use std::time::Duration;

use authgate::Config;
use authgate::config::{ChallengeMode, Rate};
use authgate::crypto::altcha::{self, Challenge};
use authgate::domain::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::super::helpers::*;

pub const CHALLENGE: &str = "/api/v1/auth/challenge/";
const WRONG: &str = "not the password";
pub const REQUIRED: &str = "A solved challenge is required (GET /auth/challenge/).";
const INVALID: &str = "Invalid, expired or already used challenge.";

/// A server in `mode`, on a manual clock, behind the trusted 127.0.0.1.
pub async fn defended(mode: ChallengeMode, configure: impl FnOnce(&mut Config)) -> (TestApp, Clock) {
    let clock = Clock::manual();
    let app = spawn_app_with(|c| {
        c.clock = clock.clone();
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
        c.defence.challenge = mode;
        c.defence.challenge_maxnumber = 2000;
        configure(c);
    })
    .await;
    (app, clock)
}

/// A fresh challenge, solved: the `altcha` field's value.
pub async fn solved(app: &TestApp) -> String {
    let r = app.get(CHALLENGE, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = challenge_of(&r.body["data"]);
    altcha::payload(&c, altcha::solve(&c).expect("the number is within maxnumber"))
}

fn challenge_of(data: &Value) -> Challenge {
    Challenge {
        algorithm: altcha::ALGORITHM,
        challenge: text(&data["challenge"]),
        maxnumber: data["maxnumber"].as_u64().expect("maxnumber"),
        salt: text(&data["salt"]),
        signature: text(&data["signature"]),
    }
}

/// POST `body` to `path` from client address `ip`.
pub async fn post_from(app: &TestApp, path: &str, body: &Value, ip: &str) -> Reply {
    app.send_with_headers(Method::POST, path, None, Some(body), &[("x-forwarded-for", ip)]).await
}

async fn login_from(app: &TestApp, login: &str, password: &str, altcha: Option<&str>, ip: &str) -> Reply {
    let body = json!({"email_or_phone": login, "password": password, "altcha": altcha});
    post_from(app, LOGIN, &body, ip).await
}

pub fn assert_altcha_refused(r: &Reply, message: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_envelope(&r.body, false);
    assert_eq!(r.body["errors"], json!({"altcha": [message]}));
}

#[tokio::test]
async fn the_challenge_comes_in_the_envelope_or_bare_for_the_widget() {
    let (app, _) = defended(ChallengeMode::Off, |_| {}).await;
    let r = app.get(CHALLENGE, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_envelope(&r.body, true);
    assert_eq!(r.headers["cache-control"], "no-store");
    let data = &r.body["data"];
    assert_eq!((data["algorithm"].as_str(), data["maxnumber"].as_u64()), (Some("SHA-256"), Some(2000)));
    assert!(text(&data["salt"]).contains("?expires="), "{data}");
    let bare = app.get(&format!("{CHALLENGE}?format=altcha"), None).await;
    assert_eq!(bare.status, StatusCode::OK);
    let keys: Vec<&String> = bare.body.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["algorithm", "challenge", "maxnumber", "salt", "signature"], "the widget's fields, bare");
    assert_ne!(bare.body["challenge"], data["challenge"], "every challenge is new");
    let legacy = app.get("/api/v2/auth/challenge", None).await;
    assert_eq!(legacy.status, StatusCode::OK, "v2, without the trailing slash");
}

#[tokio::test]
async fn off_by_default_no_route_asks_for_a_challenge() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;
    app.login(&email, PASSWORD).await;
    let r = app.post(RESET_REQUEST, &json!({"email_or_phone": email, "altcha": "ignored"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn always_each_route_needs_a_solution_and_a_solution_works_once() {
    let (app, _) = defended(ChallengeMode::Always, |_| {}).await;
    let email = unique_email();
    let register = json!({"email": email, "password": PASSWORD, "first_name": "Ana"});
    assert_altcha_refused(&post_from(&app, REGISTER, &register, "203.0.113.9").await, REQUIRED);
    let solution = solved(&app).await;
    let mut with = register.clone();
    with["altcha"] = json!(solution);
    assert_eq!(post_from(&app, REGISTER, &with, "203.0.113.9").await.status, StatusCode::CREATED);

    let r = login_from(&app, &email, PASSWORD, Some(&solution), "203.0.113.9").await;
    assert_altcha_refused(&r, INVALID);
    assert_altcha_refused(&login_from(&app, &email, PASSWORD, None, "203.0.113.9").await, REQUIRED);
    let r = login_from(&app, &email, PASSWORD, Some(&solved(&app).await), "203.0.113.9").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    for path in [RESET_REQUEST, RESEND_OTP] {
        let body = json!({"email_or_phone": email});
        assert_altcha_refused(&post_from(&app, path, &body, "203.0.113.9").await, REQUIRED);
        let body = json!({"email_or_phone": email, "altcha": solved(&app).await});
        assert_eq!(post_from(&app, path, &body, "203.0.113.9").await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_solution_expires_after_five_minutes_and_a_forged_one_is_refused() {
    let (app, clock) = defended(ChallengeMode::Always, |_| {}).await;
    let email = unique_email();
    let r = app.get(CHALLENGE, None).await;
    let c = challenge_of(&r.body["data"]);
    let number = altcha::solve(&c).expect("solvable");
    clock.advance(Duration::from_secs(5 * 60 + 1));
    let late = login_from(&app, &email, WRONG, Some(&altcha::payload(&c, number)), "203.0.113.9").await;
    assert_altcha_refused(&late, INVALID);

    let r = app.get(CHALLENGE, None).await;
    let c = challenge_of(&r.body["data"]);
    let number = altcha::solve(&c).expect("solvable");
    let wrong_number = altcha::payload(&c, number + 1);
    let unsigned = altcha::payload(&Challenge { signature: "00".repeat(32), ..c.clone() }, number);
    for forged in [wrong_number.as_str(), unsigned.as_str(), "not base64", "e30="] {
        assert_altcha_refused(&login_from(&app, &email, WRONG, Some(forged), "203.0.113.9").await, INVALID);
    }
    let r = login_from(&app, &email, WRONG, Some(&altcha::payload(&c, number)), "203.0.113.9").await;
    assert_unauthorized(&r, "the genuine solution still works: the forgeries did not spend it");
}

#[tokio::test]
async fn a_request_refused_for_the_challenge_is_no_failure_of_the_account() {
    let (app, _) = defended(ChallengeMode::Always, |c| c.login_failures_before_delay = 2).await;
    let email = unique_email();
    let body = json!({"email": email, "password": PASSWORD, "first_name": "Ana", "altcha": solved(&app).await});
    assert_eq!(post_from(&app, REGISTER, &body, "203.0.113.9").await.status, StatusCode::CREATED);
    for _ in 0..5 {
        assert_altcha_refused(&login_from(&app, &email, WRONG, None, "203.0.113.9").await, REQUIRED);
    }
    let r = login_from(&app, &email, PASSWORD, Some(&solved(&app).await), "203.0.113.9").await;
    assert_eq!(r.status, StatusCode::OK, "not delayed by §14.1: {}", r.body);
}

#[tokio::test]
async fn adaptive_asks_for_a_login_id_after_three_failures() {
    let (app, _) = defended(ChallengeMode::Adaptive, |_| {}).await;
    let (ana, bea) = (unique_email(), unique_email());
    app.register(Some(&ana), None, PASSWORD).await;
    for (i, ip) in ["203.0.113.1", "198.51.100.1", "192.0.2.1"].into_iter().enumerate() {
        let r = login_from(&app, &ana, WRONG, None, ip).await;
        assert_unauthorized(&r, &format!("failure {} needs no challenge", i + 1));
    }
    let r = login_from(&app, &ana.to_uppercase(), PASSWORD, None, "233.252.0.1").await;
    assert_altcha_refused(&r, REQUIRED);
    let r = login_from(&app, &ana, PASSWORD, Some(&solved(&app).await), "233.252.0.1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = login_from(&app, &ana, PASSWORD, None, "233.252.0.1").await;
    assert_eq!(r.status, StatusCode::OK, "a sign-in resets the count: {}", r.body);
    let r = login_from(&app, &bea, WRONG, None, "233.252.0.1").await;
    assert_unauthorized(&r, "another login id is not challenged");
    let body = json!({"email_or_phone": ana});
    assert_eq!(post_from(&app, RESET_REQUEST, &body, "233.252.0.1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn adaptive_asks_a_network_after_three_failed_sign_ins_within_fifteen_minutes() {
    let (app, clock) = defended(ChallengeMode::Adaptive, |_| {}).await;
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_unauthorized(&login_from(&app, &unique_email(), WRONG, None, ip).await, "a failure");
    }
    let register = json!({"email": unique_email(), "password": PASSWORD, "first_name": "Ana"});
    assert_altcha_refused(&post_from(&app, REGISTER, &register, "203.0.113.200").await, REQUIRED);
    assert_altcha_refused(&login_from(&app, &unique_email(), WRONG, None, "203.0.113.7").await, REQUIRED);
    assert_unauthorized(&login_from(&app, &unique_email(), WRONG, None, "198.51.100.7").await, "another network");
    clock.advance(Duration::from_secs(15 * 60 + 1));
    assert_unauthorized(&login_from(&app, &unique_email(), WRONG, None, "203.0.113.7").await, "15 minutes on");
}

#[tokio::test]
async fn adaptive_asks_everyone_while_the_service_is_under_attack() {
    let attack = Rate { count: 4, period: Duration::from_secs(60) };
    let (app, clock) = defended(ChallengeMode::Adaptive, |c| c.defence.challenge_attack_rate = attack).await;
    let peer = app
        .spawn_peer(|c| {
            c.clock = clock.clone();
            c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
            c.defence.challenge = ChallengeMode::Adaptive;
            c.defence.challenge_attack_rate = attack;
        })
        .await;
    for (i, ip) in ["203.0.113.1", "198.51.100.1", "192.0.2.1", "233.252.0.1", "203.0.114.1"].into_iter().enumerate() {
        let on = if i % 2 == 0 { &app } else { &peer };
        let r = login_from(on, &unique_email(), WRONG, None, ip).await;
        assert_unauthorized(&r, &format!("failure {} of 5, across two instances", i + 1));
    }
    for on in [&app, &peer] {
        assert_altcha_refused(&login_from(on, &unique_email(), WRONG, None, "100.64.0.1").await, REQUIRED);
    }
    clock.advance(Duration::from_secs(61));
    assert_unauthorized(&login_from(&peer, &unique_email(), WRONG, None, "100.64.0.1").await, "the minute passed");
}

#[tokio::test]
async fn adaptive_counts_in_redis_when_it_is_configured() {
    let Some(url) = std::env::var("AUTHGATE_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipping: AUTHGATE_TEST_REDIS_URL is not set");
        return;
    };
    let (app, _) = defended(ChallengeMode::Adaptive, |c| c.redis_url = Some(url)).await;
    // A network of its own, so that earlier runs on this Redis count nothing here.
    let net = format!("10.{}.{}", rand_octet(), rand_octet());
    for host in 1..=3 {
        let r = login_from(&app, &unique_email(), WRONG, None, &format!("{net}.{host}")).await;
        assert_unauthorized(&r, "a failure");
    }
    assert_altcha_refused(&login_from(&app, &unique_email(), WRONG, None, &format!("{net}.9")).await, REQUIRED);
    let solution = solved(&app).await;
    let r = login_from(&app, &unique_email(), WRONG, Some(&solution), &format!("{net}.9")).await;
    assert_unauthorized(&r, "solved");
    let r = login_from(&app, &unique_email(), WRONG, Some(&solution), &format!("{net}.9")).await;
    assert_altcha_refused(&r, INVALID);
}

fn rand_octet() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0]
}
