//! Contract §12: device sessions (list, revoke one, log out everywhere).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, FixedOffset};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;

/// The session id (`sid` claim) of a JWT, unverified.
fn sid_of(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let claims: Value = serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("a JSON payload");
    text(&claims["sid"])
}

fn time(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&text(v)).unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"))
}

fn session_path(id: &str) -> String {
    format!("{SESSIONS}{id}/")
}

/// Signs in with a `User-Agent` and returns `(access, refresh)`.
async fn login_from(app: &TestApp, email: &str, user_agent: &str) -> (String, String) {
    let body = json!({"email_or_phone": email, "password": PASSWORD});
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &[("user-agent", user_agent)]).await;
    assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
    assert_envelope(&r.body, true);
    (text(&r.body["data"]["access"]), text(&r.body["data"]["refresh"]))
}

/// The caller's sessions, as listed (asserting a 200 envelope).
async fn sessions_of(app: &TestApp, access: &str) -> Vec<Value> {
    let r = app.get(SESSIONS, Some(access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    r.body["data"]["sessions"].as_array().unwrap_or_else(|| panic!("no sessions list: {}", r.body)).clone()
}

fn ids(sessions: &[Value]) -> Vec<String> {
    sessions.iter().map(|s| text(&s["id"])).collect()
}

#[tokio::test]
async fn list_shows_the_callers_sessions_newest_first_and_marks_the_current_one() {
    // Arrange
    let app = spawn_app().await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let (_, _) = login_from(&app, EMAIL, "device-a/1.0").await;
    let (access_b, _) = login_from(&app, EMAIL, "device-b/2.0 (Linux)").await;
    let (_, _) = login_from(&app, EMAIL, "device-c/3.0").await;

    // Act
    let sessions = sessions_of(&app, &access_b).await;

    // Assert
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for s in &sessions {
        let mut keys: Vec<&str> = s.as_object().expect("a session object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["created_at", "current", "device", "id", "ip", "last_used_at", "location_hint", "user_agent"],
            "{s}"
        );
        assert_eq!(s["ip"], json!("127.0.0.1"), "{s}");
        assert!(time(&s["last_used_at"]) >= time(&s["created_at"]), "{s}");
    }
    let agents: Vec<&Value> = sessions.iter().map(|s| &s["user_agent"]).collect();
    assert_eq!(
        agents,
        [&json!("device-c/3.0"), &json!("device-b/2.0 (Linux)"), &json!("device-a/1.0")],
        "newest first"
    );
    let created: Vec<_> = sessions.iter().map(|s| time(&s["created_at"])).collect();
    assert!(created.windows(2).all(|w| w[0] > w[1]), "newest first: {sessions:?}");
    let current: Vec<bool> = sessions.iter().map(|s| s["current"].as_bool().expect("current is a bool")).collect();
    assert_eq!(current, [false, true, false], "current marks the session of the token used");
    assert_eq!(text(&sessions[1]["id"]), sid_of(&access_b));
    let mut unique = ids(&sessions);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "distinct ids: {sessions:?}");
}

#[tokio::test]
async fn an_access_token_from_a_refresh_still_marks_its_session_current() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;
    let (other, _) = app.login(EMAIL, PASSWORD).await;
    let (access, _) = app.refreshed(&refresh).await;

    // Act
    let sessions = sessions_of(&app, &access).await;

    // Assert
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == json!(true)).collect();
    assert_eq!(current.len(), 1, "exactly one current: {sessions:?}");
    assert_eq!(text(&current[0]["id"]), sid_of(&access));
    assert_ne!(text(&current[0]["id"]), sid_of(&other));
}

