//! Contract §5 register, the user object and identifiers of §3, and the
//! password policy as far as registration reports it (§6).

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

fn ana(email: Option<&str>, phone: Option<&str>) -> Value {
    json!({"email": email, "phone": phone, "password": PASSWORD, "first_name": "Ana"})
}

fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

#[tokio::test]
async fn registering_with_an_email_creates_an_unverified_client() {
    // Arrange
    let app = spawn_app().await;
    let body =
        json!({"email": "  Ana.Smith@Example.COM ", "password": PASSWORD, "first_name": " Ana ", "last_name": "Smith"});

    // Act
    let r = app.post(REGISTER, &body).await;

    // Assert
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_envelope(&r.body, true);
    let user = &r.body["data"]["user"];
    let id = uuid::Uuid::parse_str(&text(&user["id"])).expect("a UUID");
    assert_eq!(id.get_version_num(), 7, "{id}");
    assert_eq!(user["email"], json!("Ana.Smith@example.com"));
    assert_eq!(user["phone"], Value::Null);
    assert_eq!(user["first_name"], json!("Ana"));
    assert_eq!(user["last_name"], json!("Smith"));
    assert_eq!(user["role"], json!("client"));
    assert_eq!(user["auth_provider"], json!("email"));
    assert_eq!(user["is_active"], json!(true));
    assert_eq!(user["is_verified"], json!(false));
    assert_eq!(user["last_login"], Value::Null);
    for stamp in ["created_at", "updated_at"] {
        let t = text(&user[stamp]);
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok() && t.ends_with('Z'), "{stamp}: {t}");
    }
}

#[tokio::test]
async fn registering_with_only_a_phone_normalizes_it_and_uses_the_phone_provider() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let r = app.post(REGISTER, &ana(None, Some("+44 7911-123 456"))).await;

    // Assert
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(r.body["data"]["user"]["phone"], json!("+447911123456"));
    assert_eq!(r.body["data"]["user"]["email"], Value::Null);
    assert_eq!(r.body["data"]["user"]["auth_provider"], json!("phone"));
}

#[tokio::test]
async fn registering_with_an_email_and_a_phone_uses_the_email_provider() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let r = app.post(REGISTER, &ana(Some(EMAIL), Some(PHONE))).await;

    // Assert
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(r.body["data"]["user"]["auth_provider"], json!("email"));
    assert_eq!(r.body["data"]["user"]["phone"], json!(PHONE));
}

#[tokio::test]
async fn registering_without_an_email_or_a_phone_is_a_400() {
    // Arrange
    let app = spawn_app().await;

    for body in [ana(None, None), ana(Some(""), Some("  "))] {
        // Act
        let r = app.post(REGISTER, &body).await;

        // Assert
        assert_field_error(&r, "non_field_errors");
    }
}

#[tokio::test]
async fn an_invalid_field_gets_a_400_on_that_field() {
    // Arrange
    let app = spawn_app().await;
    let base = ana(Some(EMAIL), None);
    let cases = [
        (with(base.clone(), "email", json!("not-an-email")), "email"),
        (with(base.clone(), "email", json!("ana@example")), "email"),
        (with(ana(None, None), "phone", json!("12345")), "phone"),
        (with(ana(None, None), "phone", json!("4155552671")), "phone"),
        (with(ana(None, None), "phone", json!("+1 800 FLOWERS")), "phone"),
        (with(base.clone(), "first_name", Value::Null), "first_name"),
        (with(base.clone(), "first_name", json!("   ")), "first_name"),
        (with(base.clone(), "first_name", json!("A".repeat(151))), "first_name"),
        (with(base.clone(), "last_name", json!("S".repeat(151))), "last_name"),
        (with(base.clone(), "password", Value::Null), "password"),
        (with(base.clone(), "password", json!("")), "password"),
    ];

    for (body, field) in cases {
        // Act
        let r = app.post(REGISTER, &body).await;

        // Assert
        assert_field_error(&r, field);
    }
}

#[tokio::test]
async fn only_client_or_vendor_may_be_chosen_at_registration() {
    // Arrange
    let app = spawn_app().await;

    for role in ["admin", "staff", "", "bogus", "Vendor", " client"] {
        // Act
        let r = app.post(REGISTER, &with(ana(Some(EMAIL), None), "role", json!(role))).await;

        // Assert
        assert_field_error(&r, "role");
    }
}

#[tokio::test]
async fn the_vendor_role_is_accepted() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let r = app.post(REGISTER, &with(ana(Some(EMAIL), None), "role", json!("vendor"))).await;

    // Assert
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_eq!(r.body["data"]["user"]["role"], json!("vendor"));
}

