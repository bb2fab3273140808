//! The browser flow (§16): start (state, nonce, PKCE, the binding
//! cookie), the provider's real login and consent pages, the callback, and
//! the one-time code's exchange; wrong or replayed states and codes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::*;

fn start_url(app: &TestApp, provider: &str, next: &str) -> String {
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    app.url(&format!("/api/v1/auth/social/{provider}/start/?next={next}"))
}

#[tokio::test]
async fn a_browser_sign_in_ends_in_a_code_that_works_once() {
    let (app, clock) = social_app().await;
    let mut browser = Browser::new();
    let ended = browser.walk(&start_url(&app, "corp", NEXT), "alice", NEXT).await;
    let code = ended.param("code");
    assert!(ended.location().starts_with(&format!("{NEXT}?code=")), "{ended:?}");
    assert!(!ended.location().contains("access") && !ended.location().contains("eyJ"), "no token in a URL");
    let binding = browser.set_cookies.iter().find(|c| c.starts_with("authgate_social=")).expect("the cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/api/"] {
        assert!(binding.contains(attribute), "{binding}");
    }
    let r = app.post(EXCHANGE, &json!({"code": code})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["email"], json!("alice@example.com"));
    let r = app.get(ME, Some(&text(&r.body["data"]["access"]))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.post(EXCHANGE, &json!({"code": code})).await;
    assert_field_error(&r, "code");
    // A code lives 60 s; `next` with a query gets `&code=`.
    let ended = Browser::new().walk(&start_url(&app, "corp", &format!("{NEXT}?tab=1")), "alice", NEXT).await;
    assert!(ended.location().starts_with(&format!("{NEXT}?tab=1&code=")), "{ended:?}");
    clock.advance(Duration::from_secs(61));
    let r = app.post(EXCHANGE, &json!({"code": ended.param("code")})).await;
    assert_field_error(&r, "code");
    let r = app.post(EXCHANGE, &json!({})).await;
    assert_field_error(&r, "code");
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn a_wrong_missing_replayed_or_foreign_state_is_refused() {
    let (app, _) = social_app().await;
    let callback = app.url("/api/v1/auth/social/corp/callback/");
    let r = app.get("/api/v1/auth/social/corp/callback/?code=x&state=made-up", None).await;
    assert_field_error(&r, "state");
    let r = app.get("/api/v1/auth/social/corp/callback/?code=x", None).await;
    assert_field_error(&r, "state");
    // A real flow, stopped at the callback.
    let mut browser = Browser::new();
    let at_callback = browser.walk(&start_url(&app, "corp", NEXT), "alice", &callback).await;
    let url = at_callback.location().to_owned();
    // Another browser (no binding cookie) cannot use it...
    match Browser::new().walk(&url, "alice", NEXT).await {
        Ended::Answer(status, body) => {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(body["errors"]["state"].is_array(), "{body}");
        }
        other => panic!("another browser was let in: {other:?}"),
    }
    // ...and having been tried, the state is spent for its own browser too.
    match browser.walk(&url, "alice", NEXT).await {
        Ended::Answer(status, _) => assert_eq!(status, StatusCode::BAD_REQUEST),
        other => panic!("a used state worked: {other:?}"),
    }
    // A state is bound to its provider.
    let mut browser = Browser::new();
    let at_callback = browser.walk(&start_url(&app, "corp", NEXT), "alice", &callback).await;
    let elsewhere = at_callback.location().replace("/social/corp/", "/social/github/");
    match browser.walk(&elsewhere, "alice", NEXT).await {
        Ended::Answer(status, _) => assert_eq!(status, StatusCode::BAD_REQUEST),
        other => panic!("another provider's callback took the state: {other:?}"),
    }
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn next_must_be_allowed_and_a_provider_error_returns_to_it() {
    let (app, _) = social_app().await;
    for next in ["https://evil.example/", "http://127.0.0.1:9/done/", ""] {
        let r = app.get(&format!("/api/v1/auth/social/corp/start/?next={next}"), None).await;
        assert_field_error(&r, "next");
    }
    let r = app.get("/api/v1/auth/social/corp/start/", None).await;
    assert_field_error(&r, "next");
    let r = app.get("/api/v1/auth/social/nowhere/start/?next=x", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The provider said no (the user cancelled): back to next with its error.
    let mut browser = Browser::new();
    let res = browser.get(&start_url(&app, "corp", NEXT)).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let to_provider = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let param = |name: &str| to_provider.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("nonce").is_some() && param("code_challenge").is_some(), "{to_provider}");
    let state = param("state").expect("a state");
    let denied = app.url(&format!("/api/v1/auth/social/corp/callback/?state={state}&error=access_denied"));
    let res = browser.get(&denied).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], format!("{NEXT}?error=access_denied").as_str());
}

#[tokio::test]
async fn the_callback_answers_the_409_of_an_email_that_may_not_link() {
    let (app, _) = social_app().await;
    app.register(Some("alice@example.com"), None, PASSWORD).await;
    match Browser::new().walk(&start_url(&app, "corp", NEXT), "alice", NEXT).await {
        Ended::Answer(status, body) => {
            assert_eq!(status, StatusCode::CONFLICT, "{body}");
            assert_envelope(&body, false);
        }
        other => panic!("an unverified account was linked: {other:?}"),
    }
    assert_eq!(user_count(&app).await, 1);
}
