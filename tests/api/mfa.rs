//! Contract §15.1–§15.2: TOTP enrolment, recovery codes and signing in
//! with a second factor.

use std::time::Duration;

use authgate::domain::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

pub const MFA: &str = "/api/v1/auth/mfa/";
pub const TOTP_SETUP: &str = "/api/v1/auth/mfa/totp/setup/";
pub const TOTP_CONFIRM: &str = "/api/v1/auth/mfa/totp/confirm/";
pub const TOTP_DISABLE: &str = "/api/v1/auth/mfa/totp/disable/";
pub const RECOVERY_CODES: &str = "/api/v1/auth/mfa/recovery-codes/";
pub const MFA_VERIFY: &str = "/api/v1/auth/mfa/verify/";

/// A server on a clock the test moves, and one account on it.
pub struct Enrolling {
    pub app: TestApp,
    pub clock: Clock,
    pub email: String,
    pub user_id: String,
    pub access: String,
}

impl Enrolling {
    pub async fn start() -> Enrolling {
        Enrolling::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut authgate::Config)) -> Enrolling {
        let clock = Clock::manual();
        let app = spawn_app_with(|c| {
            c.clock = clock.clone();
            configure(c);
        })
        .await;
        let email = unique_email();
        let (user_id, access, _) = app.signed_in(&email).await;
        Enrolling { app, clock, email, user_id, access }
    }

    /// The code the authenticator shows now.
    pub fn code(&self, secret: &str) -> String {
        authgate::testing::totp_code(secret, self.clock.unix()).expect("a valid secret")
    }

    /// The next step's code, as a user typing after the last one was used.
    pub fn next_code(&self, secret: &str) -> String {
        self.clock.advance(Duration::from_secs(30));
        self.code(secret)
    }

    /// Sets TOTP up and confirms it: `(secret, recovery codes)`.
    pub async fn enrol(&self) -> (String, Vec<String>) {
        let r = self.app.post_as(&self.access, TOTP_SETUP, &json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let secret = text(&r.body["data"]["secret"]);
        let r = self.app.post_as(&self.access, TOTP_CONFIRM, &json!({"code": self.code(&secret)})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let codes = r.body["data"]["recovery_codes"].as_array().expect("codes").iter().map(text).collect();
        (secret, codes)
    }

    /// A right password: the `mfa_token` of the second step.
    pub async fn first_step(&self) -> String {
        let r = self.app.post(LOGIN, &json!({"email_or_phone": self.email, "password": PASSWORD})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        text(&r.body["data"]["mfa_token"])
    }

    pub async fn verify(&self, token: &str, answer: Value) -> Reply {
        let mut body = answer;
        body["mfa_token"] = json!(token);
        self.app.post(MFA_VERIFY, &body).await
    }
}

#[tokio::test]
async fn enrolment_shows_the_secret_its_key_uri_and_a_qr_code_then_confirms_with_a_code() {
    let t = Enrolling::start().await;
    let r = t.app.post_as(&t.access, TOTP_SETUP, &json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let data = &r.body["data"];
    let secret = text(&data["secret"]);
    assert!(secret.len() >= 32, "160 bits in base32 is 32 characters: {secret}");
    assert_eq!(
        text(&data["otpauth_uri"]),
        format!("otpauth://totp/authgate:{}?secret={secret}&issuer=authgate", t.email)
    );
    assert!(text(&data["qr_svg"]).contains("<svg"), "{}", data["qr_svg"]);
    assert_eq!(t.app.get(MFA, Some(&t.access)).await.body["data"]["totp"], json!(false), "pending until confirmed");

    let wrong = t.app.post_as(&t.access, TOTP_CONFIRM, &json!({"code": "000000"})).await;
    assert_field_error(&wrong, "code");
    let r = t.app.post_as(&t.access, TOTP_CONFIRM, &json!({"code": t.code(&secret)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let codes: Vec<String> = r.body["data"]["recovery_codes"].as_array().unwrap().iter().map(text).collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 9 && c.as_bytes()[4] == b'-'), "{codes:?}");

    let status = t.app.get(MFA, Some(&t.access)).await;
    assert_eq!(status.body["data"], json!({"totp": true, "recovery_codes_left": 10, "passkeys": []}));
    let again = t.app.post_as(&t.access, TOTP_SETUP, &json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(t.app.audit_events("mfa_enabled").await.len(), 1);
}

#[tokio::test]
async fn a_new_setup_replaces_a_pending_one() {
    let t = Enrolling::start().await;
    let first = text(&t.app.post_as(&t.access, TOTP_SETUP, &json!({})).await.body["data"]["secret"]);
    let second = text(&t.app.post_as(&t.access, TOTP_SETUP, &json!({})).await.body["data"]["secret"]);
    assert_ne!(first, second);
    let old = t.app.post_as(&t.access, TOTP_CONFIRM, &json!({"code": t.code(&first)})).await;
    assert_field_error(&old, "code");
    let new = t.app.post_as(&t.access, TOTP_CONFIRM, &json!({"code": t.code(&second)})).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
}

#[tokio::test]
async fn with_totp_a_login_answers_mfa_required_and_verify_answers_the_pair() {
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let r = t.app.post(LOGIN, &json!({"email_or_phone": t.email, "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let data = r.body["data"].as_object().expect("data");
    assert_eq!(data.keys().collect::<Vec<_>>(), ["mfa_required", "mfa_token", "methods"], "exactly three keys");
    assert_eq!(data["methods"], json!(["totp", "recovery_code"]));
    let token = text(&data["mfa_token"]);

    // The mfa_token is no access or refresh token.
    assert_unauthorized(&t.app.get(ME, Some(&token)).await, "an mfa_token as Bearer");
    assert_eq!(t.app.refresh(&token).await.status, StatusCode::UNAUTHORIZED);

    let r = t.verify(&token, json!({"code": t.next_code(&secret)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(text(&r.body["data"]["user"]["email"]), t.email);
    let me = t.app.get(ME, Some(&text(&r.body["data"]["access"]))).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(t.app.refresh(&text(&r.body["data"]["refresh"])).await.status, StatusCode::OK);

    // One successful verify per mfa_token.
    let again = t.verify(&token, json!({"code": t.next_code(&secret)})).await;
    assert_unauthorized(&again, "a spent mfa_token");
    let events = t.app.audit_events("mfa_verify").await;
    assert_eq!(events.iter().filter(|e| e.outcome == "success").count(), 1);
}

#[tokio::test]
async fn a_totp_code_is_accepted_once_and_codes_of_earlier_steps_never() {
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let code = t.next_code(&secret);
    let first = t.first_step().await;
    assert_eq!(t.verify(&first, json!({"code": code})).await.status, StatusCode::OK);

    let second = t.first_step().await;
    assert_field_error(&t.verify(&second, json!({"code": code})).await, "code");
    // The previous step's code is within the ±1 window but came before.
    let earlier = authgate::testing::totp_code(&secret, t.clock.unix() - 30).unwrap();
    assert_field_error(&t.verify(&second, json!({"code": earlier})).await, "code");
    assert_eq!(t.verify(&second, json!({"code": t.next_code(&secret)})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn five_wrong_answers_kill_the_mfa_token() {
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let token = t.first_step().await;
    for i in 0..5 {
        let r = t.verify(&token, json!({"code": "000000"})).await;
        assert_field_error(&r, "code");
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "answer {i}");
    }
    let r = t.verify(&token, json!({"code": t.next_code(&secret)})).await;
    assert_unauthorized(&r, "a killed mfa_token");
    assert_eq!(t.app.audit_events("mfa_verify").await.iter().filter(|e| e.outcome == "failure").count(), 5);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let t = Enrolling::start().await;
    let (_, codes) = t.enrol().await;
    let token = t.first_step().await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    let r = t.verify(&token, json!({"recovery_code": typed})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let access = text(&r.body["data"]["access"]);
    assert_eq!(t.app.get(MFA, Some(&access)).await.body["data"]["recovery_codes_left"], json!(9));

    let token = t.first_step().await;
    assert_field_error(&t.verify(&token, json!({"recovery_code": codes[3]})).await, "recovery_code");
    assert_eq!(t.app.audit_events("recovery_code_used").await.len(), 1);
}

#[tokio::test]
async fn verify_refuses_malformed_bodies_and_foreign_tokens_with_a_4xx() {
    let t = Enrolling::start().await;
    t.enrol().await;
    let token = t.first_step().await;
    assert_field_error(&t.app.post(MFA_VERIFY, &json!({"code": "123456"})).await, "mfa_token");
    assert_field_error(&t.verify(&token, json!({})).await, "code");
    let both = t.verify(&token, json!({"code": "123456", "recovery_code": "abcd-efgh"})).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.body);
    // An access token is not an mfa_token.
    let r = t.verify(&t.access, json!({"code": "123456"})).await;
    assert_unauthorized(&r, "an access token as mfa_token");
    assert_unauthorized(&t.verify("not.a.jwt", json!({"code": "123456"})).await, "garbage");
}

#[tokio::test]
async fn the_mfa_token_expires_after_five_minutes() {
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let token = t.first_step().await;
    t.clock.advance(Duration::from_secs(301));
    assert_unauthorized(&t.verify(&token, json!({"code": t.code(&secret)})).await, "an expired mfa_token");
}

#[tokio::test]
async fn disabling_takes_the_password_and_a_code_and_sign_in_is_one_step_again() {
    let t = Enrolling::start().await;
    let (secret, codes) = t.enrol().await;
    let wrong =
        t.app.post_as(&t.access, TOTP_DISABLE, &json!({"password": "wrong password 1", "code": t.code(&secret)})).await;
    assert_field_error(&wrong, "password");
    let bad_code = t.app.post_as(&t.access, TOTP_DISABLE, &json!({"password": PASSWORD, "code": "000000"})).await;
    assert_field_error(&bad_code, "code");
    let r = t.app.post_as(&t.access, TOTP_DISABLE, &json!({"password": PASSWORD, "code": codes[0]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        t.app.get(MFA, Some(&t.access)).await.body["data"],
        json!({"totp": false, "recovery_codes_left": 0, "passkeys": []})
    );
    t.app.login(&t.email, PASSWORD).await; // the pair at once
    assert_eq!(t.app.audit_events("mfa_disabled").await.len(), 1);
}

#[tokio::test]
async fn regenerated_recovery_codes_replace_the_old_ones() {
    let t = Enrolling::start().await;
    let (_, old) = t.enrol().await;
    assert_field_error(
        &t.app.post_as(&t.access, RECOVERY_CODES, &json!({"password": "wrong password 1"})).await,
        "password",
    );
    let r = t.app.post_as(&t.access, RECOVERY_CODES, &json!({"password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new: Vec<String> = r.body["data"]["recovery_codes"].as_array().unwrap().iter().map(text).collect();
    assert_eq!(new.len(), 10);
    let token = t.first_step().await;
    assert_field_error(&t.verify(&token, json!({"recovery_code": old[0]})).await, "recovery_code");
    assert_eq!(t.verify(&token, json!({"recovery_code": new[0]})).await.status, StatusCode::OK);
    assert_eq!(t.app.audit_events("recovery_codes_regenerated").await.len(), 1);
}

#[tokio::test]
async fn without_totp_recovery_codes_cannot_be_made() {
    let t = Enrolling::start().await;
    let r = t.app.post_as(&t.access, RECOVERY_CODES, &json!({"password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn a_password_change_ends_the_sign_ins_waiting_for_their_second_factor() {
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let pending = t.first_step().await;
    let change = json!({"current_password": PASSWORD, "new_password": "another long passphrase 7"});
    let r = t.app.post_as(&t.access, CHANGE_PASSWORD, &change).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_unauthorized(
        &t.verify(&pending, json!({"code": t.next_code(&secret)})).await,
        "an mfa_token of the old password",
    );
}

/// The secret at rest is sealed with the server's key (a copy of the
/// database alone makes no codes); one stored in the clear before secrets
/// were sealed still works.
#[tokio::test]
async fn the_totp_secret_is_sealed_at_rest_and_a_clear_one_from_before_still_works() {
    let t = Enrolling::start().await;
    let (secret, _) = t.enrol().await;
    let stored = t.app.query_rows("SELECT secret FROM mfa_totp WHERE user_id = $1", &[&t.user_id]).await;
    let stored = stored.into_iter().next().and_then(|mut r| r.remove(0)).expect("a stored secret");
    assert!(!stored.contains(&secret), "the secret is not stored in the clear");

    t.app.sql("UPDATE mfa_totp SET secret = $1 WHERE user_id = $2", &[&secret, &t.user_id]).await;

    let token = t.first_step().await;
    let r = t.verify(&token, json!({"code": t.next_code(&secret)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
