//! The native flow (§16): an ID token, or a code with its PKCE verifier;
//! the account rules; every forged or stale proof refused, with no account
//! made and never a 5xx; §15.2 after a social sign-in.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_first_sign_in_creates_a_verified_client_without_a_password() {
    let (app, _) = social_app().await;
    let data = signed_in_with(&app, "alice").await;
    let user = &data["user"];
    assert!(data["access"].is_string() && data["refresh"].is_string(), "{data}");
    assert_eq!(user["email"], json!("alice@example.com"));
    assert_eq!(user["auth_provider"], json!("corp"));
    assert_eq!(user["role"], json!("client"));
    assert_eq!(user["is_verified"], json!(true));
    assert_eq!((user["first_name"].as_str(), user["last_name"].as_str()), (Some("Alice"), Some("Tester")));
    // No usable password: a password sign-in answers as a wrong one would.
    let r = app.post(LOGIN, &json!({"email_or_phone": "alice@example.com", "password": PASSWORD})).await;
    assert_unauthorized(&r, "a password sign-in of a social account");
    assert_eq!(r.message(), "Invalid credentials.");
    let logins = app.audit_events("social_login").await;
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!((logins[0].outcome.as_str(), &logins[0].detail["provider"]), ("success", &json!("corp")));
    assert_eq!(app.audit_events("register").await.len(), 1);
}

#[tokio::test]
async fn a_second_sign_in_signs_in_the_same_user_with_a_token_or_a_code() {
    let (app, _) = social_app().await;
    let first = signed_in_with(&app, "alice").await;
    let again = signed_in_with(&app, "alice").await;
    assert_eq!(first["user"]["id"], again["user"]["id"]);
    // A code the app obtained with PKCE, redeemed by authgate.
    let (verifier, challenge) = pkce();
    let code = provider_code("authgate", "alice", "n-2", &challenge).await;
    let body = json!({"code": code, "code_verifier": verifier, "redirect_uri": NATIVE_REDIRECT, "nonce": "n-2"});
    let r = app.post(&social_path("corp"), &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["id"], first["user"]["id"]);
    // The provider's code works once.
    let r = app.post(&social_path("corp"), &body).await;
    assert_field_error(&r, "code");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn a_verified_email_links_to_the_verified_account_that_has_it() {
    let (app, _) = social_app().await;
    let data = app.register(Some("alice@example.com"), None, PASSWORD).await;
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": "alice@example.com", "otp": data["otp"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let signed_in = signed_in_with(&app, "alice").await;
    assert_eq!(signed_in["user"]["id"], data["user"]["id"]);
    assert_eq!(signed_in["user"]["auth_provider"], json!("email"), "the account stays what it was");
    assert_eq!(app.audit_events("social_linked").await.len(), 1);
    // The password still signs in too.
    app.login("alice@example.com", PASSWORD).await;
}

#[tokio::test]
async fn an_email_that_may_not_link_is_a_409_and_no_email_a_400() {
    let (app, _) = social_app().await;
    // An unverified account with the provider's verified email.
    app.register(Some("bob@example.com"), None, PASSWORD).await;
    let token = id_token("bob", "n").await;
    let r = app.post(&social_path("corp"), &json!({"id_token": token})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_envelope(&r.body, false);
    let said = r.body["errors"]["non_field_errors"][0].as_str().unwrap_or_default();
    assert_eq!(said, "An account with this email exists; sign in with your password to link it.");
    // A verified account, but an email the provider does not vouch for.
    let data = app.register(Some("carol@example.com"), None, PASSWORD).await;
    app.post(VERIFY_OTP, &json!({"email_or_phone": "carol@example.com", "otp": data["otp"]})).await;
    let token = id_token("unverified:carol", "n").await;
    let r = app.post(&social_path("corp"), &json!({"id_token": token})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // No email at all.
    let token = id_token("noemail:dan", "n").await;
    let r = app.post(&social_path("corp"), &json!({"id_token": token})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.message(), "The provider did not share an email address.");
    assert_eq!(user_count(&app).await, 2, "no account was made");
    assert!(app.audit_events("social_linked").await.is_empty());
}

#[tokio::test]
async fn forged_foreign_stale_or_replayed_tokens_are_refused() {
    let (app, clock) = social_app().await;
    let path = social_path("corp");
    let token = id_token("alice", "n-1").await;
    let parts: Vec<&str> = token.split('.').collect();
    // A payload changed after signing (another subject).
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).expect("claims");
    claims["sub"] = json!("mallory");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    let other_audience = id_token_for("other", "alice", "n-1").await;
    for (body, what) in [
        (json!({"id_token": tampered}), "a tampered token"),
        (json!({"id_token": other_audience}), "another client's token"),
        (json!({"id_token": token, "nonce": "another"}), "another nonce"),
        (json!({"id_token": "not.a.jwt"}), "garbage"),
    ] {
        let r = app.post(&path, &body).await;
        assert_unauthorized(&r, what);
        assert_eq!(r.message(), "Invalid ID token.", "{what}");
    }
    clock.advance(Duration::from_secs(2 * 3600));
    let r = app.post(&path, &json!({"id_token": token, "nonce": "n-1"})).await;
    assert_unauthorized(&r, "an expired token");
    let r = app.post(&path, &json!({"code": "made-up", "code_verifier": "v", "redirect_uri": NATIVE_REDIRECT})).await;
    assert_field_error(&r, "code");
    let r = app.post(&path, &json!({"code": "c"})).await;
    assert_field_error(&r, "code_verifier");
    let r = app.post(&path, &json!({})).await;
    assert_field_error(&r, "id_token");
    let r = app.post(&social_path("nowhere"), &json!({"id_token": token})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(user_count(&app).await, 0, "no account was made");
    let refused = app.audit_events("social_login").await;
    assert!(refused.len() >= 6 && refused.iter().all(|e| e.outcome == "failure"), "{refused:?}");
}

#[tokio::test]
async fn an_account_with_a_second_factor_answers_mfa_required() {
    let (app, clock) = social_app().await;
    let data = signed_in_with(&app, "alice").await;
    let access = text(&data["access"]);
    let r = app.post_as(&access, "/api/v1/auth/mfa/totp/setup/", &json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let secret = text(&r.body["data"]["secret"]);
    let code = authgate::testing::totp_code(&secret, clock.unix()).unwrap();
    let r = app.post_as(&access, "/api/v1/auth/mfa/totp/confirm/", &json!({"code": code})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = id_token("alice", "n").await;
    let r = app.post(&social_path("corp"), &json!({"id_token": token})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let data = r.body["data"].as_object().expect("data");
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["methods", "mfa_required", "mfa_token"], "{}", r.body);
    assert_eq!(data["methods"], json!(["totp", "recovery_code"]));
    // The second step finishes it, as after a password.
    clock.advance(Duration::from_secs(30));
    let code = authgate::testing::totp_code(&secret, clock.unix()).unwrap();
    let r = app.post("/api/v1/auth/mfa/verify/", &json!({"mfa_token": data["mfa_token"], "code": code})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["data"]["access"].is_string());
}
