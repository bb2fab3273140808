//! Contract §5 login, with the identifiers of §3.

use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;

#[tokio::test]
async fn login_with_email_returns_a_token_pair_and_the_user() {
    // Arrange
    let app = spawn_app().await;
    let registered = app.register(Some(EMAIL), None, PASSWORD).await;

    // Act
    let r = app.post(LOGIN, &json!({"email_or_phone": EMAIL, "password": PASSWORD})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let data = &r.body["data"];
    assert!(data["access"].as_str().is_some_and(|t| t.split('.').count() == 3), "{data}");
    assert!(data["refresh"].as_str().is_some_and(|t| t.split('.').count() == 3), "{data}");
    assert_eq!(data["user"]["id"], registered["user"]["id"]);
    assert_eq!(data["user"]["email"], json!(EMAIL));
}

#[tokio::test]
async fn login_with_phone_in_another_format_succeeds() {
    // Arrange
    let app = spawn_app().await;
    app.register(None, Some(PHONE), PASSWORD).await;

    for formatted in ["+1 (415) 555-2671", "+1-415-555-2671", " +1 415 555 2671 "] {
        // Act
        let r = app.post(LOGIN, &json!({"email_or_phone": formatted, "password": PASSWORD})).await;

        // Assert
        assert_eq!(r.status, StatusCode::OK, "{formatted}: {}", r.body);
        assert_envelope(&r.body, true);
        assert_eq!(r.body["data"]["user"]["phone"], json!(PHONE));
    }
}

#[tokio::test]
async fn login_email_is_case_insensitive() {
    // Arrange
    let app = spawn_app().await;
    app.register(Some("Ana@Example.com"), None, PASSWORD).await;

    // Act
    let r = app.post(LOGIN, &json!({"email_or_phone": "ANA@example.COM", "password": PASSWORD})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(r.body["data"]["user"]["email"], json!("Ana@example.com"));
}

#[tokio::test]
async fn unknown_account_wrong_password_and_deleted_account_get_identical_401_bodies() {
    // Arrange
    let app = spawn_app().await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let doomed = app.register(Some("gone@example.com"), None, PASSWORD).await;
    app.soft_delete(&text(&doomed["user"]["id"])).await;

    // Act
    let wrong_password = app.post(LOGIN, &json!({"email_or_phone": EMAIL, "password": "not the password"})).await;
    let others = [
        app.post(LOGIN, &json!({"email_or_phone": "nobody@example.com", "password": "not the password"})).await,
        app.post(LOGIN, &json!({"email_or_phone": "+447911123456", "password": "not the password"})).await,
        app.post(LOGIN, &json!({"email_or_phone": "not-an-address", "password": "not the password"})).await,
        app.post(LOGIN, &json!({"email_or_phone": "gone@example.com", "password": PASSWORD})).await,
    ];

    // Assert
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED, "{}", wrong_password.body);
    assert_envelope(&wrong_password.body, false);
    assert_eq!(wrong_password.message(), "Invalid credentials.");
    for r in others {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_envelope(&r.body, false);
        assert_eq!(r.body, wrong_password.body);
    }
}

#[tokio::test]
async fn inactive_account_with_the_right_password_gets_a_403() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(Some(EMAIL), None, PASSWORD).await;
    app.deactivate(&text(&data["user"]["id"])).await;

    // Act
    let r = app.post(LOGIN, &json!({"email_or_phone": EMAIL, "password": PASSWORD})).await;

    // Assert
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_envelope(&r.body, false);
}

#[tokio::test]
async fn login_without_a_field_gets_a_400_naming_each_missing_field() {
    // Arrange
    let app = spawn_app().await;
    let cases = [
        (json!({}), vec!["email_or_phone", "password"]),
        (json!({"password": PASSWORD}), vec!["email_or_phone"]),
        (json!({"email_or_phone": EMAIL}), vec!["password"]),
        (json!({"email_or_phone": null, "password": null}), vec!["email_or_phone", "password"]),
        (json!({"email_or_phone": "   ", "password": ""}), vec!["email_or_phone", "password"]),
    ];

    for (body, fields) in cases {
        // Act
        let r = app.post(LOGIN, &body).await;

        // Assert
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_envelope(&r.body, false);
        assert_eq!(r.error_fields(), fields, "{body}: {}", r.body);
    }
}

#[tokio::test]
async fn login_sets_last_login() {
    // Arrange
    let app = spawn_app().await;
    let registered = app.register(Some(EMAIL), None, PASSWORD).await;
    assert!(registered["user"]["last_login"].is_null());

    // Act
    let r = app.post(LOGIN, &json!({"email_or_phone": EMAIL, "password": PASSWORD})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let last_login = text(&r.body["data"]["user"]["last_login"]);
    assert!(last_login.ends_with('Z'), "{last_login}");
    let me = app.get(ME, Some(&text(&r.body["data"]["access"]))).await;
    assert_envelope(&me.body, true);
    assert_eq!(me.body["data"]["user"]["last_login"], json!(last_login), "not stored");
}

#[tokio::test]
async fn the_password_hash_never_appears_in_any_response() {
    // Arrange
    let app = spawn_app().await;
    let data = app.register(Some(EMAIL), Some(PHONE), PASSWORD).await;
    let user_id = text(&data["user"]["id"]);
    let hash = app.password_hash(&user_id).await;
    let (access, refresh) = app.login(EMAIL, PASSWORD).await;

    // Act
    let answers = [
        app.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": data["otp"]})).await,
        app.post(LOGIN, &json!({"email_or_phone": PHONE, "password": PASSWORD})).await,
        app.get(ME, Some(&access)).await,
        app.patch(ME, Some(&access), &json!({"last_name": "Smith"})).await,
        app.refresh(&refresh).await,
    ];

    // Assert
    let (_, digest) = hash.rsplit_once('$').expect("a Django-encoded hash");
    assert!(!data.to_string().contains(digest), "the hash leaked at registration: {data}");
    let mut users = vec![data["user"].clone()];
    for r in &answers {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
        assert!(!r.body.to_string().contains(digest), "the hash leaked: {}", r.body);
        users.push(r.body["data"]["user"].clone());
    }
    for user in users.iter().filter(|u| !u.is_null()) {
        let keys: Vec<&String> = user.as_object().expect("a user object").keys().collect();
        assert!(keys.iter().all(|k| !k.contains("password")), "{user}");
    }
}
