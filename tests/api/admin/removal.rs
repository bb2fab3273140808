//! Deactivation, soft delete and restore, and the last active admin.

use super::*;

#[tokio::test]
async fn deactivation_revokes_every_session_and_login_then_is_a_403() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = member(&app, "client").await;
    let (second_access, second_refresh) = app.login(&target.email, PASSWORD).await;

    // Act
    let r = app.patch(&user_path(&target.id), Some(&admin.access), &json!({"is_active": false})).await;

    // Assert
    assert_eq!(ok_data(&r, "deactivate")["user"]["is_active"], json!(false));
    for refresh in [&target.refresh, &second_refresh] {
        assert_status(&app.refresh(refresh).await, StatusCode::UNAUTHORIZED, "refresh after deactivation");
    }
    for access in [&target.access, &second_access] {
        assert_status(&app.get(ME, Some(access)).await, StatusCode::UNAUTHORIZED, "access after deactivation");
    }
    assert_status(&login_reply(&app, &target.email, PASSWORD).await, StatusCode::FORBIDDEN, "login when inactive");
    let back = app.patch(&user_path(&target.id), Some(&admin.access), &json!({"is_active": true})).await;
    ok_data(&back, "reactivate");
    app.login(&target.email, PASSWORD).await;
    assert_status(&app.refresh(&second_refresh).await, StatusCode::UNAUTHORIZED, "reactivation revives no session");
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_deactivated_or_deleted() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let other_staff = member(&app, "staff").await;
    let path = user_path(&admin.id);
    let changes = [
        json!({"role": "staff"}),
        json!({"role": "client"}),
        json!({"is_active": false}),
        json!({"role": "admin", "is_active": false}),
    ];

    for body in changes {
        // Act
        let r = app.patch(&path, Some(&admin.access), &body).await;

        // Assert
        assert_status(&r, StatusCode::BAD_REQUEST, &format!("{body}"));
    }
    let deleted = app.delete(&path, Some(&admin.access)).await;
    assert_status(&deleted, StatusCode::BAD_REQUEST, "delete of the last admin");
    let user = detail(&app, &other_staff.access, &admin.id).await;
    assert_eq!((&user["role"], &user["is_active"]), (&json!("admin"), &json!(true)), "{user}");
    assert!(user.get("deleted_at").is_none(), "{user}");
    let harmless = app.patch(&path, Some(&admin.access), &json!({"role": "admin", "last_name": "Root"})).await;
    assert_eq!(ok_data(&harmless, "a change that keeps the admin")["user"]["last_name"], json!("Root"));
}

#[tokio::test]
async fn an_admin_can_be_demoted_deactivated_or_deleted_once_another_active_admin_exists() {
    // Arrange
    let app = spawn_app().await;
    let first = member(&app, "admin").await;
    let second = member(&app, "client").await;
    let third = member(&app, "client").await;
    let fourth = member(&app, "client").await;
    let promote = json!({"role": "admin"});

    // Act + Assert: two admins, so the second may demote the first.
    ok_data(&app.patch(&user_path(&second.id), Some(&first.access), &promote).await, "promote second");
    let (second_access, _) = app.login(&second.email, PASSWORD).await;
    let demoted = app.patch(&user_path(&first.id), Some(&second_access), &json!({"role": "staff"})).await;
    assert_eq!(ok_data(&demoted, "demote first")["user"]["role"], json!("staff"));
    let refused = app.patch(&user_path(&second.id), Some(&second_access), &json!({"is_active": false})).await;
    assert_status(&refused, StatusCode::BAD_REQUEST, "the second is now the last admin");

    // Deactivating an admin while another is active.
    ok_data(&app.patch(&user_path(&third.id), Some(&second_access), &promote).await, "promote third");
    let deactivated = app.patch(&user_path(&third.id), Some(&second_access), &json!({"is_active": false})).await;
    assert_eq!(ok_data(&deactivated, "deactivate third")["user"]["is_active"], json!(false));
    let refused = app.delete(&user_path(&second.id), Some(&second_access)).await;
    assert_status(&refused, StatusCode::BAD_REQUEST, "an inactive admin does not count");

    // Deleting an admin (here oneself) while another is active.
    ok_data(&app.patch(&user_path(&fourth.id), Some(&second_access), &promote).await, "promote fourth");
    let deleted = app.delete(&user_path(&second.id), Some(&second_access)).await;
    assert!(ok_data(&deleted, "delete second")["user"]["deleted_at"].is_string());
    let (fourth_access, _) = app.login(&fourth.email, PASSWORD).await;
    let refused = app.patch(&user_path(&fourth.id), Some(&fourth_access), &json!({"role": "client"})).await;
    assert_status(&refused, StatusCode::BAD_REQUEST, "the fourth is now the last admin");
}