#[tokio::test]
async fn list_never_shows_another_users_sessions() {
    // Arrange
    let app = spawn_app().await;
    let (_, ana_access, _) = app.signed_in(EMAIL).await;
    let (_, bob_access, _) = app.signed_in("bob@example.com").await;
    let (bob_second, _) = app.login("bob@example.com", PASSWORD).await;

    // Act
    let ana = sessions_of(&app, &ana_access).await;
    let bob = sessions_of(&app, &bob_access).await;

    // Assert
    assert_eq!(ids(&ana), [sid_of(&ana_access)], "only Ana's own session");
    let mut bob_ids = ids(&bob);
    bob_ids.sort();
    let mut expected = vec![sid_of(&bob_access), sid_of(&bob_second)];
    expected.sort();
    assert_eq!(bob_ids, expected, "only Bob's own sessions");
}

#[tokio::test]
async fn list_leaves_out_sessions_that_were_logged_out() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let (other_access, other_refresh) = app.login(EMAIL, PASSWORD).await;
    let r = app.post_as(&access, LOGOUT, &json!({"refresh": other_refresh})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Act
    let sessions = sessions_of(&app, &access).await;

    // Assert
    assert_eq!(ids(&sessions), [sid_of(&access)], "the logged-out session {} is gone", sid_of(&other_access));
}

#[tokio::test]
async fn revoking_a_session_kills_its_refresh_and_access_tokens_and_spares_the_others() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let (phone_access, phone_refresh) = app.login(EMAIL, PASSWORD).await;
    let victim = sid_of(&phone_access);

    // Act
    let r = app.delete(&session_path(&victim), Some(&access)).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_unauthorized(&app.refresh(&phone_refresh).await, "the revoked session's refresh token");
    assert_unauthorized(&app.get(ME, Some(&phone_access)).await, "the revoked session's access token");
    assert_eq!(ids(&sessions_of(&app, &access).await), [sid_of(&access)], "listed no more");
    let me = app.get(ME, Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK, "the caller's own session lives on: {}", me.body);
    assert_envelope(&me.body, true);
    app.refreshed(&refresh).await;
}

#[tokio::test]
async fn revoking_the_current_session_signs_the_caller_out() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;

    // Act
    let r = app.delete(&session_path(&sid_of(&access)), Some(&access)).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_unauthorized(&app.get(SESSIONS, Some(&access)).await, "the access token of the revoked session");
    assert_unauthorized(&app.refresh(&refresh).await, "the refresh token of the revoked session");
}

#[tokio::test]
async fn revoking_another_users_session_or_an_unknown_or_malformed_id_is_a_404() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let (_, bob_access, bob_refresh) = app.signed_in("bob@example.com").await;
    let bob_session = sid_of(&bob_access);
    let cases = [
        ("another user's session", bob_session.clone()),
        ("an unknown id", uuid::Uuid::now_v7().to_string()),
        ("a malformed id", "not-a-session".to_string()),
        ("a malformed id", "0".to_string()),
        ("a quoted id", "%27%20OR%201%3D1%20--".to_string()),
        ("a long id", "x".repeat(2000)),
        // PostgreSQL text cannot hold a NUL: refused before the database.
        ("a NUL in the id", "0193c1c4%00".to_string()),
    ];

    for (what, id) in cases {
        // Act
        let r = app.delete(&session_path(&id), Some(&access)).await;

        // Assert
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{what}: {}", r.body);
        assert_envelope(&r.body, false);
    }
    let me = app.get(ME, Some(&bob_access)).await;
    assert_eq!(me.status, StatusCode::OK, "Bob's session survives: {}", me.body);
    app.refreshed(&bob_refresh).await;
    assert_eq!(ids(&sessions_of(&app, &bob_access).await), [bob_session]);
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_caller_only() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let (second_access, second_refresh) = app.login(EMAIL, PASSWORD).await;
    let (third_access, third_refresh) = app.login(EMAIL, PASSWORD).await;
    let (_, bob_access, bob_refresh) = app.signed_in("bob@example.com").await;

    // Act
    let r = app.post_as(&second_access, LOGOUT_ALL, &json!({})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    for (what, token) in [("first", &refresh), ("second", &second_refresh), ("third", &third_refresh)] {
        assert_unauthorized(&app.refresh(token).await, &format!("the {what} refresh token"));
    }
    for (what, token) in [("first", &access), ("second", &second_access), ("third", &third_access)] {
        assert_unauthorized(&app.get(ME, Some(token)).await, &format!("the {what} access token"));
    }
    let bob = app.get(ME, Some(&bob_access)).await;
    assert_eq!(bob.status, StatusCode::OK, "another user's session survives: {}", bob.body);
    app.refreshed(&bob_refresh).await;
    let (fresh, _) = app.login(EMAIL, PASSWORD).await;
    assert_eq!(ids(&sessions_of(&app, &fresh).await), [sid_of(&fresh)], "signing in again opens one new session");
}

