//! Security finding 8: one person must not be able to exhaust another's
//! account recovery. Codes sent, guesses judged and reset emails sent are
//! counted per account and per requesting network (IPv4 /24, IPv6 /64); a
//! code belongs to the network that asked for it. Client addresses arrive
//! through `X-Forwarded-For` from the trusted 127.0.0.1; time moves on a
//! manual clock.

use std::time::Duration;

use authgate::config::Secret;
use authgate::domain::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;
use super::sinks::{SmsSink, SmtpSink};

const OWNER_IP: &str = "203.0.113.9";
const ATTACKER_IP: &str = "198.51.100.7";
const NEW_PASSWORD: &str = "a brand new passphrase";
const RESET_TEXT: &str = "password reset code";
const LINK: &str = "https://shop.example/reset?";

async fn app_with_sinks(clock: &Clock) -> (TestApp, SmtpSink, SmsSink) {
    let (smtp, sms) = (SmtpSink::start().await, SmsSink::start().await);
    let (smtp_url, sms_url, clock) = (smtp.url(), sms.url(), clock.clone());
    let app = spawn_app_with(move |c| {
        c.smtp_url = Some(Secret(smtp_url));
        c.sms_webhook_url = Some(Secret(sms_url));
        c.reset_url = "https://shop.example/reset?uid={uid}&token={token}".into();
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
        c.clock = clock;
    })
    .await;
    (app, smtp, sms)
}

async fn post_from(app: &TestApp, path: &str, body: &Value, ip: &str) -> Reply {
    app.send_with_headers(Method::POST, path, None, Some(body), &[("x-forwarded-for", ip)]).await
}

/// `n` reset requests for `who` from `ip`: every answer is the same 200.
async fn reset_requests(app: &TestApp, who: &str, ip: &str, n: usize) -> Vec<Reply> {
    let mut replies = Vec::new();
    for _ in 0..n {
        let r = post_from(app, RESET_REQUEST, &json!({ "email_or_phone": who }), ip).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
        replies.push(r);
    }
    replies
}

async fn confirm_code(app: &TestApp, code: &str, ip: &str) -> Reply {
    let body = json!({"email_or_phone": PHONE, "otp": code, "new_password": NEW_PASSWORD});
    post_from(app, RESET_CONFIRM, &body, ip).await
}

/// `n` wrong guesses at the reset code from `ip`: each a 400 on `otp`.
async fn wrong_guesses(app: &TestApp, right: &str, ip: &str, n: usize) {
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for _ in 0..n {
        assert_field_error(&confirm_code(app, wrong, ip).await, "otp");
    }
}

fn scopes(events: &[AuditRow]) -> Vec<String> {
    events.iter().map(|e| text(&e.detail["scope"])).collect()
}

fn the_same_answer(replies: &[Reply]) {
    assert!(replies.windows(2).all(|w| w[0].body == w[1].body), "refusals are invisible: {replies:#?}");
}

// ------------------------------------------------------------ codes sent

#[tokio::test]
async fn reset_requests_from_one_network_spend_only_its_share_of_codes_and_the_owner_still_gets_one() {
    // Arrange
    let clock = Clock::manual();
    let (app, _, sms) = app_with_sinks(&clock).await;
    app.register(None, Some(PHONE), PASSWORD).await;

    // Act
    let replies = reset_requests(&app, PHONE, ATTACKER_IP, 10).await;

    // Assert
    the_same_answer(&replies);
    let refused = wait_for_audit(&app, "otp_issue_refused", 7).await;
    assert_eq!(scopes(&refused), ["network"; 7]);
    assert_eq!(wait_for_audit(&app, "password_reset_request", 3).await.len(), 3);
    sms.code_for(PHONE, RESET_TEXT, 3).await;
    assert_eq!(sms.count(PHONE, RESET_TEXT), 3, "three codes for the attacker's network");
    reset_requests(&app, PHONE, OWNER_IP, 1).await;
    let code = sms.code_for(PHONE, RESET_TEXT, 4).await;
    let r = confirm_code(&app, &code, OWNER_IP).await;
    assert_eq!(r.status, StatusCode::OK, "the owner's code works: {}", r.body);
    app.login(PHONE, NEW_PASSWORD).await;
}

