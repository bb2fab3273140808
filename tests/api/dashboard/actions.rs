//! §19 users: search, detail, and the admins' actions with §13's rules,
//! each audited as through the admin API; staff read only; a change
//! without the form's CSRF token is refused and changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use super::*;

fn action(id: &str, what: &str) -> String {
    format!("/dashboard/users/{id}/{what}/")
}

#[tokio::test]
async fn the_user_list_searches_and_filters_as_the_admin_api_does() {
    let app = spawn_app().await;
    let (mut admin, _) = signed_in_as(&app, "admin").await;
    let (vendor, vendor_email) = account(&app, "vendor").await;
    let (_, client_email) = account(&app, "client").await;
    let page = admin.get("/dashboard/users/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&vendor_email) && page.body.contains(&client_email));
    let page = admin.get("/dashboard/users/?q=&role=vendor&is_active=&is_verified=").await;
    assert!(page.body.contains(&vendor_email) && !page.body.contains(&client_email), "{}", page.body);
    let needle = &vendor_email[..vendor_email.find('@').unwrap()];
    let page = admin.get(&format!("/dashboard/users/?q={needle}")).await;
    assert!(page.body.contains(&format!("/dashboard/users/{vendor}/")));
    assert!(!page.body.contains(&client_email));
    let page = admin.get("/dashboard/users/?role=owner").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("Not a valid role"), "{}", page.body);
    let page = admin.get("/dashboard/users/?limit=1").await;
    assert!(page.body.contains("rel=\"next\""), "a next page link");
}

#[tokio::test]
async fn the_detail_shows_sessions_second_factors_and_audit_events() {
    let app = spawn_app().await;
    let (mut staff, _) = signed_in_as(&app, "staff").await;
    let (id, email) = account(&app, "client").await;
    app.login(&email, PASSWORD).await;
    let page = staff.get(&format!("/dashboard/users/{id}/")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&email));
    assert!(page.body.contains("TOTP: off; passkeys: 0"), "{}", page.body);
    assert!(page.body.contains("<td>127.0.0.1</td>"), "the session's address");
    assert!(page.body.contains("<td>register</td>") && page.body.contains("<td>login</td>"));
    let page = staff.get("/dashboard/users/0193c1c4-5e1a-7c3b-9f00-2a4b6c8d0e1f/").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(staff.get("/dashboard/users/not-an-id/").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn staff_see_no_change_buttons_and_their_changes_are_refused() {
    let app = spawn_app().await;
    let (mut staff, _) = signed_in_as(&app, "staff").await;
    let (id, _) = account(&app, "client").await;
    let page = staff.get(&format!("/dashboard/users/{id}/")).await;
    for button in ["id=\"deactivate\"", "id=\"delete\"", "id=\"change-role\"", "id=\"mfa-reset\"", "Revoke"] {
        assert!(!page.body.contains(button), "{button}");
    }
    let csrf = page.csrf();
    for what in ["deactivate", "delete", "logout-all", "mfa-reset"] {
        let answer = staff.post(&action(&id, what), &[("csrf_token", &csrf)]).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what}");
        assert!(answer.body.contains("Only admins"), "{}", answer.body);
    }
    let answer = staff.post(&action(&id, "role"), &[("csrf_token", &csrf), ("role", "admin")]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let user = api_user(&app, &id).await;
    assert_eq!(
        (user["is_active"].clone(), user["role"].clone(), user.get("deleted_at")),
        (json!(true), json!("client"), None)
    );
}

#[tokio::test]
async fn an_admin_deactivates_with_the_csrf_token_only_and_the_event_is_the_apis() {
    let app = spawn_app().await;
    let (mut admin, admin_id) = signed_in_as(&app, "admin").await;
    let (id, email) = account(&app, "client").await;
    let (access, _) = app.login(&email, PASSWORD).await;
    let page = admin.get(&format!("/dashboard/users/{id}/")).await;
    assert!(page.body.contains("id=\"deactivate\""));

    for forged in [vec![], vec![("csrf_token", "forged")]] {
        let answer = admin.post(&action(&id, "deactivate"), &forged).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(api_user(&app, &id).await["is_active"], true, "nothing changed");
    assert!(app.audit_events("admin_user_update").await.is_empty());

    let answer = admin.post(&action(&id, "deactivate"), &[("csrf_token", &page.csrf())]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), format!("/dashboard/users/{id}/?done=deactivate"));
    assert_eq!(api_user(&app, &id).await["is_active"], false);
    assert_eq!(app.get(ME, Some(&access)).await.status, StatusCode::UNAUTHORIZED, "sessions revoked");
    let events = app.audit_events("admin_user_update").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id.as_deref(), Some(id.as_str()));
    let actor = app.query_rows("SELECT actor_id FROM audit_events WHERE action = 'admin_user_update'", &[]).await;
    assert_eq!(actor[0][0].as_deref(), Some(admin_id.as_str()));
    // The API's own event for the same change, for comparison.
    let (_, other_admin) = account(&app, "admin").await;
    let (token, _) = app.login(&other_admin, PASSWORD).await;
    let r = app.patch(&format!("{ADMIN_USERS}{id}/"), Some(&token), &json!({"is_active": false})).await;
    assert_eq!(r.status, StatusCode::OK);
    let events = app.audit_events("admin_user_update").await;
    assert_eq!(events[0].detail, events[1].detail, "the same detail as through the API");
    let page = admin.get(&format!("/dashboard/users/{id}/?done=deactivate")).await;
    assert!(page.body.contains("The account is deactivated"));
    assert!(page.body.contains("id=\"activate\""));
}

