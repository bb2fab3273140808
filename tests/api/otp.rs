//! Contract §5 verify OTP and resend OTP, and how register delivers the
//! code. Codes sent after registration are read from the outbox (the
//! log channel of §8), so these tests use addresses of their own.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;

/// A well-formed code that is not `code`.
fn other_than(code: &str) -> String {
    if code == "000000" { "111111".into() } else { "000000".into() }
}

#[tokio::test]
async fn the_registration_code_verifies_the_account() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(Some(EMAIL), None, PASSWORD).await;

    // Act
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": data["otp"]})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(r.body["data"]["user"]["is_verified"], json!(true));
    let (access, _) = app.login(EMAIL, PASSWORD).await;
    let me = app.get(ME, Some(&access)).await;
    assert_envelope(&me.body, true);
    assert_eq!(me.body["data"]["user"]["is_verified"], json!(true), "stored");
}

#[tokio::test]
async fn a_phone_account_verifies_with_its_number_in_any_format() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(None, Some(PHONE), PASSWORD).await;

    // Act
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": "+1 (415) 555-2671", "otp": data["otp"]})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(r.body["data"]["user"]["is_verified"], json!(true));
}

#[tokio::test]
async fn a_wrong_code_is_a_400_on_otp() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(Some(EMAIL), None, PASSWORD).await;
    let code = text(&data["otp"]);

    for wrong in [other_than(&code), "12345".into(), "abcdef".into(), format!("{code}0")] {
        // Act
        let r = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": wrong})).await;

        // Assert
        assert_field_error(&r, "otp");
    }
}

#[tokio::test]
async fn a_wrong_code_for_an_account_already_verified_is_a_400_and_reveals_nothing() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(Some(EMAIL), Some(PHONE), PASSWORD).await;
    let code = text(&data["otp"]);
    let verified = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": code})).await;
    assert_envelope(&verified.body, true);

    // Act
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": other_than(&code)})).await;

    // Assert
    assert_field_error(&r, "otp");
    assert!(!r.body.to_string().contains(PHONE), "the account leaked: {}", r.body);
}

#[tokio::test]
async fn verify_for_an_unknown_account_is_a_400_on_otp() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": "nobody@example.com", "otp": "123456"})).await;

    // Assert
    assert_field_error(&r, "otp");
}

#[tokio::test]
async fn verify_without_fields_is_a_400_naming_each() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let r = app.post(VERIFY_OTP, &json!({})).await;

    // Assert
    assert_field_error(&r, "otp");
    assert_eq!(r.error_fields(), ["email_or_phone", "otp"], "{}", r.body);
}

#[tokio::test]
async fn after_five_wrong_attempts_even_the_right_code_fails() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(Some(EMAIL), None, PASSWORD).await;
    let code = text(&data["otp"]);
    for _ in 0..5 {
        let r = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": other_than(&code)})).await;
        assert_field_error(&r, "otp");
    }

    // Act
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": code})).await;

    // Assert
    assert_field_error(&r, "otp");
}

#[tokio::test]
async fn four_wrong_attempts_still_leave_the_right_code_usable() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(Some(EMAIL), None, PASSWORD).await;
    let code = text(&data["otp"]);
    for _ in 0..4 {
        let r = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": other_than(&code)})).await;
        assert_field_error(&r, "otp");
    }

    // Act
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": code})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
}

#[tokio::test]
async fn an_expired_code_is_a_400_on_otp() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(Some(EMAIL), None, PASSWORD).await;
    app.expire_otps(&text(&data["user"]["id"])).await;

    // Act
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": data["otp"]})).await;

    // Assert
    assert_field_error(&r, "otp");
}

