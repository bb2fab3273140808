//! Contract §5 me, and Bearer authentication (§4).

use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;

#[tokio::test]
async fn get_me_returns_the_signed_in_user() {
    // Arrange
    let app = spawn_app().await;
    let (user_id, access, _) = app.signed_in(EMAIL).await;

    // Act
    let r = app.get(ME, Some(&access)).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let user = &r.body["data"]["user"];
    assert_eq!(user["id"], json!(user_id));
    assert_eq!(user["email"], json!(EMAIL));
    assert_eq!(user["first_name"], json!("Ana"));
}

#[tokio::test]
async fn patch_me_updates_the_names_and_returns_the_user() {
    // Arrange
    let app = spawn_app().await;
    let (user_id, access, _) = app.signed_in(EMAIL).await;

    // Act
    let r = app.patch(ME, Some(&access), &json!({"first_name": " Anna ", "last_name": "Smith"})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let user = &r.body["data"]["user"];
    assert_eq!(user["id"], json!(user_id));
    assert_eq!(user["first_name"], json!("Anna"));
    assert_eq!(user["last_name"], json!("Smith"));
    let me = app.get(ME, Some(&access)).await;
    assert_envelope(&me.body, true);
    assert_eq!(&me.body["data"]["user"], user, "stored");
}

#[tokio::test]
async fn patch_me_leaves_an_absent_name_unchanged() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;

    // Act
    let r = app.patch(ME, Some(&access), &json!({"last_name": "Smith"})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(r.body["data"]["user"]["first_name"], json!("Ana"));
    assert_eq!(r.body["data"]["user"]["last_name"], json!("Smith"));
}

#[tokio::test]
async fn patch_me_with_an_invalid_name_is_a_400_on_that_name() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let cases = [
        (json!({"first_name": ""}), "first_name"),
        (json!({"first_name": "   "}), "first_name"),
        (json!({"first_name": "A".repeat(151)}), "first_name"),
        (json!({"first_name": "Ana\u{0000}"}), "first_name"),
        (json!({"last_name": "S".repeat(151)}), "last_name"),
        (json!({"last_name": 7}), "last_name"),
    ];

    for (body, field) in cases {
        // Act
        let r = app.patch(ME, Some(&access), &body).await;

        // Assert
        assert_field_error(&r, field);
    }
    let me = app.get(ME, Some(&access)).await;
    assert_envelope(&me.body, true);
    assert_eq!(me.body["data"]["user"]["first_name"], json!("Ana"), "nothing changed");
}

#[tokio::test]
async fn me_without_a_token_is_a_401() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let get = app.get(ME, None).await;
    let patch = app.patch(ME, None, &json!({"first_name": "Eve"})).await;

    // Assert
    for r in [get, patch] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_envelope(&r.body, false);
        assert_eq!(r.message(), "Authentication credentials were not provided.");
    }
}

#[tokio::test]
async fn me_with_a_malformed_authorization_header_is_a_401() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let headers = [
        "Bearer".to_string(),
        format!("Token {access}"),
        format!("Basic {access}"),
        format!("Bearer {access} extra"),
        access.clone(),
    ];

    for header in headers {
        // Act
        let r = app.get_with_authorization(ME, &header).await;

        // Assert
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{header:?}: {}", r.body);
        assert_envelope(&r.body, false);
    }
}

#[tokio::test]
async fn me_refuses_the_access_token_of_an_inactive_or_deleted_user() {
    // Arrange
    let app = spawn_app().await;
    let (inactive_id, inactive_access, _) = app.signed_in(EMAIL).await;
    let (deleted_id, deleted_access, _) = app.signed_in("bob@example.com").await;
    app.deactivate(&inactive_id).await;
    app.soft_delete(&deleted_id).await;

    for access in [inactive_access, deleted_access] {
        // Act
        let r = app.get(ME, Some(&access)).await;

        // Assert
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_envelope(&r.body, false);
    }
}
