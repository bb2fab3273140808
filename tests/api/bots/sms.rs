//! §20 SMS pumping: allowed countries, a per-number limit, a per-prefix
//! velocity limit. A held text is audited, counted in the metric, and the
//! HTTP answer stays as it would have been. Texts go to the log outbox
//! (no SMS channel is configured); numbers are unique per test.

use std::time::Duration;

use authgate::Config;
use authgate::config::Rate;
use authgate::domain::Clock;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::super::helpers::*;

const COUNTRY_REFUSED: &str = "Phone numbers of this country are not accepted.";
const HOUR: Duration = Duration::from_secs(3600);

/// A US number no other test uses (its exchange is never 555).
fn us_phone() -> String {
    let n = u32::from_be_bytes(uuid::Uuid::new_v4().as_bytes()[..4].try_into().expect("4 bytes"));
    let exchange = 200 + n % 800;
    // Not 555 (the prefix test's), not an N11 service code.
    let exchange = if exchange == 555 || exchange % 100 == 11 { exchange + 1 } else { exchange };
    format!("+1415{exchange}{:04}", (n / 800) % 10_000)
}

/// A UK mobile number no other test uses (only its last digits vary: the
/// ones before decide validity).
fn uk_phone() -> String {
    let n = u32::from_be_bytes(uuid::Uuid::new_v4().as_bytes()[..4].try_into().expect("4 bytes"));
    format!("+447400123{:03}", n % 1_000)
}

async fn sms_app(clock: &Clock, configure: impl FnOnce(&mut Config)) -> TestApp {
    let clock = clock.clone();
    spawn_app_with(move |c| {
        c.clock = clock;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
        configure(c);
    })
    .await
}

fn register_body(phone: &str) -> serde_json::Value {
    json!({"phone": phone, "password": PASSWORD, "first_name": "Ana"})
}

/// A request from its own network, so that the code quotas per network
/// (§5) never get in the way of the limits under test.
async fn post_from_anywhere(app: &TestApp, path: &str, body: &serde_json::Value) -> Reply {
    let n = uuid::Uuid::new_v4().as_bytes()[0];
    let ip = format!("198.18.{n}.7");
    app.send_with_headers(Method::POST, path, None, Some(body), &[("x-forwarded-for", ip.as_str())]).await
}

#[tokio::test]
async fn registration_refuses_a_phone_of_a_country_not_allowed() {
    let app = sms_app(&Clock::manual(), |c| c.defence.sms_allowed_countries = vec!["US".into()]).await;
    let uk = uk_phone();
    let r = app.post(REGISTER, &register_body(&uk)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["errors"], json!({"phone": [COUNTRY_REFUSED]}));
    let us = us_phone();
    app.register(None, Some(&us), PASSWORD).await;
    assert_eq!(wait_for_messages(&us, 1).await[0].channel, "sms");
    assert!(messages_to(&uk).is_empty(), "never texted");
}

#[tokio::test]
async fn an_existing_account_of_a_country_no_longer_allowed_is_not_texted() {
    let clock = Clock::manual();
    let app = sms_app(&clock, |_| {}).await;
    let uk = uk_phone();
    app.register(None, Some(&uk), PASSWORD).await;
    wait_for_messages(&uk, 1).await;
    let restricted = app
        .spawn_peer(|c| {
            c.clock = clock.clone();
            c.defence.sms_allowed_countries = vec!["US".into(), "DE".into()];
        })
        .await;
    let r = restricted.post(RESET_REQUEST, &json!({"email_or_phone": uk})).await;
    assert_eq!(r.status, StatusCode::OK, "the answer is the usual one: {}", r.body);
    let held = wait_for_audit(&restricted, "sms_country_refused", 1).await;
    assert_eq!((held[0].outcome.as_str(), held[0].detail["country"].as_str()), ("failure", Some("GB")));
    assert_eq!(messages_to(&uk).len(), 1, "no second text");
}

#[tokio::test]
async fn a_number_gets_at_most_its_limit_of_texts_per_window() {
    let clock = Clock::manual();
    let limit = Rate { count: 2, period: HOUR };
    let app = sms_app(&clock, |c| c.defence.sms_per_number_limit = limit).await;
    let phone = us_phone();
    app.register(None, Some(&phone), PASSWORD).await;
    for _ in 0..2 {
        let r = post_from_anywhere(&app, RESEND_OTP, &json!({"email_or_phone": phone})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let held = wait_for_audit(&app, "sms_velocity", 1).await;
    assert_eq!(held[0].detail["scope"], "number");
    assert_eq!(wait_for_messages(&phone, 2).await.len(), 2, "the third text was held");
    clock.advance(HOUR + Duration::from_secs(1));
    post_from_anywhere(&app, RESEND_OTP, &json!({"email_or_phone": phone})).await;
    wait_for_messages(&phone, 3).await;
    let text = scrape(&app, app.addr).await;
    assert!(sample(&text, authgate::testing::SMS_TEXTS, &[("country", "US"), ("outcome", "sent")]) >= 3.0);
    assert!(sample(&text, authgate::testing::SMS_TEXTS, &[("country", "US"), ("outcome", "held")]) >= 1.0);
}

#[tokio::test]
async fn a_prefix_past_its_velocity_limit_is_not_texted_and_the_answers_do_not_change() {
    let limit = Rate { count: 2, period: HOUR };
    let app = sms_app(&Clock::manual(), |c| c.defence.sms_prefix_limit = Some(limit)).await;
    let suffix = u32::from_be_bytes(uuid::Uuid::new_v4().as_bytes()[..4].try_into().expect("4 bytes")) % 9_997;
    let phones: Vec<String> = (0..3).map(|i| format!("+1415555{:04}", suffix + i)).collect();
    for phone in &phones {
        let r = post_from_anywhere(&app, REGISTER, &register_body(phone)).await;
        assert_eq!(r.status, StatusCode::CREATED, "the same answer for every one: {}", r.body);
    }
    let held = app.audit_events("sms_velocity").await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!((held[0].detail["scope"].as_str(), held[0].detail["prefix"].as_str()), (Some("prefix"), Some("141555")));
    wait_for_messages(&phones[0], 1).await;
    wait_for_messages(&phones[1], 1).await;
    assert!(messages_to(&phones[2]).is_empty(), "the third was held");
}
