//! Contract §12 admin: a user's sessions, listed by staff and admins,
//! revoked one by one or all at once by admins, audited with actor and
//! target.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::Method;

use super::*;

fn sessions_path(user: &str) -> String {
    format!("{ADMIN_USERS}{user}/sessions/")
}

fn session_path(user: &str, sid: &str) -> String {
    format!("{ADMIN_USERS}{user}/sessions/{sid}/")
}

fn logout_all_path(user: &str) -> String {
    format!("{ADMIN_USERS}{user}/logout-all/")
}

/// The session id (`sid` claim) of a JWT, unverified.
fn sid_of(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let claims: Value = serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("a JSON payload");
    text(&claims["sid"])
}

/// `GET users/{id}/sessions/` as `access`: the sessions.
async fn sessions(app: &TestApp, access: &str, user: &str) -> Vec<Value> {
    let data = ok_data(&app.get(&sessions_path(user), Some(access)).await, "admin session list");
    data["sessions"].as_array().unwrap_or_else(|| panic!("no sessions list: {data}")).clone()
}

fn sids(sessions: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = sessions.iter().map(|s| text(&s["id"])).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn staff_and_admins_list_a_users_sessions_without_current() {
    // Arrange
    let app = spawn_app().await;
    let (admin, staff, target) =
        (member(&app, "admin").await, member(&app, "staff").await, member(&app, "client").await);
    let body = json!({"email_or_phone": target.email, "password": PASSWORD});
    let agent = [("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")];
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &agent).await;
    let second = text(&ok_data(&r, "login")["access"]);

    for access in [&staff.access, &admin.access] {
        // Act
        let listed = sessions(&app, access, &target.id).await;

        // Assert
        let mut expected = vec![sid_of(&target.access), sid_of(&second)];
        expected.sort();
        assert_eq!(sids(&listed), expected);
        for s in &listed {
            let mut keys: Vec<&str> = s.as_object().expect("an object").keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                ["created_at", "device", "id", "ip", "last_used_at", "location_hint", "user_agent"],
                "{s}"
            );
        }
        let firefox = listed.iter().find(|s| s["id"] == json!(sid_of(&second))).expect("the second session");
        assert_eq!(firefox["device"], json!("Firefox 133 on Linux"));
        assert_eq!(firefox["location_hint"], json!("127.0.0.0/24"));
    }
}