#[tokio::test]
async fn an_account_gets_at_most_ten_codes_a_day_across_networks_and_more_the_next_day() {
    // Arrange
    let clock = Clock::manual();
    let (app, _, _) = app_with_sinks(&clock).await;
    app.register(None, Some(PHONE), PASSWORD).await;
    for ip in ["192.0.2.1", "198.51.100.1", "203.0.113.1", "100.64.0.1"] {
        reset_requests(&app, PHONE, ip, 3).await;
    }
    let refused = wait_for_audit(&app, "otp_issue_refused", 2).await;
    assert_eq!(scopes(&refused), ["account"; 2]);
    assert_eq!(wait_for_audit(&app, "password_reset_request", 10).await.len(), 10);

    // Act
    clock.advance(Duration::from_secs(24 * 3600 + 1));
    reset_requests(&app, PHONE, "100.64.0.1", 1).await;

    // Assert
    assert_eq!(wait_for_audit(&app, "password_reset_request", 11).await.len(), 11, "a new day");
    assert_eq!(app.audit_events("otp_issue_refused").await.len(), 2);
}

// --------------------------------------------------------------- guesses

#[tokio::test]
async fn wrong_guesses_from_another_network_do_not_void_the_owners_code() {
    // Arrange
    let clock = Clock::manual();
    let (app, _, sms) = app_with_sinks(&clock).await;
    app.register(None, Some(PHONE), PASSWORD).await;
    reset_requests(&app, PHONE, OWNER_IP, 1).await;
    let code = sms.code_for(PHONE, RESET_TEXT, 1).await;

    // Act
    wrong_guesses(&app, &code, ATTACKER_IP, 12).await;

    // Assert
    let r = confirm_code(&app, &code, OWNER_IP).await;
    assert_eq!(r.status, StatusCode::OK, "the owner's code survived: {}", r.body);
    let failures = app.audit_events("password_reset").await;
    let refused: Vec<&AuditRow> = failures.iter().filter(|e| e.detail["reason"] == json!("quota")).collect();
    assert_eq!(refused.len(), 2, "the attacker's network had 10 guesses: {failures:?}");
    assert!(refused.iter().all(|e| e.detail["scope"] == json!("network") && e.ip.as_deref() == Some(ATTACKER_IP)));
}

#[tokio::test]
async fn after_an_attacker_failed_many_times_the_owner_requests_a_fresh_code_and_uses_it() {
    // Arrange
    let clock = Clock::manual();
    let (app, _, sms) = app_with_sinks(&clock).await;
    app.register(None, Some(PHONE), PASSWORD).await;
    reset_requests(&app, PHONE, ATTACKER_IP, 1).await;
    let theirs = sms.code_for(PHONE, RESET_TEXT, 1).await;
    wrong_guesses(&app, &theirs, ATTACKER_IP, 12).await;

    // Act
    reset_requests(&app, PHONE, OWNER_IP, 1).await;
    let code = sms.code_for(PHONE, RESET_TEXT, 2).await;
    let r = confirm_code(&app, &code, OWNER_IP).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.login(PHONE, NEW_PASSWORD).await;
}

#[tokio::test]
async fn a_network_out_of_guesses_is_refused_even_with_the_right_code_while_others_are_judged() {
    // Arrange: two codes voided by five wrong guesses each, then a third.
    let clock = Clock::manual();
    let (app, _, sms) = app_with_sinks(&clock).await;
    app.register(None, Some(PHONE), PASSWORD).await;
    for n in 1..=2 {
        reset_requests(&app, PHONE, ATTACKER_IP, 1).await;
        wrong_guesses(&app, &sms.code_for(PHONE, RESET_TEXT, n).await, ATTACKER_IP, 5).await;
    }
    reset_requests(&app, PHONE, ATTACKER_IP, 1).await;
    let code = sms.code_for(PHONE, RESET_TEXT, 3).await;

    // Act
    let spent = confirm_code(&app, &code, ATTACKER_IP).await;
    let elsewhere = confirm_code(&app, &code, OWNER_IP).await;

    // Assert
    assert_field_error(&spent, "otp");
    assert_eq!(
        elsewhere.status,
        StatusCode::OK,
        "the newest code, from a network with guesses left: {}",
        elsewhere.body
    );
}

