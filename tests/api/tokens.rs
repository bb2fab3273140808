//! Contract §4 (tokens, rotation, reuse) and §5 refresh and logout.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
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
fn forgeries(genuine: &str, secret: &str) -> Vec<(&'static str, String)> {
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

// --------------------------------------------------- rotation and reuse

#[tokio::test]
async fn replaying_a_just_rotated_token_within_the_grace_returns_the_same_new_token() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;
    let (first_access, rotated) = app.refreshed(&refresh).await;

    // Act
    let replay = app.refresh(&refresh).await;

    // Assert
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_envelope(&replay.body, true);
    assert_eq!(text(&replay.body["data"]["refresh"]), rotated, "byte for byte");
    assert_ne!(text(&replay.body["data"]["access"]), first_access, "a fresh access token");
    let me = app.get(ME, Some(&text(&replay.body["data"]["access"]))).await;
    assert_eq!(me.status, StatusCode::OK, "a fresh access token: {}", me.body);
    assert_envelope(&me.body, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_all_get_the_same_new_refresh_token() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let replies = join_all((0..20).map(|_| app.refresh(&refresh))).await;

    // Assert
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
    }
    let first = &replies[0].body["data"]["refresh"];
    assert_ne!(first, &json!(refresh));
    assert!(replies.iter().all(|r| &r.body["data"]["refresh"] == first), "{replies:#?}");
    app.refreshed(&text(first)).await; // the shared new token lives on
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_zero_grace_exactly_one_of_concurrent_refreshes_succeeds_and_the_session_dies() {
    // Arrange
    let app = spawn_app_with(|c| c.refresh_reuse_grace = Duration::ZERO).await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let replies = join_all((0..20).map(|_| app.refresh(&refresh))).await;

    // Assert
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::OK).collect();
    for r in &replies {
        assert!(r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED, "{} {}", r.status, r.body);
        assert_envelope(&r.body, r.status == StatusCode::OK);
    }
    assert_eq!(winners.len(), 1, "{} of 20 succeeded", winners.len());
    let after = app.refresh(&text(&winners[0].body["data"]["refresh"])).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "the winner's token died with the session: {}", after.body);
    assert_envelope(&after.body, false);
}

/// Two refreshes of one token, the first held up behind another writer.
/// SQLite's busy handler makes a waiting writer sleep in steps of up to
/// 100 ms, so the second, sent just after the writer lets go, reaches the
/// database while the first still sleeps: the order the server sees them
/// in differs from the order they arrived in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_zero_grace_a_refresh_held_up_by_a_busy_database_and_a_later_one_do_not_both_succeed() {
    // Arrange
    let app = spawn_app_with(|c| c.refresh_reuse_grace = Duration::ZERO).await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;
    let lock = app.hold_write_lock().await;

    // Act
    let held_up = app.refresh(&refresh);
    let release = async {
        tokio::time::sleep(Duration::from_millis(370)).await;
        lock.release().await;
    };
    let later = async {
        tokio::time::sleep(Duration::from_millis(380)).await;
        app.refresh(&refresh).await
    };
    let (held_up, (), later) = tokio::join!(held_up, release, later);

    // Assert
    for r in [&held_up, &later] {
        assert!(r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED, "{} {}", r.status, r.body);
        assert_envelope(&r.body, r.status == StatusCode::OK);
    }
    let statuses = (held_up.status.as_u16(), later.status.as_u16());
    assert!(matches!(statuses, (200, 401) | (401, 200)), "held up, later: {statuses:?}");
}

#[tokio::test]
async fn with_zero_grace_replaying_a_rotated_token_revokes_the_session() {
    // Arrange
    let app = spawn_app_with(|c| c.refresh_reuse_grace = Duration::ZERO).await;
    let (_, _, old) = app.signed_in(EMAIL).await;
    let (_, newest) = app.refreshed(&old).await;

    // Act
    let replay = app.refresh(&old).await;

    // Assert
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
    assert_envelope(&replay.body, false);
    let after = app.refresh(&newest).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "the session is revoked: {}", after.body);
    assert_envelope(&after.body, false);
}

#[tokio::test]
async fn reusing_a_rotated_token_after_the_grace_revokes_the_whole_session() {
    // Arrange
    let clock = authgate::domain::Clock::manual();
    let app = spawn_app_with(|c| {
        c.refresh_reuse_grace = Duration::from_secs(1);
        c.clock = clock.clone();
    })
    .await;
    let (_, _, old) = app.signed_in(EMAIL).await;
    let (_, other_session) = app.login(EMAIL, PASSWORD).await;
    let (_, newest) = app.refreshed(&old).await;
    clock.advance(Duration::from_millis(1500));

    // Act
    let reuse = app.refresh(&old).await;

    // Assert
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED, "{}", reuse.body);
    assert_envelope(&reuse.body, false);
    let newest_after = app.refresh(&newest).await;
    assert_eq!(newest_after.status, StatusCode::UNAUTHORIZED, "the session is revoked: {}", newest_after.body);
    assert_envelope(&newest_after.body, false);
    let other = app.refresh(&other_session).await;
    assert_eq!(other.status, StatusCode::OK, "other sessions live on: {}", other.body);
    assert_envelope(&other.body, true);
}

