//! Contract §14.1 with §15.2: a wrong second factor is a failed sign-in of
//! the account's login ids, and the counters reset only once the last
//! factor has passed (a right password alone resets nothing).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;
use super::login_defence::assert_delayed;
use super::mfa::Enrolling;

const WRONG_CODE: &str = "000000";

/// The login with the right password: its reply.
async fn password_step(t: &Enrolling) -> Reply {
    t.app.post(LOGIN, &json!({"email_or_phone": t.email, "password": PASSWORD})).await
}

#[tokio::test]
async fn wrong_second_factors_delay_the_accounts_sign_ins() {
    // Arrange
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let token = t.first_step().await;

    // Act: the fifth wrong code is the account's fifth failure.
    for i in 0..5 {
        assert_eq!(t.verify(&token, json!({"code": WRONG_CODE})).await.status, StatusCode::BAD_REQUEST, "answer {i}");
    }
    let delayed = password_step(&t).await;
    t.clock.advance(Duration::from_secs(assert_delayed(&delayed)));
    let after_the_delay = password_step(&t).await;

    // Assert
    assert_eq!(after_the_delay.status, StatusCode::OK, "{}", after_the_delay.body);
    let fresh = text(&after_the_delay.body["data"]["mfa_token"]);
    let r = t.verify(&fresh, json!({"code": t.next_code(&secret)})).await;
    assert_eq!(r.status, StatusCode::OK, "the owner signs in once the delay is over: {}", r.body);
    assert_eq!(t.app.audit_events("login_delayed").await.len(), 1);
}

#[tokio::test]
async fn a_delayed_account_gets_its_second_factor_refused_unchecked() {
    // Arrange: four wrong codes, and a fifth failure by password.
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let token = t.first_step().await;
    for _ in 0..4 {
        t.verify(&token, json!({"code": WRONG_CODE})).await;
    }
    let wrong = t.app.post(LOGIN, &json!({"email_or_phone": t.email, "password": "not the password"})).await;
    assert_unauthorized(&wrong, "a wrong password");

    // Act: even the right code waits for the delay.
    let r = t.verify(&token, json!({"code": t.code(&secret)})).await;

    // Assert
    assert_delayed(&r);
}

#[tokio::test]
async fn a_right_second_factor_resets_the_count_and_a_right_password_alone_does_not() {
    // Arrange
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let first = t.first_step().await;
    for _ in 0..4 {
        t.verify(&first, json!({"code": WRONG_CODE})).await;
    }

    // Act: the fifth answer is right; then four more wrong ones.
    assert_eq!(t.verify(&first, json!({"code": t.next_code(&secret)})).await.status, StatusCode::OK);
    let second = t.first_step().await;
    for i in 0..4 {
        assert_eq!(t.verify(&second, json!({"code": WRONG_CODE})).await.status, StatusCode::BAD_REQUEST, "answer {i}");
    }
    // Two right passwords between wrong codes still leave the count at 4 + 1.
    let third = t.first_step().await;
    let fifth_failure = t.verify(&third, json!({"code": WRONG_CODE})).await;

    // Assert
    assert_eq!(fifth_failure.status, StatusCode::BAD_REQUEST, "the fifth failure is checked");
    assert_delayed(&password_step(&t).await);
}