#[tokio::test]
async fn guesses_are_bounded_per_account_across_networks_for_a_day() {
    // Arrange: five networks guess wrong ten times each.
    let clock = Clock::manual();
    let (app, _, sms) = app_with_sinks(&clock).await;
    app.register(None, Some(PHONE), PASSWORD).await;
    for net in 1..=5 {
        wrong_guesses(&app, "123456", &format!("192.0.{net}.1"), 10).await;
    }
    reset_requests(&app, PHONE, OWNER_IP, 1).await;
    let code = sms.code_for(PHONE, RESET_TEXT, 1).await;

    // Act
    let refused = confirm_code(&app, &code, OWNER_IP).await;
    let audited = app.audit_events("password_reset").await.pop().expect("events");
    clock.advance(Duration::from_secs(24 * 3600 + 1));
    reset_requests(&app, PHONE, OWNER_IP, 1).await;
    let next_day = confirm_code(&app, &sms.code_for(PHONE, RESET_TEXT, 2).await, OWNER_IP).await;

    // Assert
    assert_field_error(&refused, "otp");
    assert_eq!((&audited.detail["reason"], &audited.detail["scope"]), (&json!("quota"), &json!("account")));
    assert_eq!(next_day.status, StatusCode::OK, "{}", next_day.body);
}

// --------------------------------------------------------- reset emails

#[tokio::test]
async fn reset_emails_are_capped_per_network_and_per_account_each_hour() {
    // Arrange
    let clock = Clock::manual();
    let (app, smtp, _) = app_with_sinks(&clock).await;
    app.register(Some(EMAIL), None, PASSWORD).await;

    // Act
    let mut replies = reset_requests(&app, EMAIL, ATTACKER_IP, 10).await;
    let refused = wait_for_audit(&app, "reset_link_refused", 8).await;
    replies.extend(reset_requests(&app, EMAIL, OWNER_IP, 2).await);

    // Assert
    the_same_answer(&replies);
    assert_eq!(scopes(&refused), ["network"; 8]);
    let refused = wait_for_audit(&app, "reset_link_refused", 9).await;
    assert_eq!(scopes(&refused[8..]), ["account"]);
    assert_eq!(wait_for_audit(&app, "password_reset_request", 3).await.len(), 3);
    smtp.wait_for(EMAIL, LINK, 3).await;
    assert_eq!(smtp.count(EMAIL, LINK), 3, "three links an hour");
    clock.advance(Duration::from_secs(3601));
    reset_requests(&app, EMAIL, OWNER_IP, 1).await;
    smtp.wait_for(EMAIL, LINK, 4).await;
}

// ----------------------------------------------------- verification codes

#[tokio::test]
async fn verification_resends_from_one_network_do_not_spend_the_owners_codes() {
    // Arrange
    let clock = Clock::manual();
    let (app, smtp, _) = app_with_sinks(&clock).await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    for _ in 0..5 {
        let r = post_from(&app, RESEND_OTP, &json!({ "email_or_phone": EMAIL }), ATTACKER_IP).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_eq!(scopes(&wait_for_audit(&app, "otp_issue_refused", 2).await), ["network"; 2]);
    smtp.wait_for(EMAIL, "verification code", 4).await; // the registration's and three resends

    // Act
    post_from(&app, RESEND_OTP, &json!({ "email_or_phone": EMAIL }), OWNER_IP).await;
    let body = smtp.wait_for(EMAIL, "verification code", 5).await;
    let code = body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).expect("a code").to_string();
    let r = post_from(&app, VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": code}), OWNER_IP).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["is_verified"], json!(true));
}