#[tokio::test]
async fn reusing_an_older_ancestor_revokes_the_session_even_within_the_grace() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, first) = app.signed_in(EMAIL).await;
    let (_, second) = app.refreshed(&first).await;
    let (_, third) = app.refreshed(&second).await;

    // Act
    let reuse = app.refresh(&first).await;

    // Assert
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED, "{}", reuse.body);
    assert_envelope(&reuse.body, false);
    let newest = app.refresh(&third).await;
    assert_eq!(newest.status, StatusCode::UNAUTHORIZED, "the session is revoked: {}", newest.body);
    assert_envelope(&newest.body, false);
}

// ----------------------------------------------------------------- logout

#[tokio::test]
async fn logout_revokes_the_session_so_its_refresh_token_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;

    // Act
    let r = app.post_as(&access, LOGOUT, &json!({ "refresh": refresh })).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let after = app.refresh(&refresh).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.body);
    assert_envelope(&after.body, false);
}

#[tokio::test]
async fn after_logout_the_access_tokens_of_that_session_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let (access2, refresh2) = app.refreshed(&refresh).await;
    let (other_access, _) = app.login(EMAIL, PASSWORD).await;

    // Act
    let r = app.post_as(&access2, LOGOUT, &json!({ "refresh": refresh2 })).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    for token in [&access, &access2] {
        let me = app.get(ME, Some(token)).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.body);
        assert_envelope(&me.body, false);
    }
    let other = app.get(ME, Some(&other_access)).await;
    assert_eq!(other.status, StatusCode::OK, "another session lives on: {}", other.body);
    assert_envelope(&other.body, true);
}

#[tokio::test]
async fn logout_with_another_users_refresh_token_is_a_400_on_refresh() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let (_, _, someone_elses) = app.signed_in("bob@example.com").await;

    // Act
    let r = app.post_as(&access, LOGOUT, &json!({ "refresh": someone_elses })).await;

    // Assert
    assert_field_error(&r, "refresh");
    app.refreshed(&someone_elses).await; // their session is untouched
}

#[tokio::test]
async fn logout_with_an_invalid_refresh_token_is_a_400_on_refresh() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let mut cases = vec![("an access token", access.clone())];
    cases.extend(forgeries(&refresh, &app.secret));

    for (how, token) in cases {
        // Act
        let r = app.post_as(&access, LOGOUT, &json!({ "refresh": token })).await;

        // Assert
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{how}: {}", r.body);
        assert_field_error(&r, "refresh");
    }
}

#[tokio::test]
async fn logout_without_a_refresh_token_is_a_400() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;

    for body in [json!({}), json!({"refresh": null}), json!({"refresh": " "})] {
        // Act
        let r = app.post_as(&access, LOGOUT, &body).await;

        // Assert
        assert_field_error(&r, "refresh");
    }
}

#[tokio::test]
async fn logout_without_a_bearer_token_is_a_401() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let r = app.post(LOGOUT, &json!({ "refresh": refresh })).await;

    // Assert
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_envelope(&r.body, false);
    assert_eq!(r.message(), "Authentication credentials were not provided.");
    app.refreshed(&refresh).await; // nothing was revoked
}

/// Signs in with a user agent of the caller's choosing; the refresh token.
async fn login_with_agent(app: &TestApp, email: &str, agent: &str) -> String {
    let body = json!({"email_or_phone": email, "password": PASSWORD});
    let r = app.request(Method::POST, LOGIN).header("user-agent", agent).json(Some(&body)).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    text(&r.body["data"]["refresh"])
}

/// Refreshes that arrive together are written together (on SQLite in one
/// transaction, a savepoint each): one that fails inside the database fails
/// alone, and is undone, while the others commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn among_concurrent_refreshes_one_failing_in_the_database_fails_alone() {
    // Arrange
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for i in 0..24 {
        let email = unique_email();
        app.register(Some(&email), None, PASSWORD).await;
        tokens.push(login_with_agent(&app, &email, if i == 7 { "trapped" } else { "tests" }).await);
    }
    app.trap_session_writes().await;

    // Act
    let replies = join_all(tokens.iter().map(|t| app.refresh(t))).await;

    // Assert
    for (i, r) in replies.iter().enumerate() {
        let expected = if i == 7 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
        assert_eq!(r.status, expected, "refresh {i}: {}", r.body);
        assert_envelope(&r.body, r.status.is_success());
    }
    for (i, r) in replies.iter().enumerate().filter(|(i, _)| *i != 7) {
        let next = app.refresh(&text(&r.body["data"]["refresh"])).await;
        assert_eq!(next.status, StatusCode::OK, "the rotation of {i} was not kept: {}", next.body);
    }
    app.lift_session_trap().await;
    let (_, rotated) = app.refreshed(&tokens[7]).await;
    assert!(!rotated.is_empty(), "the failed rotation was undone, so its token is still current");
}