#[tokio::test]
async fn delete_soft_deletes_revokes_sessions_and_login_fails_exactly_like_an_unknown_account() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = member(&app, "client").await;
    let (second_access, second_refresh) = app.login(&target.email, PASSWORD).await;

    // Act
    let r = app.delete(&user_path(&target.id), Some(&admin.access)).await;

    // Assert
    let user = ok_data(&r, "delete")["user"].clone();
    assert_eq!(user["id"], json!(target.id));
    time(&user["deleted_at"]);
    for refresh in [&target.refresh, &second_refresh] {
        assert_status(&app.refresh(refresh).await, StatusCode::UNAUTHORIZED, "refresh after delete");
    }
    for access in [&target.access, &second_access] {
        assert_status(&app.get(ME, Some(access)).await, StatusCode::UNAUTHORIZED, "access after delete");
    }
    let deleted_login = login_reply(&app, &target.email, PASSWORD).await;
    let unknown_login = login_reply(&app, &unique_email(), PASSWORD).await;
    assert_status(&deleted_login, StatusCode::UNAUTHORIZED, "login of a deleted account");
    assert_eq!(deleted_login.body, unknown_login.body, "the same body as an unknown account");
    let shown = detail(&app, &admin.access, &target.id).await;
    assert_eq!(shown["deleted_at"], user["deleted_at"]);
}

#[tokio::test]
async fn restore_brings_a_deleted_user_back_so_they_can_sign_in() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = member(&app, "client").await;
    ok_data(&app.delete(&user_path(&target.id), Some(&admin.access)).await, "delete");

    // Act
    let r = app.post_as(&admin.access, &restore_path(&target.id), &json!({})).await;

    // Assert
    let user = ok_data(&r, "restore")["user"].clone();
    assert_eq!(user["id"], json!(target.id));
    assert!(user.get("deleted_at").is_none(), "{user}");
    assert!(detail(&app, &admin.access, &target.id).await.get("deleted_at").is_none());
    assert!(user_ids(&list(&app, &admin.access, "").await).contains(&target.id), "listed again");
    assert!(user_ids(&list(&app, &admin.access, "deleted=true").await).is_empty());
    let (access, _) = app.login(&target.email, PASSWORD).await;
    ok_data(&app.get(ME, Some(&access)).await, "me after restore");
    assert_status(&app.refresh(&target.refresh).await, StatusCode::UNAUTHORIZED, "old sessions stay revoked");
}

#[tokio::test]
async fn restore_is_a_409_when_the_email_or_phone_was_taken_meanwhile() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let by_email = text(&app.register(Some(EMAIL), None, PASSWORD).await["user"]["id"]);
    let by_phone = text(&app.register(None, Some(PHONE), PASSWORD).await["user"]["id"]);
    for id in [&by_email, &by_phone] {
        ok_data(&app.delete(&user_path(id), Some(&admin.access)).await, "delete");
    }
    app.register(Some(EMAIL), None, PASSWORD).await;
    app.register(None, Some(PHONE), PASSWORD).await;

    for (what, id) in [("email", &by_email), ("phone", &by_phone)] {
        // Act
        let r = app.post_as(&admin.access, &restore_path(id), &json!({})).await;

        // Assert
        assert_status(&r, StatusCode::CONFLICT, &format!("restore when the {what} is taken"));
        assert!(detail(&app, &admin.access, id).await["deleted_at"].is_string(), "{what}: still deleted");
    }
    app.login(EMAIL, PASSWORD).await;
    app.login(PHONE, PASSWORD).await;
}

#[tokio::test]
async fn restore_of_a_user_who_is_not_deleted_is_a_400() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;

    // Act
    let r = app.post_as(&admin.access, &restore_path(&target), &json!({})).await;

    // Assert
    assert_status(&r, StatusCode::BAD_REQUEST, "restore of a live user");
}