#[tokio::test]
async fn resend_sends_nothing_to_an_account_already_verified() {
    // Arrange: verified, so a resend sends nothing new.
    let app = spawn_app().await;
    let email = unique_email();
    let data = app.register(Some(&email), None, PASSWORD).await;
    let verified = app.post(VERIFY_OTP, &json!({"email_or_phone": email, "otp": data["otp"]})).await;
    assert_envelope(&verified.body, true);

    // Act
    let r = app.post(RESEND_OTP, &json!({ "email_or_phone": email })).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    wait_for_messages(&email, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(messages_to(&email).len(), 1, "only the registration code was sent");
}

#[tokio::test]
async fn registration_sends_the_code_by_sms_when_a_phone_was_given_else_by_email() {
    // Arrange
    let app = spawn_app().await;
    let (email_only, both) = (unique_email(), unique_email());
    let phone = "+447911123456";

    // Act
    let by_email = app.register(Some(&email_only), None, PASSWORD).await;
    let by_sms = app.register(Some(&both), Some(phone), PASSWORD).await;

    // Assert
    let mail = wait_for_messages(&email_only, 1).await;
    assert_eq!(mail[0].channel, "email");
    assert!(mail[0].body.contains(&text(&by_email["otp"])), "{mail:?}");
    let sms_code = text(&by_sms["otp"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !messages_to(phone).iter().any(|m| m.body.contains(&sms_code)) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sms = messages_to(phone);
    assert!(sms.iter().any(|m| m.channel == "sms" && m.body.contains(&sms_code)), "{sms:?}");
    assert!(messages_to(&both).is_empty(), "a phone was given: no email");
    assert_eq!(messages_to(&email_only).len(), 1, "{mail:?}");
}

#[tokio::test]
async fn resend_replaces_the_old_code() {
    // Arrange
    let app = spawn_app().await;
    let email = unique_email();
    let data = app.register(Some(&email), None, PASSWORD).await;
    let old = text(&data["otp"]);

    // Act
    let r = app.post(RESEND_OTP, &json!({ "email_or_phone": email })).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(code_sent_to(&email, 1).await, old, "the first message has the registration code");
    let new = code_sent_to(&email, 2).await;
    if new != old {
        let with_old = app.post(VERIFY_OTP, &json!({"email_or_phone": email, "otp": old})).await;
        assert_field_error(&with_old, "otp");
    }
    let with_new = app.post(VERIFY_OTP, &json!({"email_or_phone": email, "otp": new})).await;
    assert_eq!(with_new.status, StatusCode::OK, "{}", with_new.body);
    assert_envelope(&with_new.body, true);
}

#[tokio::test]
async fn resend_gives_a_fresh_set_of_attempts() {
    // Arrange
    let app = spawn_app().await;
    let email = unique_email();
    let data = app.register(Some(&email), None, PASSWORD).await;
    for _ in 0..5 {
        let r = app.post(VERIFY_OTP, &json!({"email_or_phone": email, "otp": other_than(&text(&data["otp"]))})).await;
        assert_field_error(&r, "otp");
    }
    let resent = app.post(RESEND_OTP, &json!({ "email_or_phone": email })).await;
    assert_envelope(&resent.body, true);
    let new = code_sent_to(&email, 2).await;

    // Act
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": email, "otp": new})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
}

#[tokio::test]
async fn resend_answers_alike_whether_or_not_the_account_exists() {
    // Arrange
    let app = spawn_app().await;
    app.register(Some(EMAIL), None, PASSWORD).await;

    // Act
    let known = app.post(RESEND_OTP, &json!({ "email_or_phone": EMAIL })).await;
    let unknown = [
        app.post(RESEND_OTP, &json!({"email_or_phone": "nobody@example.com"})).await,
        app.post(RESEND_OTP, &json!({ "email_or_phone": PHONE })).await,
    ];

    // Assert
    assert_eq!(known.status, StatusCode::OK, "{}", known.body);
    assert_envelope(&known.body, true);
    for r in unknown {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
        assert_eq!(r.body, known.body);
    }
}

#[tokio::test]
async fn resend_without_an_identifier_is_a_400() {
    // Arrange
    let app = spawn_app().await;

    for body in [json!({}), json!({"email_or_phone": ""}), json!({"email_or_phone": "not an address"})] {
        // Act
        let r = app.post(RESEND_OTP, &body).await;

        // Assert
        assert_field_error(&r, "email_or_phone");
    }
}
