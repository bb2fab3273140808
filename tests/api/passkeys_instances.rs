//! Contract §15.3 across instances: a ceremony begun on one instance is
//! finished on another, both on one database (as `instances.rs`).

use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;
use super::mfa::MFA_VERIFY;
use super::passkeys::{Device, MFA_WEBAUTHN_OPTIONS, PASSKEYS, REGISTER_OPTIONS, REGISTER_PASSKEY};
use super::passkeys_signin::{finish, login_options};

#[tokio::test]
async fn passkey_ceremonies_begun_on_a_are_finished_on_b() {
    let a = spawn_app().await;
    let b = a.spawn_peer(|_| {}).await;
    let email = unique_email();
    let (user_id, access, _) = a.signed_in(&email).await;
    let mut device = Device::new();

    // Registration: options from A, the answer to B.
    let options = a.post_as(&access, REGISTER_OPTIONS, &json!({})).await.body["data"]["publicKey"].clone();
    let credential = device.create(&options);
    let r = b.post_as(&access, REGISTER_PASSKEY, &json!({"credential": credential, "name": "Laptop"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // ...and only once, on either.
    let again = a.post_as(&access, REGISTER_PASSKEY, &json!({"credential": credential, "name": "Laptop"})).await;
    assert_field_error(&again, "credential");

    // Passwordless sign-in: options from B, the answer to A.
    let (options, ceremony) = login_options(&b, json!({"email_or_phone": email})).await;
    let assertion = device.get(&options);
    let r = finish(&a, &ceremony, &assertion).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_field_error(&finish(&b, &ceremony, &assertion).await, "ceremony");

    // Second factor: the password and options on A, the verify on B.
    let r = a.post(LOGIN, &json!({"email_or_phone": email, "password": PASSWORD})).await;
    let mfa_token = text(&r.body["data"]["mfa_token"]);
    let options =
        a.post(MFA_WEBAUTHN_OPTIONS, &json!({"mfa_token": mfa_token})).await.body["data"]["publicKey"].clone();
    let r = b.post(MFA_VERIFY, &json!({"mfa_token": mfa_token, "webauthn": device.get(&options)})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["id"], user_id.as_str());
    assert_eq!(b.get(PASSKEYS, Some(&access)).await.body["data"]["passkeys"].as_array().map(Vec::len), Some(1));
}
