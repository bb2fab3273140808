//! One user, by id.

use super::*;

#[tokio::test]
async fn user_detail_returns_the_user_without_the_password() {
    // Arrange
    let app = spawn_app().await;
    let staff = member(&app, "staff").await;
    let target =
        text(&register_with(&app, json!({"email": EMAIL, "phone": PHONE, "first_name": "Ana"})).await["user"]["id"]);

    // Act
    let user = detail(&app, &staff.access, &target).await;

    // Assert
    assert_eq!(user["id"], json!(target));
    assert_eq!(user["email"], json!(EMAIL));
    assert_eq!(user["phone"], json!(PHONE));
    assert_eq!(user["role"], json!("client"));
    for field in [
        "first_name",
        "last_name",
        "auth_provider",
        "is_active",
        "is_verified",
        "last_login",
        "created_at",
        "updated_at",
    ] {
        assert!(user.get(field).is_some(), "{field} missing: {user}");
    }
    assert!(user.get("password").is_none(), "the hash leaks: {user}");
    assert!(user.get("deleted_at").is_none(), "{user}");
}

#[tokio::test]
async fn an_unknown_or_malformed_user_id_is_a_404_on_every_user_route() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let ids = [
        uuid::Uuid::now_v7().to_string(),
        "not-a-uuid".to_string(),
        "123".to_string(),
        "00000000-0000-0000-0000-00000000000g".to_string(),
        "%27%20OR%20%271%27%3D%271".to_string(),
        "x".repeat(2000),
    ];

    for id in ids {
        // Act
        let shown = app.get(&user_path(&id), Some(&admin.access)).await;
        let patched = app.patch(&user_path(&id), Some(&admin.access), &json!({"first_name": "X"})).await;
        let deleted = app.delete(&user_path(&id), Some(&admin.access)).await;
        let restored = app.post_as(&admin.access, &restore_path(&id), &json!({})).await;

        // Assert
        for (what, r) in [("GET", &shown), ("PATCH", &patched), ("DELETE", &deleted), ("restore", &restored)] {
            assert_status(r, StatusCode::NOT_FOUND, &format!("{what} {id}"));
        }
    }
}

#[tokio::test]
async fn a_deleted_user_is_visible_and_restorable_but_cannot_be_patched_or_deleted() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;
    ok_data(&app.delete(&user_path(&target), Some(&admin.access)).await, "delete");

    // Act
    let shown = app.get(&user_path(&target), Some(&admin.access)).await;
    let patched = app.patch(&user_path(&target), Some(&admin.access), &json!({"first_name": "Ghost"})).await;
    let deleted = app.delete(&user_path(&target), Some(&admin.access)).await;
    let restored = app.post_as(&admin.access, &restore_path(&target), &json!({})).await;

    // Assert
    let user = ok_data(&shown, "detail of a deleted user")["user"].clone();
    assert_eq!(user["id"], json!(target));
    time(&user["deleted_at"]);
    assert_status(&patched, StatusCode::NOT_FOUND, "PATCH of a deleted user");
    assert_status(&deleted, StatusCode::NOT_FOUND, "DELETE of a deleted user");
    assert_eq!(ok_data(&restored, "restore")["user"]["first_name"], json!("Ana"), "the PATCH changed nothing");
}
