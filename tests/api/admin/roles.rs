//! Who may call the admin API, on every prefix.

use super::*;
use reqwest::Method;

#[tokio::test]
async fn every_admin_route_checks_the_callers_role() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let staff = member(&app, "staff").await;
    let vendor = member(&app, "vendor").await;
    let client = member(&app, "client").await;
    let target = member(&app, "client").await;
    // In this order the admin's own calls succeed: restore follows delete.
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{ADMIN_USERS}?limit=5"), None),
        (Method::GET, user_path(&target.id), None),
        (Method::PATCH, user_path(&target.id), Some(json!({"first_name": "Changed"}))),
        (Method::DELETE, user_path(&target.id), None),
        (Method::POST, restore_path(&target.id), Some(json!({}))),
        (Method::GET, ADMIN_AUDIT.to_string(), None),
    ];

    for (method, path, body) in routes {
        let what = format!("{method} {path}");
        let changes = method != Method::GET;
        let before = detail(&app, &admin.access, &target.id).await;

        // Act
        let anonymous = app.send(method.clone(), &path, None, body.as_ref()).await;
        let as_client = app.send(method.clone(), &path, Some(&client.access), body.as_ref()).await;
        let as_vendor = app.send(method.clone(), &path, Some(&vendor.access), body.as_ref()).await;
        let as_staff = app.send(method.clone(), &path, Some(&staff.access), body.as_ref()).await;
        let after_denied = detail(&app, &admin.access, &target.id).await;
        let as_admin = app.send(method.clone(), &path, Some(&admin.access), body.as_ref()).await;

        // Assert
        assert_status(&anonymous, StatusCode::UNAUTHORIZED, &format!("anonymous {what}"));
        assert_eq!(anonymous.message(), "Authentication credentials were not provided.", "{}", anonymous.body);
        assert_status(&as_client, StatusCode::FORBIDDEN, &format!("client {what}"));
        assert_status(&as_vendor, StatusCode::FORBIDDEN, &format!("vendor {what}"));
        let staff_status = if changes { StatusCode::FORBIDDEN } else { StatusCode::OK };
        assert_status(&as_staff, staff_status, &format!("staff {what}"));
        assert_eq!(after_denied, before, "denied calls change nothing: {what}");
        assert_status(&as_admin, StatusCode::OK, &format!("admin {what}"));
    }
    let user = detail(&app, &staff.access, &target.id).await;
    assert_eq!(user["first_name"], json!("Changed"), "the admin's change stuck: {user}");
    assert!(user.get("deleted_at").is_none(), "deleted then restored: {user}");
}

#[tokio::test]
async fn a_revoked_or_garbage_token_is_a_401_on_the_admin_api() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let (second, _) = app.login(&admin.email, PASSWORD).await;
    let r = app.post_as(&admin.access, LOGOUT, &json!({"refresh": admin.refresh})).await;
    assert_status(&r, StatusCode::OK, "logout");

    for token in [admin.access.as_str(), "garbage"] {
        // Act
        let r = app.get(ADMIN_USERS, Some(token)).await;

        // Assert
        assert_status(&r, StatusCode::UNAUTHORIZED, token);
    }
    ok_data(&app.get(ADMIN_USERS, Some(&second)).await, "the admin's other session");
}

#[tokio::test]
async fn the_v2_prefix_and_bare_paths_serve_the_admin_api() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;

    // Act
    let listed = app.get("/api/v2/admin/users", Some(&admin.access)).await;
    let shown = app.get(&format!("/api/v2/admin/users/{target}"), Some(&admin.access)).await;
    let patched =
        app.patch(&format!("/api/v2/admin/users/{target}"), Some(&admin.access), &json!({"last_name": "V2"})).await;
    let deleted = app.delete(&format!("/api/v2/admin/users/{target}/"), Some(&admin.access)).await;
    let restored = app.post_as(&admin.access, &format!("/api/v2/admin/users/{target}/restore"), &json!({})).await;
    let events = app.get("/api/v2/admin/audit", Some(&admin.access)).await;

    // Assert
    assert_eq!(user_ids(&ok_data(&listed, "v2 list")).len(), 2);
    assert_eq!(ok_data(&shown, "v2 detail")["user"]["id"], json!(target));
    assert_eq!(ok_data(&patched, "v2 patch")["user"]["last_name"], json!("V2"));
    assert!(ok_data(&deleted, "v2 delete")["user"]["deleted_at"].is_string());
    assert!(ok_data(&restored, "v2 restore")["user"].get("deleted_at").is_none());
    assert!(!ok_data(&events, "v2 audit")["events"].as_array().expect("events").is_empty());
}
