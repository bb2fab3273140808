//! Contract §15.2–§15.4 with passkeys: a passkey as the second factor of a
//! password sign-in, and an admin's reset removing passkeys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;
use super::mfa::MFA_VERIFY;
use super::passkeys::{MFA_WEBAUTHN_OPTIONS, Passkeyed};

/// The password step: the `mfa_token` and the methods offered.
async fn first_step(t: &Passkeyed) -> (String, Value) {
    let r = t.app.post(LOGIN, &json!({"email_or_phone": t.email, "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (text(&r.body["data"]["mfa_token"]), r.body["data"]["methods"].clone())
}

async fn webauthn_options(t: &Passkeyed, mfa_token: &str) -> Value {
    let r = t.app.post(MFA_WEBAUTHN_OPTIONS, &json!({"mfa_token": mfa_token})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]["publicKey"].clone()
}

async fn verify(t: &Passkeyed, mfa_token: &str, assertion: &Value) -> Reply {
    t.app.post(MFA_VERIFY, &json!({"mfa_token": mfa_token, "webauthn": assertion})).await
}

#[tokio::test]
async fn a_passkey_is_a_second_factor_after_the_password() {
    let mut t = Passkeyed::start().await;
    t.register("Laptop").await;
    let (mfa_token, methods) = first_step(&t).await;
    assert_eq!(methods, json!(["webauthn"]));

    let options = webauthn_options(&t, &mfa_token).await;
    let assertion = t.device.get(&options);
    let r = verify(&t, &mfa_token, &assertion).await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["id"], t.user_id.as_str());
    assert_eq!(t.app.get(ME, Some(&text(&r.body["data"]["access"]))).await.status, StatusCode::OK);
    let events = t.app.audit_events("mfa_verify").await;
    assert_eq!(events.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(), ["success"]);
}

#[tokio::test]
async fn a_replayed_or_foreign_passkey_answer_is_a_400_on_webauthn() {
    let mut t = Passkeyed::start().await;
    t.register("Laptop").await;
    let (mfa_token, _) = first_step(&t).await;
    let options = webauthn_options(&t, &mfa_token).await;
    let assertion = t.device.get(&options);
    let (other_token, _) = first_step(&t).await;

    // An answer to another sign-in's challenge, then that answer again.
    assert_field_error(&verify(&t, &other_token, &assertion).await, "webauthn");
    let r = verify(&t, &mfa_token, &assertion).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_unauthorized(&verify(&t, &mfa_token, &assertion).await, "a spent mfa_token");
    assert_field_error(&t.app.post(MFA_VERIFY, &json!({"mfa_token": other_token, "webauthn": 7})).await, "webauthn");

    assert_unauthorized(&t.app.post(MFA_WEBAUTHN_OPTIONS, &json!({"mfa_token": "nope"})).await, "no mfa_token");
    assert_field_error(&t.app.post(MFA_WEBAUTHN_OPTIONS, &json!({})).await, "mfa_token");
}

#[tokio::test]
async fn an_admin_mfa_reset_removes_passkeys() {
    let mut t = Passkeyed::start().await;
    t.register("Laptop").await;
    let email = unique_email();
    let (admin_id, _, _) = t.app.signed_in(&email).await;
    t.app.make_role(&admin_id, "admin").await;
    let admin = t.app.login(&email, PASSWORD).await.0;
    let path = format!("{ADMIN_USERS}{}/", t.user_id);
    assert_eq!(t.app.get(&path, Some(&admin)).await.body["data"]["user"]["mfa"], json!({"totp": false, "passkeys": 1}));

    let r = t.app.post_as(&admin, &format!("{path}mfa/reset/"), &json!({})).await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["mfa"], json!({"totp": false, "passkeys": 0}));
    let (access, _) = t.app.login(&t.email, PASSWORD).await; // one step again
    let r = t.app.get(super::passkeys::PASSKEYS, Some(&access)).await;
    assert_eq!(r.body["data"]["passkeys"], json!([]));
}
