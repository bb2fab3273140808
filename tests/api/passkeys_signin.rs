//! Contract §15.3: passwordless sign-in with a passkey, by login id and
//! with a discoverable credential; its one-time challenge, origin and
//! signature counter.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;
use super::passkeys::{Device, LOGIN_OPTIONS, PASSKEY_LOGIN, Passkeyed};

/// The options of a sign-in: `(publicKey, ceremony)`.
pub async fn login_options(app: &TestApp, body: Value) -> (Value, String) {
    let r = app.post(LOGIN_OPTIONS, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let keys: Vec<&str> = r.body["data"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["publicKey", "ceremony"]);
    (r.body["data"]["publicKey"].clone(), text(&r.body["data"]["ceremony"]))
}

pub async fn finish(app: &TestApp, ceremony: &str, credential: &Value) -> Reply {
    app.post(PASSKEY_LOGIN, &json!({"ceremony": ceremony, "credential": credential})).await
}

/// What a discoverable credential adds to its answer: the user handle the
/// registration gave it (the user's id). The soft passkey keeps none, and
/// it needs its credential named: the test plays the browser's part.
fn discoverable(device: &mut Device, public_key: &Value, credential_id: &str, user_id: &str) -> Value {
    let mut options = public_key.clone();
    options["allowCredentials"] = json!([{"type": "public-key", "id": credential_id}]);
    let mut credential = device.get(&options);
    let uuid = uuid::Uuid::parse_str(user_id).expect("a user id");
    credential["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(uuid.as_bytes()));
    credential
}

fn assert_signed_in(r: &Reply, user_id: &str) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["data"]["access"].is_string() && r.body["data"]["refresh"].is_string(), "{}", r.body);
    assert_eq!(r.body["data"]["user"]["id"], user_id);
}

#[tokio::test]
async fn a_passkey_signs_in_by_login_id() {
    let mut t = Passkeyed::start().await;
    let (_, credential_id) = t.register("Laptop").await;
    let (options, ceremony) = login_options(&t.app, json!({"email_or_phone": t.email})).await;
    assert_eq!(options["allowCredentials"][0]["id"], credential_id.as_str(), "{options}");
    assert_eq!(options["userVerification"], "required");

    let r = finish(&t.app, &ceremony, &t.device.get(&options)).await;

    assert_signed_in(&r, &t.user_id);
    assert_eq!(t.app.get(ME, Some(&text(&r.body["data"]["access"]))).await.status, StatusCode::OK);
    assert!(t.passkeys().await[0]["last_used_at"].is_string());
    assert_eq!(t.app.audit_events("login").await.len(), 2, "the password sign-in and the passkey's");
}

#[tokio::test]
async fn a_discoverable_passkey_signs_in_without_a_login_id() {
    let mut t = Passkeyed::start().await;
    let (_, credential_id) = t.register("Phone").await;
    let (options, ceremony) = login_options(&t.app, json!({})).await;
    assert_eq!(options.get("allowCredentials").cloned().unwrap_or(json!([])), json!([]), "{options}");

    let credential = discoverable(&mut t.device, &options, &credential_id, &t.user_id);
    assert_signed_in(&finish(&t.app, &ceremony, &credential).await, &t.user_id);

    // A user handle naming someone else is no sign-in.
    let (other, _, _) = t.app.signed_in(&unique_email()).await;
    let (options, ceremony) = login_options(&t.app, json!({})).await;
    let credential = discoverable(&mut t.device, &options, &credential_id, &other);
    assert_unauthorized(&finish(&t.app, &ceremony, &credential).await, "a user handle of another account");
}

#[tokio::test]
async fn an_unknown_login_id_gets_the_same_shape_every_time() {
    let t = Passkeyed::start().await;
    let (first, _) = login_options(&t.app, json!({"email_or_phone": "nobody@example.com"})).await;
    let (again, _) = login_options(&t.app, json!({"email_or_phone": "nobody@example.com"})).await;
    let listed = first["allowCredentials"].as_array().expect("allowCredentials");
    assert_eq!(listed.len(), 1, "{first}");
    assert_eq!(first["allowCredentials"], again["allowCredentials"]);
    // An account without passkeys looks the same.
    let (none, _) = login_options(&t.app, json!({"email_or_phone": t.email})).await;
    assert_eq!(none["allowCredentials"].as_array().map(Vec::len), Some(1), "{none}");
}

#[tokio::test]
async fn a_sign_in_challenge_works_once_and_for_five_minutes() {
    let mut t = Passkeyed::start().await;
    t.register("Laptop").await;
    let (options, ceremony) = login_options(&t.app, json!({"email_or_phone": t.email})).await;
    let credential = t.device.get(&options);
    assert_signed_in(&finish(&t.app, &ceremony, &credential).await, &t.user_id);

    assert_field_error(&finish(&t.app, &ceremony, &credential).await, "ceremony");

    let (options, ceremony) = login_options(&t.app, json!({"email_or_phone": t.email})).await;
    let late = t.device.get(&options);
    t.clock.advance(std::time::Duration::from_secs(301));
    assert_field_error(&finish(&t.app, &ceremony, &late).await, "ceremony");
}

#[tokio::test]
async fn a_sign_in_from_another_origin_is_refused() {
    let mut t = Passkeyed::start().await;
    t.register("Laptop").await;
    let (options, ceremony) = login_options(&t.app, json!({"email_or_phone": t.email})).await;
    t.device.move_to("http://localhost:9999"); // a look-alike site relaying the challenge

    assert_field_error(&finish(&t.app, &ceremony, &t.device.get(&options)).await, "credential");
}

#[tokio::test]
async fn a_signature_counter_that_goes_backwards_is_refused_and_audited() {
    let mut t = Passkeyed::start().await;
    t.register("Laptop").await;
    // Two sign-ins begun; the authenticator's counter grows with each
    // signature, so the first answer carries the lower counter, as a copy
    // of the key would.
    let (first_options, first) = login_options(&t.app, json!({"email_or_phone": t.email})).await;
    let (second_options, second) = login_options(&t.app, json!({"email_or_phone": t.email})).await;
    let older = t.device.get(&first_options);
    let newer = t.device.get(&second_options);
    assert_signed_in(&finish(&t.app, &second, &newer).await, &t.user_id);

    let r = finish(&t.app, &first, &older).await;

    assert_field_error(&r, "credential");
    let events = t.app.audit_events("passkey_counter_error").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id.as_deref(), Some(t.user_id.as_str()));
}

#[tokio::test]
async fn an_unknown_credential_is_invalid_credentials() {
    let mut t = Passkeyed::start().await;
    t.register("Laptop").await;
    // A credential the server never registered (its registration never
    // finished) answering a discoverable sign-in.
    let mut stranger = Device::new();
    let unregistered = stranger.create(&t.registration_options().await);
    let (options, ceremony) = login_options(&t.app, json!({})).await;
    let credential = discoverable(&mut stranger, &options, &text(&unregistered["id"]), &t.user_id);
    let r = finish(&t.app, &ceremony, &credential).await;
    assert_unauthorized(&r, "an unregistered credential");
    assert_eq!(r.message(), "Invalid credentials.");

    let (_, ceremony) = login_options(&t.app, json!({})).await;
    assert_field_error(&finish(&t.app, &ceremony, &json!({"id": 1})).await, "credential");
}
