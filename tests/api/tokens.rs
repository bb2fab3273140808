//! Contract §4 (the tokens' claims, lifetimes and forgeries) and §5's
//! refresh; rotation and reuse are in `rotation.rs`, logout in `logout.rs`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

/// The payload of a JWT, unverified.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("a JSON payload")
}

fn sign(claims: &Value, secret: &str) -> String {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()))
        .expect("HS256 signs")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Ways to forge a token from a genuine one signed with `secret`: each
/// must be refused.
pub(super) fn forgeries(genuine: &str, secret: &str) -> Vec<(&'static str, String)> {
    let parts: Vec<&str> = genuine.split('.').collect();
    let claims = claims_of(genuine);
    let tampered = {
        let mut c = claims.clone();
        c["role"] = json!("admin");
        format!("{}.{}.{}", parts[0], B64.encode(c.to_string()), parts[2])
    };
    let unsigned = format!("{}.{}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    let expired = {
        let mut c = claims.clone();
        c["iat"] = json!(now() - 400);
        c["exp"] = json!(now() - 100);
        sign(&c, secret)
    };
    let foreign = sign(&claims, "another-secret-another-secret-another-secret");
    // Contract §14.4: issued, or valid from, more than 60 s ahead.
    let from_the_future = {
        let mut c = claims.clone();
        c["iat"] = json!(now() + 120);
        c["exp"] = json!(now() + 900);
        sign(&c, secret)
    };
    let not_yet_valid = {
        let mut c = claims.clone();
        c["nbf"] = json!(now() + 120);
        sign(&c, secret)
    };
    vec![
        ("tampered payload", tampered),
        ("alg none", unsigned),
        ("expired", expired),
        ("wrong secret", foreign),
        ("issued in the future", from_the_future),
        ("not valid before a future time", not_yet_valid),
        ("signature cut off", format!("{}.{}.", parts[0], parts[1])),
        ("not a JWT", "not-a-token".to_string()),
    ]
}

// ------------------------------------------------------------ token shapes

#[tokio::test]
async fn login_tokens_carry_simplejwt_claims_and_the_session() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (user_id, access, refresh) = app.signed_in(EMAIL).await;

    // Assert
    let (a, r) = (claims_of(&access), claims_of(&refresh));
    assert_eq!(a["token_type"], json!("access"));
    assert_eq!(r["token_type"], json!("refresh"));
    for c in [&a, &r] {
        assert_eq!(c["user_id"], json!(user_id), "{c}");
        assert_eq!(c["role"], json!("client"), "{c}");
        assert!(c["exp"].is_i64() && c["iat"].is_i64(), "{c}");
        assert!((c["iat"].as_i64().unwrap() - now()).abs() < 60, "{c}");
        let jti = text(&c["jti"]);
        assert!(jti.len() == 32 && jti.chars().all(|ch| matches!(ch, '0'..='9' | 'a'..='f')), "{c}");
        assert!(c["sid"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
    }
    assert_eq!(a["sid"], r["sid"], "both belong to the sign-in's session");
    assert_ne!(a["jti"], r["jti"]);
    let header: Value = serde_json::from_slice(&B64.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], json!("HS256"));
}

#[tokio::test]
async fn tokens_live_five_minutes_and_one_day_by_default() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (_, access, refresh) = app.signed_in(EMAIL).await;

    // Assert
    let lifetime = |t: &str| claims_of(t)["exp"].as_i64().unwrap() - claims_of(t)["iat"].as_i64().unwrap();
    assert_eq!(lifetime(&access), 300);
    assert_eq!(lifetime(&refresh), 86_400);
}

#[tokio::test]
async fn token_lifetimes_follow_the_config() {
    // Arrange
    let app = spawn_app_with(|c| {
        c.access_token_ttl = Duration::from_secs(60);
        c.refresh_token_ttl = Duration::from_secs(3600);
    })
    .await;

    // Act
    let (_, access, refresh) = app.signed_in(EMAIL).await;

    // Assert
    let lifetime = |t: &str| claims_of(t)["exp"].as_i64().unwrap() - claims_of(t)["iat"].as_i64().unwrap();
    assert_eq!(lifetime(&access), 60);
    assert_eq!(lifetime(&refresh), 3600);
}

// ---------------------------------------------------------------- refresh

#[tokio::test]
async fn refresh_returns_a_new_pair_whose_refresh_token_differs() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let r = app.refresh(&refresh).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let (access2, refresh2) = (text(&r.body["data"]["access"]), text(&r.body["data"]["refresh"]));
    assert_ne!(refresh2, refresh);
    assert_eq!(claims_of(&refresh2)["sid"], claims_of(&refresh)["sid"], "same session");
    let me = app.get(ME, Some(&access2)).await;
    assert_eq!(me.status, StatusCode::OK, "the new access token works: {}", me.body);
    assert_envelope(&me.body, true);
}

#[tokio::test]
async fn refresh_without_a_token_is_a_400_on_refresh() {
    // Arrange
    let app = spawn_app().await;

    for body in [json!({}), json!({"refresh": null}), json!({"refresh": ""})] {
        // Act
        let r = app.post(REFRESH, &body).await;

        // Assert
        assert_field_error(&r, "refresh");
    }
}

#[tokio::test]
async fn an_access_token_is_refused_as_a_refresh_token() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;

    // Act
    let r = app.refresh(&access).await;

    // Assert
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_envelope(&r.body, false);
}

#[tokio::test]
async fn a_refresh_token_is_refused_as_a_bearer_token() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let r = app.get(ME, Some(&refresh)).await;

    // Assert
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_envelope(&r.body, false);
}

#[tokio::test]
async fn forged_or_expired_tokens_are_refused_as_bearer_and_as_refresh() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;

    for (how, token) in forgeries(&access, &app.secret) {
        // Act
        let r = app.get(ME, Some(&token)).await;

        // Assert
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "Bearer, {how}: {}", r.body);
        assert_envelope(&r.body, false);
    }
    for (how, token) in forgeries(&refresh, &app.secret) {
        // Act
        let r = app.refresh(&token).await;

        // Assert
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "refresh, {how}: {}", r.body);
        assert_envelope(&r.body, false);
    }
    // The genuine pair still works: only the forgeries were refused.
    let me = app.get(ME, Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_envelope(&me.body, true);
    app.refreshed(&refresh).await;
}

#[tokio::test]
async fn a_token_signed_with_the_secret_but_for_an_unknown_user_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let stranger = |t: &str| {
        let mut c = claims_of(t);
        c["user_id"] = json!(uuid::Uuid::now_v7().to_string());
        sign(&c, &app.secret)
    };

    // Act
    let bearer = app.get(ME, Some(&stranger(&access))).await;
    let refreshed = app.refresh(&stranger(&refresh)).await;

    // Assert
    for r in [bearer, refreshed] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_envelope(&r.body, false);
    }
}

#[tokio::test]
async fn a_refresh_token_of_an_inactive_or_deleted_user_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let (inactive_id, _, inactive_refresh) = app.signed_in(EMAIL).await;
    let (deleted_id, _, deleted_refresh) = app.signed_in("bob@example.com").await;
    app.deactivate(&inactive_id).await;
    app.soft_delete(&deleted_id).await;

    for refresh in [inactive_refresh, deleted_refresh] {
        // Act
        let r = app.refresh(&refresh).await;

        // Assert
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_envelope(&r.body, false);
    }
}
