//! §20 CAPTCHA: where a challenge is required and a provider is set, a
//! `captcha_token` the provider accepts answers it. The provider is a
//! siteverify-shaped endpoint run in the test process (as the SMS webhook
//! sink is): it accepts `good-token`, fails with a 500 on `boom`, and
//! refuses anything else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use authgate::config::{CaptchaConfig, CaptchaProvider, ChallengeMode, Secret};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::super::helpers::*;
use super::challenge::{assert_altcha_refused, defended, post_from, solved};

const SECRET: &str = "siteverify-test-secret";

type Forms = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// The siteverify endpoint and the forms it was sent.
struct Siteverify {
    addr: SocketAddr,
    forms: Forms,
}

impl Siteverify {
    async fn start() -> Siteverify {
        let forms = Forms::default();
        let app = axum::Router::new().route("/siteverify", axum::routing::post(verify)).with_state(forms.clone());
        Siteverify { addr: super::super::sinks::serve(app).await, forms }
    }

    fn url(&self) -> String {
        format!("http://{}/siteverify", self.addr)
    }

    fn forms(&self) -> Vec<HashMap<String, String>> {
        self.forms.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn verify(State(forms): State<Forms>, body: Bytes) -> (AxumStatus, Json<Value>) {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let token = form.get("response").cloned().unwrap_or_default();
    forms.lock().unwrap_or_else(|e| e.into_inner()).push(form);
    match token.as_str() {
        "boom" => (AxumStatus::INTERNAL_SERVER_ERROR, Json(json!({"error": "down"}))),
        "good-token" => (AxumStatus::OK, Json(json!({"success": true, "hostname": "shop.example"}))),
        _ => (AxumStatus::OK, Json(json!({"success": false, "error-codes": ["invalid-input-response"]}))),
    }
}

fn captcha(url: String, fail_open: bool) -> CaptchaConfig {
    CaptchaConfig { provider: CaptchaProvider::Turnstile, secret: Secret(SECRET.into()), verify_url: url, fail_open }
}

fn login(token: Option<&str>) -> Value {
    json!({"email_or_phone": unique_email(), "password": "not the password", "captcha_token": token})
}

#[tokio::test]
async fn an_accepted_token_answers_the_challenge_and_the_provider_sees_secret_token_and_address() {
    let provider = Siteverify::start().await;
    let url = provider.url();
    let (app, _) = defended(ChallengeMode::Always, |c| c.defence.captcha = Some(captcha(url, false))).await;
    let r = post_from(&app, LOGIN, &login(Some("good-token")), "203.0.113.9").await;
    assert_unauthorized(&r, "the CAPTCHA passed; the password is then checked");
    let forms = provider.forms();
    assert_eq!(forms.len(), 1);
    let sent = |k: &str| forms[0].get(k).map(String::as_str);
    assert_eq!(
        (sent("secret"), sent("response"), sent("remoteip")),
        (Some(SECRET), Some("good-token"), Some("203.0.113.9"))
    );
    let r = post_from(&app, LOGIN, &login(Some("bad-token")), "203.0.113.9").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["errors"], json!({"captcha_token": ["The CAPTCHA was not accepted."]}));
    assert_altcha_refused(&post_from(&app, LOGIN, &login(None), "203.0.113.9").await, super::challenge::REQUIRED);
    let mut solved_body = login(None);
    solved_body["altcha"] = json!(solved(&app).await);
    assert_unauthorized(&post_from(&app, LOGIN, &solved_body, "203.0.113.9").await, "proof of work still answers");
}

#[tokio::test]
async fn no_token_is_sent_to_the_provider_when_no_challenge_is_required() {
    let provider = Siteverify::start().await;
    let url = provider.url();
    let (app, _) = defended(ChallengeMode::Adaptive, |c| c.defence.captcha = Some(captcha(url, false))).await;
    assert_unauthorized(&post_from(&app, LOGIN, &login(Some("bad-token")), "203.0.113.9").await, "not required");
    assert!(provider.forms().is_empty());
}

#[tokio::test]
async fn a_provider_that_cannot_answer_fails_closed_unless_told_otherwise() {
    let provider = Siteverify::start().await;
    let (url, closed_port) = (provider.url(), "http://127.0.0.1:9/siteverify".to_string());
    let (closed, _) = defended(ChallengeMode::Always, |c| c.defence.captcha = Some(captcha(url.clone(), false))).await;
    let r = post_from(&closed, LOGIN, &login(Some("boom")), "203.0.113.9").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a 500 from the provider: {}", r.body);
    assert_envelope(&r.body, false);
    let (unreachable, _) =
        defended(ChallengeMode::Always, |c| c.defence.captcha = Some(captcha(closed_port.clone(), false))).await;
    let r = post_from(
        &unreachable,
        REGISTER,
        &json!({"email": unique_email(), "password": PASSWORD,
        "first_name": "Ana", "captcha_token": "good-token"}),
        "203.0.113.9",
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let (open, _) = defended(ChallengeMode::Always, |c| c.defence.captcha = Some(captcha(closed_port, true))).await;
    let r = post_from(&open, LOGIN, &login(Some("anything")), "203.0.113.9").await;
    assert_unauthorized(&r, "fail-open lets the request through to the password check");
}
