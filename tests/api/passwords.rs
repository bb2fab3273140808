//! Contract §5 password reset (by emailed link and by SMS code) and change,
//! through real delivery: an SMTP server and an SMS webhook started here.

use authgate::config::Secret;
use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;
use super::sinks::{SmsSink, SmtpSink};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn app_with_sinks() -> (TestApp, SmtpSink, SmsSink) {
    let (smtp, sms) = (SmtpSink::start().await, SmsSink::start().await);
    let (smtp_url, sms_url) = (smtp.url(), sms.url());
    let app = spawn_app_with(move |c| {
        c.smtp_url = Some(Secret(smtp_url));
        c.sms_webhook_url = Some(Secret(sms_url));
        c.reset_url = "https://shop.example/reset?uid={uid}&token={token}".into();
    })
    .await;
    (app, smtp, sms)
}

/// The `uid` and `token` of the reset link in an email body.
fn link_params(body: &str) -> (String, String) {
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with("https://shop.example/reset?"))
        .unwrap_or_else(|| panic!("no reset link in {body:?}"));
    let query = link.split_once('?').unwrap().1;
    let param = |name: &str| {
        query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).expect("the parameter").to_string()
    };
    (param("uid"), param("token"))
}

async fn request_reset(app: &TestApp, who: &str) {
    let r = app.post(RESET_REQUEST, &json!({"email_or_phone": who})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
}

const LINK: &str = "https://shop.example/reset?";
const RESET_TEXT: &str = "password reset code";

/// Asks for a reset of `email` and reads the link of the `n`-th reset mail
/// it got.
async fn emailed_link(app: &TestApp, smtp: &SmtpSink, email: &str, n: usize) -> (String, String) {
    request_reset(app, email).await;
    link_params(&smtp.wait_for(email, LINK, n).await)
}

async fn confirm_link(app: &TestApp, uid: &str, token: &str, password: &str) -> Reply {
    app.post(RESET_CONFIRM, &json!({"uidb64": uid, "token": token, "new_password": password})).await
}

#[tokio::test]
async fn the_emailed_link_resets_the_password_and_revokes_every_session() {
    let (app, smtp, _) = app_with_sinks().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;

    let (uid, token) = emailed_link(&app, &smtp, EMAIL, 1).await;
    let r = confirm_link(&app, &uid, &token, NEW_PASSWORD).await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(app.refresh(&refresh).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(ME, Some(&access)).await.status, StatusCode::UNAUTHORIZED);
    let old = app.post(LOGIN, &json!({"email_or_phone": EMAIL, "password": PASSWORD})).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    app.login(EMAIL, NEW_PASSWORD).await;
}

#[tokio::test]
async fn the_link_works_once() {
    let (app, smtp, _) = app_with_sinks().await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let (uid, token) = emailed_link(&app, &smtp, EMAIL, 1).await;
    assert_eq!(confirm_link(&app, &uid, &token, NEW_PASSWORD).await.status, StatusCode::OK);

    let again = confirm_link(&app, &uid, &token, "yet another passphrase").await;

    assert_field_error(&again, "token");
    app.login(EMAIL, NEW_PASSWORD).await;
}

#[tokio::test]
async fn the_link_dies_when_the_password_changes() {
    let (app, smtp, _) = app_with_sinks().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let (uid, token) = emailed_link(&app, &smtp, EMAIL, 1).await;
    let changed = app
        .post_as(&access, CHANGE_PASSWORD, &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);

    assert_field_error(&confirm_link(&app, &uid, &token, "yet another passphrase").await, "token");
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let (app, _, _) = app_with_sinks().await;
    let data = app.register(Some(EMAIL), None, PASSWORD).await;
    let id = text(&data["user"]["id"]);
    let hash = app.password_hash(&id).await;
    let subject =
        authgate::crypto::reset_token::TokenSubject { pk: &id, password_hash: &hash, last_login: None, email: EMAIL };
    let day_ago = chrono::Utc::now() - chrono::Duration::hours(25);
    let fresh_enough = chrono::Utc::now() - chrono::Duration::hours(23);
    let uid = authgate::crypto::reset_token::uidb64(&id);

    let stale = authgate::crypto::reset_token::make(&app.secret, &subject, day_ago.timestamp());
    assert_field_error(&confirm_link(&app, &uid, &stale, NEW_PASSWORD).await, "token");

    let recent = authgate::crypto::reset_token::make(&app.secret, &subject, fresh_enough.timestamp());
    assert_eq!(confirm_link(&app, &uid, &recent, NEW_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_link_with_a_wrong_uid_is_refused() {
    let (app, smtp, _) = app_with_sinks().await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let other = app.register(Some("bob@example.com"), None, PASSWORD).await;
    let (_, token) = emailed_link(&app, &smtp, EMAIL, 1).await;
    let bobs_uid = authgate::crypto::reset_token::uidb64(&text(&other["user"]["id"]));

    for uid in [bobs_uid.as_str(), "NDI", "!!!", "bm90LWEtdXVpZA"] {
        assert_field_error(&confirm_link(&app, uid, &token, NEW_PASSWORD).await, "token");
    }
    assert_field_error(&confirm_link(&app, "", &token, NEW_PASSWORD).await, "uidb64");
    app.login(EMAIL, PASSWORD).await;
}

#[tokio::test]
async fn the_sms_code_resets_the_password_and_revokes_every_session() {
    let (app, _, sms) = app_with_sinks().await;
    app.register(None, Some(PHONE), PASSWORD).await;
    let (_, refresh) = app.login(PHONE, PASSWORD).await;
    request_reset(&app, "+1 415-555-2671").await;
    let code = sms.code_for(PHONE, RESET_TEXT, 1).await;

    let r = app.post(RESET_CONFIRM, &json!({"email_or_phone": PHONE, "otp": code, "new_password": NEW_PASSWORD})).await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.refresh(&refresh).await.status, StatusCode::UNAUTHORIZED);
    app.login(PHONE, NEW_PASSWORD).await;
    let again = app
        .post(RESET_CONFIRM, &json!({"email_or_phone": PHONE, "otp": code, "new_password": "third passphrase ok"}))
        .await;
    assert_field_error(&again, "otp");
}

#[tokio::test]
async fn the_sms_code_is_void_after_five_wrong_attempts() {
    let (app, _, sms) = app_with_sinks().await;
    app.register(None, Some(PHONE), PASSWORD).await;
    request_reset(&app, PHONE).await;
    let code = sms.code_for(PHONE, RESET_TEXT, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    for _ in 0..5 {
        let r = app
            .post(RESET_CONFIRM, &json!({"email_or_phone": PHONE, "otp": wrong, "new_password": NEW_PASSWORD}))
            .await;
        assert_field_error(&r, "otp");
    }
    let right =
        app.post(RESET_CONFIRM, &json!({"email_or_phone": PHONE, "otp": code, "new_password": NEW_PASSWORD})).await;

    assert_field_error(&right, "otp");
    app.login(PHONE, PASSWORD).await;
}

#[tokio::test]
async fn a_new_reset_code_replaces_the_old_one() {
    let (app, _, sms) = app_with_sinks().await;
    app.register(None, Some(PHONE), PASSWORD).await;
    request_reset(&app, PHONE).await;
    let first = sms.code_for(PHONE, RESET_TEXT, 1).await;
    request_reset(&app, PHONE).await;
    let second = sms.code_for(PHONE, RESET_TEXT, 2).await;

    if first != second {
        let old = app
            .post(RESET_CONFIRM, &json!({"email_or_phone": PHONE, "otp": first, "new_password": NEW_PASSWORD}))
            .await;
        assert_field_error(&old, "otp");
    }
    let new =
        app.post(RESET_CONFIRM, &json!({"email_or_phone": PHONE, "otp": second, "new_password": NEW_PASSWORD})).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
}

#[tokio::test]
async fn reset_codes_are_never_exposed_in_answers() {
    let (app, _, sms) = app_with_sinks().await;
    app.register(None, Some(PHONE), PASSWORD).await;
    let r = app.post(RESET_REQUEST, &json!({"email_or_phone": PHONE})).await;
    let code = sms.code_for(PHONE, RESET_TEXT, 1).await;

    assert!(!r.body.to_string().contains(&code), "{}", r.body);
    assert_eq!(r.body["data"], json!({}));
}

#[tokio::test]
async fn a_reset_request_answers_alike_whether_or_not_the_account_exists() {
    let (app, smtp, _) = app_with_sinks().await;
    app.register(Some(EMAIL), None, PASSWORD).await;

    let known = app.post(RESET_REQUEST, &json!({"email_or_phone": EMAIL})).await;
    let unknown = app.post(RESET_REQUEST, &json!({"email_or_phone": "nobody@example.com"})).await;
    let unknown_phone = app.post(RESET_REQUEST, &json!({"email_or_phone": "+447911123456"})).await;

    assert_eq!((known.status, unknown.status, unknown_phone.status), (StatusCode::OK, StatusCode::OK, StatusCode::OK));
    assert_eq!(known.body, unknown.body);
    assert_eq!(known.body, unknown_phone.body);
    smtp.wait_for(EMAIL, LINK, 1).await;
}

#[tokio::test]
async fn reset_request_and_confirm_reject_missing_fields() {
    let (app, _, _) = app_with_sinks().await;
    assert_field_error(&app.post(RESET_REQUEST, &json!({})).await, "email_or_phone");
    assert_field_error(&app.post(RESET_REQUEST, &json!({"email_or_phone": "not an address"})).await, "email_or_phone");
    assert_field_error(&app.post(RESET_CONFIRM, &json!({})).await, "non_field_errors");
    assert_field_error(
        &app.post(RESET_CONFIRM, &json!({"uidb64": "NDI", "new_password": NEW_PASSWORD})).await,
        "token",
    );
    assert_field_error(&app.post(RESET_CONFIRM, &json!({"uidb64": "NDI", "token": "x"})).await, "new_password");
    assert_field_error(
        &app.post(RESET_CONFIRM, &json!({"email_or_phone": PHONE, "new_password": NEW_PASSWORD})).await,
        "otp",
    );
}

#[tokio::test]
async fn a_weak_new_password_is_refused_on_reset_without_spending_the_link() {
    let (app, smtp, _) = app_with_sinks().await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let (uid, token) = emailed_link(&app, &smtp, EMAIL, 1).await;

    assert_field_error(&confirm_link(&app, &uid, &token, "12345678").await, "new_password");
    assert_eq!(confirm_link(&app, &uid, &token, NEW_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn changing_the_password_returns_a_fresh_pair_and_revokes_the_other_sessions() {
    let (app, _, _) = app_with_sinks().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let (other_access, other_refresh) = app.login(EMAIL, PASSWORD).await;

    let r = app
        .post_as(&access, CHANGE_PASSWORD, &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let (new_access, new_refresh) = (text(&r.body["data"]["access"]), text(&r.body["data"]["refresh"]));
    assert_eq!(app.get(ME, Some(&new_access)).await.status, StatusCode::OK);
    app.refreshed(&new_refresh).await;
    assert_eq!(app.refresh(&other_refresh).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&refresh).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(ME, Some(&other_access)).await.status, StatusCode::UNAUTHORIZED);
    app.login(EMAIL, NEW_PASSWORD).await;
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_the_policy() {
    let (app, _, _) = app_with_sinks().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    assert_field_error(
        &app.post_as(&access, CHANGE_PASSWORD, &change("wrong password!", NEW_PASSWORD)).await,
        "current_password",
    );
    assert_field_error(&app.post_as(&access, CHANGE_PASSWORD, &change(PASSWORD, PASSWORD)).await, "new_password");
    for (weak, rule) in [
        ("short1", "too short"),
        ("8205137946", "entirely numeric"),
        ("password123", "too common"),
        ("ana@example.com1", "too similar"),
    ] {
        let r = app.post_as(&access, CHANGE_PASSWORD, &change(PASSWORD, weak)).await;
        assert_field_error(&r, "new_password");
        let messages = r.body["errors"]["new_password"].to_string();
        assert!(messages.contains(rule), "{weak}: expected {rule:?} in {messages}");
    }
    assert_field_error(
        &app.post_as(&access, CHANGE_PASSWORD, &json!({"current_password": PASSWORD})).await,
        "new_password",
    );
    let anonymous = app.post(CHANGE_PASSWORD, &change(PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    app.login(EMAIL, PASSWORD).await;
}

#[tokio::test]
async fn password_routes_answer_on_every_prefix() {
    let (app, _, _) = app_with_sinks().await;
    for path in [
        "/api/v1/password/reset-request/",
        "/api/v2/password/reset-request",
        "/auth/password-reset/",
        "/auth/password-reset",
    ] {
        let r = app.post(path, &json!({"email_or_phone": "nobody@example.com"})).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
    for path in ["/api/v2/password/reset-confirm/", "/auth/password-reset-confirm/", "/auth/password-reset-confirm"] {
        assert_field_error(&app.post(path, &json!({})).await, "non_field_errors");
    }
    for path in ["/api/v2/password/change/", "/auth/password-change/", "/auth/password-change"] {
        assert_eq!(app.post(path, &json!({})).await.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn with_the_smtp_server_down_the_flow_still_answers_200_and_the_failure_is_logged() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = spawn_app_with(move |c| c.smtp_url = Some(Secret(format!("smtp://{closed}")))).await;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;

    let r = app.post(RESET_REQUEST, &json!({"email_or_phone": email})).await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    // The verification code of the registration, then the reset link.
    let logged = wait_for_delivery_failures("SMTP: Connection error", 2).await;
    assert!(logged.iter().all(|l| !l.contains(PASSWORD)), "{logged:?}");
}