#[tokio::test]
async fn an_admin_revokes_one_session_of_a_user_and_it_is_audited() {
    // Arrange
    let app = spawn_app().await;
    let (admin, target) = (member(&app, "admin").await, member(&app, "client").await);
    let (other_access, other_refresh) = app.login(&target.email, PASSWORD).await;
    let sid = sid_of(&other_access);

    // Act
    let r = app.delete(&session_path(&target.id, &sid), Some(&admin.access)).await;

    // Assert
    assert_status(&r, StatusCode::OK, "admin revoke");
    assert_eq!(sids(&sessions(&app, &admin.access, &target.id).await), [sid_of(&target.access)]);
    assert_unauthorized(&app.get(ME, Some(&other_access)).await, "the revoked session's access token");
    assert_unauthorized(&app.refresh(&other_refresh).await, "the revoked session's refresh token");
    assert_status(&app.get(ME, Some(&target.access)).await, StatusCode::OK, "the other session lives");
    let events = audit(&app, &admin.access, &format!("action=session_revoked&user_id={}", target.id)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor_id"], json!(admin.id));
    assert_eq!(events[0]["user_id"], json!(target.id));
    assert_eq!(events[0]["detail"]["session_id"], json!(sid));
    let again = app.delete(&session_path(&target.id, &sid), Some(&admin.access)).await;
    assert_status(&again, StatusCode::NOT_FOUND, "already revoked");
}

#[tokio::test]
async fn an_admin_signs_a_user_out_everywhere_and_it_is_audited() {
    // Arrange
    let app = spawn_app().await;
    let (admin, target) = (member(&app, "admin").await, member(&app, "client").await);
    let (second, _) = app.login(&target.email, PASSWORD).await;

    // Act
    let r = app.post_as(&admin.access, &logout_all_path(&target.id), &json!({})).await;

    // Assert
    assert_eq!(ok_data(&r, "admin logout-all")["revoked"], json!(2));
    assert!(sessions(&app, &admin.access, &target.id).await.is_empty());
    for access in [&target.access, &second] {
        assert_unauthorized(&app.get(ME, Some(access)).await, "after logout-all");
    }
    assert_unauthorized(&app.refresh(&target.refresh).await, "after logout-all");
    assert_status(&app.get(ME, Some(&admin.access)).await, StatusCode::OK, "the admin's own session lives");
    let events = audit(&app, &admin.access, &format!("action=logout_all&user_id={}", target.id)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor_id"], json!(admin.id));
}

#[tokio::test]
async fn clients_may_not_and_staff_may_only_list() {
    // Arrange
    let app = spawn_app().await;
    let (staff, client, target) =
        (member(&app, "staff").await, member(&app, "client").await, member(&app, "client").await);
    let sid = sid_of(&target.access);
    let changes = [(Method::DELETE, session_path(&target.id, &sid)), (Method::POST, logout_all_path(&target.id))];

    // Act
    let client_list = app.get(&sessions_path(&target.id), Some(&client.access)).await;
    let anonymous = app.get(&sessions_path(&target.id), None).await;
    let mut denied = Vec::new();
    for (method, path) in &changes {
        for access in [&client.access, &staff.access] {
            denied.push(app.send(method.clone(), path, Some(access), Some(&json!({}))).await);
        }
        denied.push(app.send(method.clone(), path, None, Some(&json!({}))).await);
    }

    // Assert
    assert_status(&client_list, StatusCode::FORBIDDEN, "client list");
    assert_status(&anonymous, StatusCode::UNAUTHORIZED, "anonymous list");
    for (i, r) in denied.iter().enumerate() {
        let status = if i % 3 == 2 { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
        assert_status(r, status, &format!("denied change #{i}"));
    }
    assert_eq!(sids(&sessions(&app, &staff.access, &target.id).await), [sid], "nothing was revoked");
    assert_status(&app.get(ME, Some(&target.access)).await, StatusCode::OK, "the session lives");
}

#[tokio::test]
async fn another_users_session_unknown_and_malformed_ids_are_404s() {
    // Arrange
    let app = spawn_app().await;
    let (admin, target, other) =
        (member(&app, "admin").await, member(&app, "client").await, member(&app, "client").await);
    let others_sid = sid_of(&other.access);
    let unknown = uuid::Uuid::now_v7().to_string();
    let requests = [
        (Method::DELETE, session_path(&target.id, &others_sid)),
        (Method::DELETE, session_path(&target.id, &unknown)),
        (Method::DELETE, session_path(&target.id, "not-a-uuid")),
        (Method::DELETE, session_path("not-a-uuid", &others_sid)),
        (Method::DELETE, session_path(&unknown, &others_sid)),
        (Method::GET, sessions_path("not-a-uuid")),
        (Method::GET, sessions_path(&unknown)),
        (Method::POST, logout_all_path("not-a-uuid")),
        (Method::POST, logout_all_path(&unknown)),
        (Method::DELETE, format!("{ADMIN_USERS}{}/sessions/%00/", target.id)),
    ];

    for (method, path) in requests {
        // Act
        let r = app.send(method.clone(), &path, Some(&admin.access), Some(&json!({}))).await;

        // Assert
        assert_status(&r, StatusCode::NOT_FOUND, &format!("{method} {path}"));
    }
    assert_status(&app.get(ME, Some(&other.access)).await, StatusCode::OK, "the other user's session lives");
    assert!(audit(&app, &admin.access, "action=session_revoked").await.is_empty());
}

#[tokio::test]
async fn a_deleted_users_sessions_can_be_listed_but_not_revoked() {
    // Arrange
    let app = spawn_app().await;
    let (admin, target) = (member(&app, "admin").await, member(&app, "client").await);
    let sid = sid_of(&target.access);
    app.soft_delete(&target.id).await;

    // Act
    let listed = app.get(&sessions_path(&target.id), Some(&admin.access)).await;
    let revoke = app.delete(&session_path(&target.id, &sid), Some(&admin.access)).await;
    let all = app.post_as(&admin.access, &logout_all_path(&target.id), &json!({})).await;

    // Assert
    assert_status(&listed, StatusCode::OK, "list of a deleted user");
    assert_status(&revoke, StatusCode::NOT_FOUND, "revoke for a deleted user");
    assert_status(&all, StatusCode::NOT_FOUND, "logout-all for a deleted user");
}

#[tokio::test]
async fn the_admin_session_routes_answer_on_v2_too() {
    // Arrange
    let app = spawn_app().await;
    let (admin, target) = (member(&app, "admin").await, member(&app, "client").await);
    let v2 = |p: String| p.replacen("/api/v1/", "/api/v2/", 1);

    // Act
    let listed = app.get(&v2(sessions_path(&target.id)), Some(&admin.access)).await;
    let revoked = app.delete(&v2(session_path(&target.id, &sid_of(&target.access))), Some(&admin.access)).await;
    let all = app.post_as(&admin.access, &v2(logout_all_path(&target.id)), &json!({})).await;

    // Assert
    assert_eq!(ok_data(&listed, "v2 list")["sessions"].as_array().map(Vec::len), Some(1));
    assert_status(&revoked, StatusCode::OK, "v2 revoke");
    assert_eq!(ok_data(&all, "v2 logout-all")["revoked"], json!(0));
}