#[tokio::test]
async fn the_v2_prefix_and_the_bare_paths_serve_the_same_endpoints() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let (other_access, other_refresh) = app.login(EMAIL, PASSWORD).await;

    // Act
    let listed = app.get("/api/v2/auth/sessions/", Some(&access)).await;
    let bare = app.get("/api/v2/auth/sessions", Some(&access)).await;
    let revoked = app.delete(&format!("/api/v2/auth/sessions/{}", sid_of(&other_access)), Some(&access)).await;
    let all = app.post_as(&access, "/api/v2/auth/logout-all", &json!({})).await;

    // Assert
    for r in [&listed, &bare] {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
        assert_eq!(r.body["data"]["sessions"].as_array().map(Vec::len), Some(2), "{}", r.body);
    }
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_envelope(&revoked.body, true);
    assert_unauthorized(&app.refresh(&other_refresh).await, "revoked through v2");
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_envelope(&all.body, true);
    assert_unauthorized(&app.get(ME, Some(&access)).await, "logged out everywhere through v2");
}

#[tokio::test]
async fn every_session_endpoint_requires_a_bearer_token() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let id = sid_of(&access);
    let requests = [
        (Method::GET, SESSIONS.to_string(), None),
        (Method::DELETE, session_path(&id), None),
        (Method::POST, LOGOUT_ALL.to_string(), Some(json!({}))),
    ];

    for (method, path, body) in requests {
        // Act
        let r = app.send(method.clone(), &path, None, body.as_ref()).await;
        let garbage = app.send(method.clone(), &path, Some("not-a-jwt"), body.as_ref()).await;

        // Assert
        assert_unauthorized(&r, &format!("{method} {path} without a token"));
        assert_eq!(r.message(), "Authentication credentials were not provided.", "{}", r.body);
        assert_unauthorized(&garbage, &format!("{method} {path} with a garbage token"));
    }
    assert_eq!(ids(&sessions_of(&app, &access).await), [id], "nothing was revoked");
}

#[tokio::test]
async fn the_session_endpoints_have_no_legacy_alias() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let id = sid_of(&access);
    let requests = [
        (Method::GET, "/auth/sessions/".to_string()),
        (Method::GET, "/auth/sessions".to_string()),
        (Method::DELETE, format!("/auth/sessions/{id}/")),
        (Method::POST, "/auth/logout-all/".to_string()),
    ];

    for (method, path) in requests {
        // Act
        let r = app.send(method.clone(), &path, Some(&access), Some(&json!({}))).await;

        // Assert
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.body);
        assert_envelope(&r.body, false);
    }
    assert_eq!(ids(&sessions_of(&app, &access).await), [id], "nothing was revoked");
}