#[tokio::test]
async fn a_null_or_absent_role_means_client() {
    // Arrange
    let app = spawn_app().await;
    let null_role = with(ana(Some("a@example.com"), None), "role", Value::Null);
    let absent_role = ana(Some("b@example.com"), None);

    for body in [null_role, absent_role] {
        // Act
        let r = app.post(REGISTER, &body).await;

        // Assert
        assert_eq!(r.status, StatusCode::CREATED, "{body}: {}", r.body);
        assert_envelope(&r.body, true);
        assert_eq!(r.body["data"]["user"]["role"], json!("client"));
    }
}

#[tokio::test]
async fn a_taken_email_is_a_400_on_email_whatever_its_case() {
    // Arrange
    let app = spawn_app().await;
    app.register(Some("Ana@Example.com"), None, PASSWORD).await;

    for email in ["Ana@Example.com", "ana@example.com", "ANA@EXAMPLE.COM", " aNa@example.com "] {
        // Act
        let r = app.post(REGISTER, &ana(Some(email), None)).await;

        // Assert
        assert_field_error(&r, "email");
    }
}

#[tokio::test]
async fn a_taken_phone_is_a_400_on_phone_whatever_its_format() {
    // Arrange
    let app = spawn_app().await;
    app.register(None, Some(PHONE), PASSWORD).await;

    for phone in [PHONE, "+1 (415) 555-2671", "+1-415-555-2671"] {
        // Act
        let r = app.post(REGISTER, &ana(Some("other@example.com"), Some(phone))).await;

        // Assert
        assert_field_error(&r, "phone");
    }
}

#[tokio::test]
async fn the_email_of_a_deleted_account_can_be_registered_again() {
    // Arrange
    let app = spawn_app().await;
    let gone = app.register(Some(EMAIL), Some(PHONE), PASSWORD).await;
    app.soft_delete(&text(&gone["user"]["id"])).await;

    // Act
    let r = app.post(REGISTER, &ana(Some(EMAIL), Some(PHONE))).await;

    // Assert
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_envelope(&r.body, true);
    assert_ne!(r.body["data"]["user"]["id"], gone["user"]["id"]);
}

#[tokio::test]
async fn a_password_that_breaks_the_policy_is_a_400_on_password() {
    // Arrange
    let app = spawn_app().await;
    let email = "ana.smith@example.com";
    let cases = [
        ("Ab3$xyz", "too short"),
        ("9081726354", "entirely numeric"),
        ("password123", "too common"),
        ("PassWord123", "too common"),
        ("ana.smith@example", "too similar to the email"),
    ];

    for (password, why) in cases {
        // Act
        let r = app.post(REGISTER, &with(ana(Some(email), None), "password", json!(password))).await;

        // Assert
        assert_field_error(&r, "password");
        assert_eq!(r.error_fields(), ["password"], "{why}: {}", r.body);
    }
}

#[tokio::test]
async fn each_policy_failure_is_its_own_message() {
    // Arrange
    let app = spawn_app().await;

    // Act: short, common and numeric at once.
    let r = app.post(REGISTER, &with(ana(Some(EMAIL), None), "password", json!("1234"))).await;

    // Assert
    assert_field_error(&r, "password");
    assert_eq!(r.body["errors"]["password"].as_array().map(Vec::len), Some(3), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicate_registrations_give_exactly_one_201() {
    // Arrange
    let app = spawn_app().await;
    let body = ana(Some(EMAIL), None);

    // Act
    let replies = join_all((0..20).map(|_| app.post(REGISTER, &body))).await;

    // Assert
    let mut created = 0;
    for r in &replies {
        assert!(!r.status.is_server_error(), "{} {}", r.status, r.body);
        if r.status == StatusCode::CREATED {
            assert_envelope(&r.body, true);
            created += 1;
        } else {
            assert_field_error(r, "email");
        }
    }
    assert_eq!(created, 1, "{replies:#?}");
}

#[tokio::test]
async fn registration_returns_the_otp_when_exposed() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let r = app.post(REGISTER, &ana(Some(EMAIL), None)).await;

    // Assert
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_envelope(&r.body, true);
    let otp = text(&r.body["data"]["otp"]);
    assert!(otp.len() == 6 && otp.bytes().all(|b| b.is_ascii_digit()), "{otp}");
}

#[tokio::test]
async fn registration_hides_the_otp_unless_exposed() {
    // Arrange
    let app = spawn_app_with(|c| c.expose_otp = false).await;

    // Act
    let r = app.post(REGISTER, &ana(Some(EMAIL), None)).await;

    // Assert
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_envelope(&r.body, true);
    let data = r.body["data"].as_object().expect("data is an object");
    assert!(!data.contains_key("otp"), "{}", r.body);
}