#[tokio::test]
async fn every_action_follows_the_admin_apis_rules() {
    let app = spawn_app().await;
    let (mut admin, admin_id) = signed_in_as(&app, "admin").await;
    let csrf = admin.get(DASHBOARD).await.csrf();
    let post = |what: &str, id: &str| (action(id, what), id.to_owned());

    // The last active admin cannot demote or deactivate themself (400).
    let (path, _) = post("deactivate", &admin_id);
    let answer = admin.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("last active admin"), "{}", answer.body);
    let answer = admin.post(&action(&admin_id, "role"), &[("csrf_token", &csrf), ("role", "staff")]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let answer = admin.post(&action(&admin_id, "role"), &[("csrf_token", &csrf), ("role", "owner")]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    let (id, email) = account(&app, "client").await;
    let ok = |answer: Page| assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    ok(admin.post(&action(&id, "role"), &[("csrf_token", &csrf), ("role", "vendor")]).await);
    assert_eq!(api_user(&app, &id).await["role"], "vendor");
    app.login(&email, PASSWORD).await;
    ok(admin.post(&action(&id, "logout-all"), &[("csrf_token", &csrf)]).await);
    assert_eq!(app.audit_events("logout_all").await.len(), 1);
    ok(admin.post(&action(&id, "mfa-reset"), &[("csrf_token", &csrf)]).await);
    assert_eq!(app.audit_events("mfa_reset").await.len(), 1);
    ok(admin.post(&action(&id, "delete"), &[("csrf_token", &csrf)]).await);
    assert!(api_user(&app, &id).await["deleted_at"].is_string());
    // A deleted user: restore only (404 on every other change).
    let answer = admin.post(&action(&id, "activate"), &[("csrf_token", &csrf)]).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let page = admin.get(&format!("/dashboard/users/{id}/")).await;
    assert!(page.body.contains("id=\"restore\"") && !page.body.contains("id=\"deactivate\""));
    // Restoring after the email was taken again: 409.
    app.register(Some(&email), None, PASSWORD).await;
    let answer = admin.post(&action(&id, "restore"), &[("csrf_token", &csrf)]).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
    assert_eq!(admin.post(&action(&id, "explode"), &[("csrf_token", &csrf)]).await.status, StatusCode::NOT_FOUND);
    for action in ["admin_user_delete", "admin_user_update"] {
        let events = app.audit_events(action).await;
        assert!(events.iter().all(|e| e.user_id.as_deref() == Some(id.as_str())), "{action}");
    }
}

#[tokio::test]
async fn an_admin_revokes_one_session_of_a_user() {
    let app = spawn_app().await;
    let (mut admin, _) = signed_in_as(&app, "admin").await;
    let (id, email) = account(&app, "client").await;
    let (first, _) = app.login(&email, PASSWORD).await;
    let (second, _) = app.login(&email, PASSWORD).await;
    let sessions = app.get(SESSIONS, Some(&first)).await.body["data"]["sessions"].clone();
    let current = sessions.as_array().unwrap().iter().find(|s| s["current"] == true).unwrap();
    let sid = text(&current["id"]);
    let page = admin.get(&format!("/dashboard/users/{id}/")).await;
    assert!(page.body.contains(&format!("/sessions/{sid}/revoke/")));
    let path = format!("/dashboard/users/{id}/sessions/{sid}/revoke/");
    assert_eq!(admin.post(&path, &[]).await.status, StatusCode::FORBIDDEN);
    let answer = admin.post(&path, &[("csrf_token", &page.csrf())]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(app.get(ME, Some(&first)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(ME, Some(&second)).await.status, StatusCode::OK);
    assert_eq!(app.audit_events("session_revoked").await.len(), 1);
    assert_eq!(admin.post(&path, &[("csrf_token", &page.csrf())]).await.status, StatusCode::NOT_FOUND);
}
