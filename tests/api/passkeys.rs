//! Contract §15.3: registering passkeys and managing one's own, driven by
//! a software authenticator (webauthn-authenticator-rs's soft passkey)
//! speaking to the real server over HTTP.

use std::time::Duration;

use authgate::domain::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use super::helpers::*;
use super::mfa::MFA;

pub const PASSKEYS: &str = "/api/v1/auth/passkeys/";
pub const REGISTER_OPTIONS: &str = "/api/v1/auth/passkeys/register/options/";
pub const REGISTER_PASSKEY: &str = "/api/v1/auth/passkeys/register/";
pub const LOGIN_OPTIONS: &str = "/api/v1/auth/passkeys/login/options/";
pub const PASSKEY_LOGIN: &str = "/api/v1/auth/passkeys/login/";
pub const MFA_WEBAUTHN_OPTIONS: &str = "/api/v1/auth/mfa/webauthn/options/";
/// The default relying party of a test server (§10: `localhost`, port 8000).
pub const ORIGIN: &str = "http://localhost:8000";

/// An authenticator in a browser at `origin`.
pub struct Device {
    key: SoftPasskey,
    origin: Url,
}

impl Default for Device {
    /// A platform authenticator that verifies its user (a fingerprint, a
    /// PIN), in a browser on the default origin.
    fn default() -> Device {
        Device::at(ORIGIN)
    }
}

impl Device {
    pub fn new() -> Device {
        Device::default()
    }

    pub fn at(origin: &str) -> Device {
        Device { key: SoftPasskey::new(true), origin: Url::parse(origin).expect("an origin") }
    }

    /// The same authenticator, used on another site.
    pub fn move_to(&mut self, origin: &str) {
        self.origin = Url::parse(origin).expect("an origin");
    }

    /// `navigator.credentials.create` with the server's `publicKey`.
    pub fn create(&mut self, public_key: &Value) -> Value {
        let options: CreationChallengeResponse =
            serde_json::from_value(json!({"publicKey": public_key})).expect("creation options");
        let credential = self.key.do_registration(self.origin.clone(), options).expect("the authenticator registers");
        serde_json::to_value(credential).expect("JSON")
    }

    /// `navigator.credentials.get` with the server's `publicKey`.
    pub fn get(&mut self, public_key: &Value) -> Value {
        let options: RequestChallengeResponse =
            serde_json::from_value(json!({"publicKey": public_key})).expect("request options");
        let credential = self.key.do_authentication(self.origin.clone(), options).expect("the authenticator signs");
        serde_json::to_value(credential).expect("JSON")
    }
}

/// A server on a clock the test moves, one account on it, and its device.
pub struct Passkeyed {
    pub app: TestApp,
    pub clock: Clock,
    pub email: String,
    pub user_id: String,
    pub access: String,
    pub device: Device,
}

