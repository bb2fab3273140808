//! Changing a user with PATCH.

use super::*;

#[tokio::test]
async fn patch_changes_names_verification_role_and_activity() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = member(&app, "client").await;
    let before = detail(&app, &admin.access, &target.id).await;
    let body =
        json!({"first_name": " Bea ", "last_name": "Berg", "is_verified": true, "role": "vendor", "is_active": false});

    // Act
    let r = app.patch(&user_path(&target.id), Some(&admin.access), &body).await;

    // Assert
    let user = ok_data(&r, "patch")["user"].clone();
    assert_eq!(user["id"], json!(target.id));
    assert_eq!(user["first_name"], json!("Bea"));
    assert_eq!(user["last_name"], json!("Berg"));
    assert_eq!(user["is_verified"], json!(true));
    assert_eq!(user["role"], json!("vendor"));
    assert_eq!(user["is_active"], json!(false));
    assert_eq!(user["email"], before["email"], "untouched");
    assert!(time(&user["updated_at"]) >= time(&before["updated_at"]));
    assert_eq!(detail(&app, &admin.access, &target.id).await, user, "stored");
    let back =
        app.patch(&user_path(&target.id), Some(&admin.access), &json!({"is_active": true, "role": "staff"})).await;
    let back = ok_data(&back, "reactivate")["user"].clone();
    assert_eq!(
        (&back["is_active"], &back["role"], &back["first_name"]),
        (&json!(true), &json!("staff"), &json!("Bea"))
    );
    let (access, _) = app.login(&target.email, PASSWORD).await;
    ok_data(&app.get(ADMIN_USERS, Some(&access)).await, "the promoted staff member reads");
}

#[tokio::test]
async fn patch_with_an_invalid_value_is_a_400_on_that_field_and_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;
    let before = detail(&app, &admin.access, &target).await;
    let cases = [
        (json!({"role": ""}), "role"),
        (json!({"role": "root"}), "role"),
        (json!({"role": 5}), "role"),
        (json!({"first_name": ""}), "first_name"),
        (json!({"first_name": "   "}), "first_name"),
        (json!({"first_name": "A".repeat(151)}), "first_name"),
        (json!({"last_name": "S".repeat(151)}), "last_name"),
        (json!({"is_active": "yes"}), "is_active"),
        (json!({"is_verified": 1}), "is_verified"),
        (json!({"first_name": "Bea", "role": "root"}), "role"),
    ];

    for (body, field) in cases {
        // Act
        let r = app.patch(&user_path(&target), Some(&admin.access), &body).await;

        // Assert
        assert_field_error(&r, field);
    }
    assert_eq!(detail(&app, &admin.access, &target).await, before, "nothing changed");
}

#[tokio::test]
async fn junk_bodies_and_queries_never_cause_a_5xx() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;
    let before = detail(&app, &admin.access, &target).await;
    let bodies = [
        "not json",
        "{",
        "[]",
        "null",
        "\"text\"",
        "42",
        "{\"is_active\": {\"nested\": true}}",
        "{\"first_name\": []}",
        "{\"role\": null, \"is_active\": \"\"}",
        "{\"first_name\": \"Ana\u{0000}\"}",
    ];

    for body in bodies {
        // Act
        let r = app.patch_raw(&user_path(&target), Some(&admin.access), body).await;
        let malformed_id = app.patch_raw(&user_path("not-an-id"), Some(&admin.access), body).await;

        // Assert
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.body);
        assert_envelope(&r.body, false);
        assert!(!malformed_id.status.is_server_error(), "{body:?}: {}", malformed_id.body);
        assert_envelope(&malformed_id.body, false);
    }
    for query in
        ["limit=%00", "cursor=%00", "q=%00", "q=%FF%FE", "q=%5C", "role=%FF", "since=%00", "user_id=%00", "action=%00"]
    {
        for base in [ADMIN_USERS, ADMIN_AUDIT] {
            let r = app.get(&format!("{base}?{query}"), Some(&admin.access)).await;
            assert!(!r.status.is_server_error(), "{base}?{query}: {}", r.body);
            assert_envelope(&r.body, r.status.is_success());
        }
    }
    assert_eq!(detail(&app, &admin.access, &target).await, before, "nothing changed");
}