#[tokio::test]
async fn list_leaves_out_sessions_whose_refresh_token_has_expired() {
    // Arrange
    let clock = authgate::domain::Clock::manual();
    let app = spawn_app_with(|c| {
        c.refresh_token_ttl = std::time::Duration::from_secs(2);
        c.clock = clock.clone();
    })
    .await;
    let (_, old_access, _) = app.signed_in(EMAIL).await;
    clock.advance(std::time::Duration::from_millis(3100));
    let (access, _) = app.login(EMAIL, PASSWORD).await;

    // Act
    let sessions = sessions_of(&app, &access).await;

    // Assert
    assert_eq!(ids(&sessions), [sid_of(&access)], "the expired session {} is not active", sid_of(&old_access));
}

#[tokio::test]
async fn a_session_records_the_client_ip_behind_a_trusted_proxy() {
    // Arrange
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")]).await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let body = json!({"email_or_phone": EMAIL, "password": PASSWORD});
    let headers = [("x-forwarded-for", "203.0.113.9"), ("user-agent", "proxied/1.0")];
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &headers).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let access = text(&r.body["data"]["access"]);

    // Act
    let sessions = sessions_of(&app, &access).await;

    // Assert
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["ip"], json!("203.0.113.9"));
    assert_eq!(sessions[0]["user_agent"], json!("proxied/1.0"));
}

#[tokio::test]
async fn revoking_sessions_writes_audit_events_for_the_caller() {
    // Arrange
    let app = spawn_app().await;
    let (user_id, access, _) = app.signed_in(EMAIL).await;
    let (other, _) = app.login(EMAIL, PASSWORD).await;
    let (admin_id, _, _) = app.signed_in("root@example.com").await;
    app.make_role(&admin_id, "admin").await;
    let (admin, _) = app.login("root@example.com", PASSWORD).await;
    let audit_path = format!("{ADMIN_AUDIT}?user_id={user_id}&limit=100");
    let count = |r: &Reply| r.body["data"]["events"].as_array().map(Vec::len).expect("events");
    let before = app.get(&audit_path, Some(&admin)).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);

    // Act
    let revoked = app.delete(&session_path(&sid_of(&other)), Some(&access)).await;
    let after_revoke = app.get(&audit_path, Some(&admin)).await;
    let all = app.post_as(&access, LOGOUT_ALL, &json!({})).await;
    let after_all = app.get(&audit_path, Some(&admin)).await;

    // Assert
    for r in [&revoked, &after_revoke, &all, &after_all] {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
    }
    assert_eq!(count(&after_revoke), count(&before) + 1, "one event for the revocation: {}", after_revoke.body);
    assert_eq!(count(&after_all), count(&after_revoke) + 1, "one event for logout-all: {}", after_all.body);
    let newest = &after_all.body["data"]["events"][0];
    assert_eq!(newest["user_id"], json!(user_id), "{newest}");
    assert_eq!(newest["outcome"], json!("success"), "{newest}");
}

#[tokio::test]
async fn a_refresh_moves_the_sessions_ip_user_agent_and_last_used_at_to_the_refreshing_client() {
    // Arrange
    let clock = authgate::domain::Clock::manual();
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
        c.clock = clock.clone();
    })
    .await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let body = json!({"email_or_phone": EMAIL, "password": PASSWORD});
    let home = [("x-forwarded-for", "203.0.113.9"), ("user-agent", "shop-app/4.2")];
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &home).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let refresh = text(&r.body["data"]["refresh"]);
    clock.advance(std::time::Duration::from_secs(120));

    // Act
    let away = [("x-forwarded-for", "198.51.100.7"), ("user-agent", "shop-app/4.3")];
    let r = app.send_with_headers(Method::POST, REFRESH, None, Some(&json!({ "refresh": refresh })), &away).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sessions = sessions_of(&app, &text(&r.body["data"]["access"])).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["ip"], json!("198.51.100.7"));
    assert_eq!(sessions[0]["user_agent"], json!("shop-app/4.3"));
    let idle = time(&sessions[0]["last_used_at"]) - time(&sessions[0]["created_at"]);
    assert!(idle >= chrono::Duration::seconds(120), "last_used_at follows the refresh: {idle}");
}