impl Passkeyed {
    pub async fn start() -> Passkeyed {
        Passkeyed::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut authgate::Config)) -> Passkeyed {
        let clock = Clock::manual();
        let app = spawn_app_with(|c| {
            c.clock = clock.clone();
            configure(c);
        })
        .await;
        let email = unique_email();
        let (user_id, access, _) = app.signed_in(&email).await;
        Passkeyed { app, clock, email, user_id, access, device: Device::new() }
    }

    pub async fn registration_options(&self) -> Value {
        let r = self.app.post_as(&self.access, REGISTER_OPTIONS, &json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["data"]["publicKey"].clone()
    }

    /// Registers the device's new passkey: `(passkey, credential id)`.
    pub async fn register(&mut self, name: &str) -> (Value, String) {
        let options = self.registration_options().await;
        let credential = self.device.create(&options);
        let r = self.finish_registration(&credential, name).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (r.body["data"]["passkey"].clone(), text(&credential["id"]))
    }

    pub async fn finish_registration(&self, credential: &Value, name: &str) -> Reply {
        self.app.post_as(&self.access, REGISTER_PASSKEY, &json!({"credential": credential, "name": name})).await
    }

    pub async fn passkeys(&self) -> Vec<Value> {
        let r = self.app.get(PASSKEYS, Some(&self.access)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["data"]["passkeys"].as_array().expect("a list").clone()
    }
}

#[tokio::test]
async fn a_passkey_is_registered_listed_renamed_and_deleted() {
    let mut t = Passkeyed::start().await;
    let options = t.registration_options().await;
    assert_eq!(options["rp"]["id"], "localhost");
    assert!(options["challenge"].as_str().is_some_and(|c| c.len() >= 43), "{options}");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "preferred");

    let credential = t.device.create(&options);
    let r = t.finish_registration(&credential, "Laptop").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let passkey = &r.body["data"]["passkey"];
    assert_eq!(passkey["name"], "Laptop");
    assert_eq!(passkey["last_used_at"], Value::Null);
    let keys: Vec<&str> = passkey.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "name", "created_at", "last_used_at"]);
    assert_eq!(t.passkeys().await, std::slice::from_ref(passkey));
    assert_eq!(t.app.get(MFA, Some(&t.access)).await.body["data"]["passkeys"], json!([passkey]));
    assert_eq!(t.app.audit_events("passkey_added").await.len(), 1);

    let path = format!("{PASSKEYS}{}/", text(&passkey["id"]));
    let r = t.app.patch(&path, Some(&t.access), &json!({"name": "Work laptop"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["passkey"]["name"], "Work laptop");
    assert_field_error(&t.app.patch(&path, Some(&t.access), &json!({"name": " "})).await, "name");

    let r = t.app.delete(&path, Some(&t.access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(t.passkeys().await.is_empty());
    assert_eq!(t.app.audit_events("passkey_removed").await.len(), 1);
    assert_eq!(t.app.delete(&path, Some(&t.access)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_ones_own_passkeys_can_be_renamed_or_deleted() {
    let mut t = Passkeyed::start().await;
    let (passkey, _) = t.register("Phone").await;
    let (_, other, _) = t.app.signed_in(&unique_email()).await;
    let path = format!("{PASSKEYS}{}/", text(&passkey["id"]));

    assert_eq!(t.app.patch(&path, Some(&other), &json!({"name": "Mine"})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.app.delete(&path, Some(&other)).await.status, StatusCode::NOT_FOUND);
    let unknown = format!("{PASSKEYS}00000000-0000-7000-8000-000000000000/");
    assert_eq!(t.app.delete(&unknown, Some(&t.access)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.app.delete(&format!("{PASSKEYS}nope/"), Some(&t.access)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.passkeys().await.len(), 1);
    assert_unauthorized(&t.app.send(Method::GET, PASSKEYS, None, None).await, "the list without a token");
}

#[tokio::test]
async fn a_registration_from_another_origin_is_refused() {
    let t = Passkeyed::start().await;
    let options = t.registration_options().await;
    let credential = Device::at("http://localhost:9999").create(&options);

    assert_field_error(&t.finish_registration(&credential, "Phishing").await, "credential");
    assert!(t.passkeys().await.is_empty());
}

#[tokio::test]
async fn a_registration_for_another_rp_id_is_refused() {
    let t = Passkeyed::start_with(|c| {
        c.webauthn.rp_id = "example.com".into();
        c.webauthn.origins = vec!["https://auth.example.com".into()];
    })
    .await;
    let mut options = t.registration_options().await;
    assert_eq!(options["rp"]["id"], "example.com");
    options["rp"]["id"] = json!("auth.example.com"); // a credential scoped to another RP ID
    let credential = Device::at("https://auth.example.com").create(&options);

    assert_field_error(&t.finish_registration(&credential, "Elsewhere").await, "credential");
    assert!(t.passkeys().await.is_empty());
}

#[tokio::test]
async fn a_registration_challenge_works_once_and_for_five_minutes() {
    // An access token that outlives the challenge.
    let mut t = Passkeyed::start_with(|c| c.access_token_ttl = Duration::from_secs(3600)).await;
    let options = t.registration_options().await;
    let credential = t.device.create(&options);
    assert_eq!(t.finish_registration(&credential, "Laptop").await.status, StatusCode::CREATED);
    assert_field_error(&t.finish_registration(&credential, "Again").await, "credential");

    let options = t.registration_options().await;
    let late = t.device.create(&options);
    t.clock.advance(Duration::from_secs(301));
    assert_field_error(&t.finish_registration(&late, "Late").await, "credential");
    assert_eq!(t.passkeys().await.len(), 1);
}

#[tokio::test]
async fn a_malformed_registration_is_a_400_on_its_field() {
    let t = Passkeyed::start().await;
    t.registration_options().await;
    let r = t.app.post_as(&t.access, REGISTER_PASSKEY, &json!({"credential": {"id": "x"}, "name": "A"})).await;
    assert_field_error(&r, "credential");
    let r = t.app.post_as(&t.access, REGISTER_PASSKEY, &json!({})).await;
    assert_eq!(r.error_fields(), ["credential", "name"], "{}", r.body);
}
