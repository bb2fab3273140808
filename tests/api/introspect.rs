//! Token introspection (contract §17, RFC 7662): a token is active exactly
//! when authgate would accept it; only holders of an introspection token
//! may ask.

use authgate::config::Secret;
use authgate::crypto::signing::JwtAlgorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

const INTROSPECT: &str = "/api/v1/auth/introspect/";
const SERVICE_TOKEN: &str = "resource-server-token-1";

fn introspection(c: &mut authgate::Config) {
    c.introspection_tokens = vec![Secret("other-service".into()), Secret(SERVICE_TOKEN.into())];
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let r = app.post_as(SERVICE_TOKEN, INTROSPECT, &json!({ "token": token })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    r.body["data"].clone()
}

fn inactive() -> Value {
    json!({"active": false})
}

#[tokio::test]
async fn a_live_access_token_is_active_with_its_members() {
    // Arrange
    let app = spawn_app_with(introspection).await;
    let (user_id, access, _) = app.signed_in(EMAIL).await;

    // Act
    let data = introspect(&app, &access).await;

    // Assert
    let keys: Vec<&str> = data.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["active", "token_type", "sub", "sid", "role", "exp", "iat"]);
    assert_eq!(data["active"], true);
    assert_eq!(data["token_type"], "access");
    assert_eq!(data["sub"], user_id.as_str());
    assert_eq!(data["role"], "client");
    assert!(data["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(data["exp"].as_i64().unwrap() - data["iat"].as_i64().unwrap(), 300);
}

#[tokio::test]
async fn only_the_current_refresh_token_of_a_live_session_is_active() {
    // Arrange
    let app = spawn_app_with(introspection).await;
    let (_, access, first) = app.signed_in(EMAIL).await;
    let access_sid = introspect(&app, &access).await["sid"].clone();

    // Act
    let before = introspect(&app, &first).await;
    let (_, second) = app.refreshed(&first).await;

    // Assert
    assert_eq!(before["active"], true);
    assert_eq!(before["token_type"], "refresh");
    assert_eq!(before["sid"], access_sid);
    assert_eq!(introspect(&app, &first).await, inactive(), "a rotated refresh token");
    assert_eq!(introspect(&app, &second).await["active"], true);
}

#[tokio::test]
async fn tokens_of_ended_sessions_deactivated_users_and_garbage_are_inactive() {
    // Arrange
    let app = spawn_app_with(introspection).await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let (other_id, other_access, other_refresh) = app.signed_in("bo@example.com").await;

    // Act
    let out = app.post_as(&access, LOGOUT, &json!({ "refresh": refresh })).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    app.deactivate(&other_id).await;

    // Assert
    for (what, token) in [
        ("a logged-out access token", access.as_str()),
        ("a logged-out refresh token", refresh.as_str()),
        ("a deactivated user's access token", other_access.as_str()),
        ("a deactivated user's refresh token", other_refresh.as_str()),
        ("garbage", "not-a-token"),
    ] {
        assert_eq!(introspect(&app, token).await, inactive(), "{what}");
    }
}

#[tokio::test]
async fn a_token_of_a_key_pair_instance_is_introspected_too() {
    let app = spawn_app_with(|c| {
        introspection(c);
        c.jwt_algorithm = JwtAlgorithm::Rs256;
    })
    .await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    assert_eq!(introspect(&app, &access).await["active"], true);
    assert_eq!(introspect(&app, &refresh).await["token_type"], "refresh");
}

#[tokio::test]
async fn only_holders_of_an_introspection_token_may_ask() {
    // Arrange
    let app = spawn_app_with(introspection).await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let body = json!({ "token": access });

    // Act + Assert
    assert_unauthorized(&app.post(INTROSPECT, &body).await, "no Authorization");
    assert_unauthorized(&app.post_as("resource-server-token-2", INTROSPECT, &body).await, "a wrong service token");
    assert_unauthorized(&app.post_as(&access, INTROSPECT, &body).await, "a user's access token");
    let unconfigured = spawn_app().await;
    assert_unauthorized(&unconfigured.post_as(SERVICE_TOKEN, INTROSPECT, &body).await, "no tokens configured");
}

#[tokio::test]
async fn a_missing_token_is_a_400_on_token() {
    let app = spawn_app_with(introspection).await;
    let r = app.post_as(SERVICE_TOKEN, INTROSPECT, &json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_envelope(&r.body, false);
    assert_eq!(r.error_fields(), ["token"]);
    assert_field_error(&app.post_as(SERVICE_TOKEN, INTROSPECT, &json!({"token": " "})).await, "token");
}
