//! Contract §§1-2: where each feature lives, and an envelope for every
//! answer whatever was sent.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;

/// A feature as the route table of §2 lists it, with what an anonymous
/// request with an empty JSON object gets from its handler: the status and
/// the field the answer's `errors` name. A 404 or 405 would mean the route
/// is missing.
struct Feature {
    versioned: &'static str,
    legacy: Option<&'static str>,
    method: Method,
    status: StatusCode,
    field: &'static str,
}

fn features() -> Vec<Feature> {
    let f = |versioned, legacy, method, status, field| Feature { versioned, legacy, method, status, field };
    vec![
        f("/auth/login/", Some("/auth/login/"), Method::POST, StatusCode::BAD_REQUEST, "email_or_phone"),
        f("/auth/register/", Some("/auth/register/"), Method::POST, StatusCode::BAD_REQUEST, "first_name"),
        f("/auth/logout/", Some("/auth/logout/"), Method::POST, StatusCode::UNAUTHORIZED, "non_field_errors"),
        f("/auth/token/refresh/", Some("/auth/token/refresh/"), Method::POST, StatusCode::BAD_REQUEST, "refresh"),
        f("/auth/verify-otp/", None, Method::POST, StatusCode::BAD_REQUEST, "otp"),
        f("/auth/resend-otp/", None, Method::POST, StatusCode::BAD_REQUEST, "email_or_phone"),
        f("/auth/me/", None, Method::GET, StatusCode::UNAUTHORIZED, "non_field_errors"),
        f("/auth/me/", None, Method::PATCH, StatusCode::UNAUTHORIZED, "non_field_errors"),
    ]
}

/// Every mount of a feature, each with and without its trailing slash.
fn mounts(feature: &Feature) -> Vec<String> {
    let mut paths = vec![format!("/api/v1{}", feature.versioned), format!("/api/v2{}", feature.versioned)];
    paths.extend(feature.legacy.map(str::to_string));
    paths.iter().flat_map(|p| [p.clone(), p.trim_end_matches('/').to_string()]).collect()
}

#[tokio::test]
async fn every_feature_is_reachable_under_v1_v2_and_legacy_paths_with_and_without_trailing_slash() {
    // Arrange
    let app = spawn_app().await;

    for feature in features() {
        for path in mounts(&feature) {
            // Act
            let r = app.send(feature.method.clone(), &path, None, Some(&json!({}))).await;

            // Assert
            assert_eq!(r.status, feature.status, "{} {path}: {}", feature.method, r.body);
            assert_envelope(&r.body, false);
            assert!(r.error_fields().iter().any(|f| f == feature.field), "{} {path}: {}", feature.method, r.body);
        }
    }
}

#[tokio::test]
async fn login_works_the_same_under_every_mount() {
    // Arrange
    let app = spawn_app().await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let login = features().into_iter().next().expect("login is listed first");
    let body = json!({"email_or_phone": EMAIL, "password": PASSWORD});

    for path in mounts(&login) {
        // Act
        let r = app.post(&path, &body).await;

        // Assert
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_envelope(&r.body, true);
        assert_eq!(r.body["data"]["user"]["email"], json!(EMAIL), "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_get_a_404_envelope() {
    // Arrange
    let app = spawn_app().await;
    let paths = [
        "/",
        "/nope",
        "/api/v1/nope/",
        "/api/v3/auth/login/",
        "/api/v1/auth/login/extra/",
        // §2 lists no legacy path for these.
        "/auth/verify-otp/",
        "/auth/resend-otp/",
        "/auth/me/",
    ];

    for path in paths {
        // Act
        let r = app.get(path, None).await;
        let posted = app.post(path, &json!({})).await;

        // Assert
        for r in [r, posted] {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
            assert_envelope(&r.body, false);
        }
    }
}

#[tokio::test]
async fn a_known_path_with_the_wrong_method_gets_a_405_with_allow() {
    // Arrange
    let app = spawn_app().await;
    let cases = [
        (Method::GET, "/api/v1/auth/login/", "POST"),
        (Method::PUT, "/api/v2/auth/register", "POST"),
        (Method::DELETE, "/auth/token/refresh/", "POST"),
        (Method::GET, "/auth/logout", "POST"),
        (Method::DELETE, "/api/v1/auth/me/", "PATCH"),
        (Method::POST, "/api/v2/auth/me", "GET"),
        (Method::POST, "/healthz", "GET"),
    ];

    for (method, path, allowed) in cases {
        // Act
        let r = app.send(method.clone(), path, None, None).await;

        // Assert
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {}", r.body);
        assert_envelope(&r.body, false);
        let allow = r.headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(allow.split(',').any(|m| m.trim() == allowed), "{method} {path}: Allow is {allow:?}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_a_415() {
    // Arrange
    let app = spawn_app().await;
    let json_text = r#"{"email_or_phone": "ana@example.com", "password": "x"}"#;
    let cases = [
        (Some("application/x-www-form-urlencoded"), "email_or_phone=ana%40example.com&password=x"),
        (Some("multipart/form-data; boundary=x"), "--x\r\n\r\n--x--"),
        (Some("text/plain"), json_text),
        (None, json_text),
    ];

    for (content_type, body) in cases {
        // Act
        let r = app.post_raw(LOGIN, content_type, body).await;

        // Assert
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}: {}", r.body);
        assert_envelope(&r.body, false);
    }
}

#[tokio::test]
async fn json_with_a_charset_or_a_json_suffix_is_accepted() {
    // Arrange
    let app = spawn_app().await;
    let body = r#"{"email_or_phone": "nobody@example.com", "password": "whatever-it-is"}"#;

    for content_type in ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"] {
        // Act
        let r = app.post_raw(LOGIN, Some(content_type), body).await;

        // Assert: parsed, so judged on the credentials.
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{content_type}: {}", r.body);
        assert_envelope(&r.body, false);
    }
}

#[tokio::test]
async fn invalid_json_gets_a_400_saying_it_could_not_be_parsed() {
    // Arrange
    let app = spawn_app().await;

    for body in [r#"{"email_or_phone": "#, "{not json}", r#"{"a": 1,}"#, "\u{FEFF}{}"] {
        // Act
        let r = app.post_raw(LOGIN, Some("application/json"), body).await;

        // Assert
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.body);
        assert_envelope(&r.body, false);
        let message = r.message().to_lowercase();
        assert!(message.contains("json") && message.contains("pars"), "{body:?}: {}", r.body);
    }
}

#[tokio::test]
async fn a_json_body_that_is_not_an_object_gets_a_400() {
    // Arrange
    let app = spawn_app().await;

    for body in ["[]", r#"[{"email_or_phone": "ana@example.com"}]"#, "null", "42", r#""text""#, "true"] {
        // Act
        let r = app.post_raw(LOGIN, Some("application/json"), body).await;

        // Assert
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_envelope(&r.body, false);
    }
}

#[tokio::test]
async fn a_body_over_64_kib_gets_a_413() {
    // Arrange
    let app = spawn_app().await;
    let big = json!({"email_or_phone": "x".repeat(64 * 1024), "password": "x"}).to_string();

    // Act
    let r = app.post_raw(LOGIN, Some("application/json"), big).await;

    // Assert
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_envelope(&r.body, false);
}

#[tokio::test]
async fn a_body_just_under_64_kib_is_read() {
    // Arrange
    let app = spawn_app().await;
    let padding = 64 * 1024 - 100;
    let body = json!({"email_or_phone": "nobody@example.com", "password": "x", "padding": "p".repeat(padding)});

    // Act
    let r = app.post_raw(LOGIN, Some("application/json"), body.to_string()).await;

    // Assert
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_envelope(&r.body, false);
}

#[tokio::test]
async fn a_field_of_the_wrong_type_gets_a_400_on_that_field() {
    // Arrange
    let app = spawn_app().await;
    let cases = [
        (LOGIN, json!({"email_or_phone": 123, "password": PASSWORD}), "email_or_phone"),
        (LOGIN, json!({"email_or_phone": EMAIL, "password": true}), "password"),
        (REGISTER, json!({"email": EMAIL, "first_name": ["Ana"], "password": PASSWORD}), "first_name"),
        (REGISTER, json!({"email": EMAIL, "first_name": "Ana", "password": PASSWORD, "role": 1}), "role"),
        (REGISTER, json!({"email": {"address": EMAIL}, "first_name": "Ana", "password": PASSWORD}), "email"),
        (REFRESH, json!({"refresh": {"token": "x"}}), "refresh"),
        (VERIFY_OTP, json!({"email_or_phone": EMAIL, "otp": 123456}), "otp"),
        (RESEND_OTP, json!({"email_or_phone": 4155552671u64}), "email_or_phone"),
    ];

    for (path, body, field) in cases {
        // Act
        let r = app.post(path, &body).await;

        // Assert
        assert_field_error(&r, field);
    }
}

#[tokio::test]
async fn every_kind_of_answer_is_sent_as_application_json() {
    // Arrange
    let app = spawn_app().await;
    let login = json!({"email_or_phone": EMAIL, "password": PASSWORD});

    // Act
    let answers = [
        (
            StatusCode::CREATED,
            app.post(REGISTER, &json!({"email": EMAIL, "password": PASSWORD, "first_name": "Ana"})).await,
        ),
        (StatusCode::OK, app.post(LOGIN, &login).await),
        (StatusCode::BAD_REQUEST, app.post(LOGIN, &json!({})).await),
        (StatusCode::UNAUTHORIZED, app.get(ME, None).await),
        (StatusCode::NOT_FOUND, app.get("/nope", None).await),
        (StatusCode::METHOD_NOT_ALLOWED, app.get(LOGIN, None).await),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, app.post_raw(LOGIN, Some("text/plain"), "x").await),
        (StatusCode::PAYLOAD_TOO_LARGE, app.post_raw(LOGIN, Some("application/json"), "x".repeat(70_000)).await),
    ];

    // Assert: reading a reply already requires application/json.
    for (status, r) in answers {
        assert_eq!(r.status, status, "{}", r.body);
        assert_envelope(&r.body, status.is_success());
        assert_eq!(r.headers["content-type"], "application/json");
    }
}

#[tokio::test]
async fn a_database_failure_is_a_500_envelope_with_an_error_id_and_no_internals() {
    // Arrange
    let app = spawn_app().await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    app.drop_audit_table().await;

    // Act
    let r = app.post(LOGIN, &json!({"email_or_phone": EMAIL, "password": PASSWORD})).await;

    // Assert
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert_envelope(&r.body, false);
    assert!(r.body["data"]["error_id"].as_str().is_some_and(|id| !id.is_empty()), "{}", r.body);
    let leaked = r.body.to_string().to_lowercase();
    for internal in ["audit_events", "sql", "table", "/tmp", ".rs", "panicked"] {
        assert!(!leaked.contains(internal), "{internal:?} leaked: {}", r.body);
    }
}

#[tokio::test]
async fn healthz_answers_200() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let r = app.get("/healthz", None).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
}

#[tokio::test]
async fn readyz_answers_200_when_the_database_answers() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let r = app.get("/readyz", None).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
}

/// Bodies no client should send, as raw bytes. Each is wrong for every POST
/// endpoint: no valid identifier, no valid token, no valid code.
fn junk_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let every_field = |v: Value| {
        let fields =
            ["email_or_phone", "password", "email", "phone", "first_name", "last_name", "role", "refresh", "otp"];
        Value::Object(fields.iter().map(|f| (f.to_string(), v.clone())).collect()).to_string().into_bytes()
    };
    let long = "a".repeat(5000);
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_object = format!("{}1{}", r#"{"email_or_phone":"#.repeat(500), "}".repeat(500));
    vec![
        ("empty", b"".to_vec()),
        ("whitespace", b" \n\t ".to_vec()),
        ("null", b"null".to_vec()),
        ("number", b"123".to_vec()),
        ("string", br#""str""#.to_vec()),
        ("array", br#"[{"email_or_phone": "ana@example.com"}]"#.to_vec()),
        ("null fields", every_field(Value::Null)),
        ("empty strings", every_field(json!(""))),
        ("5000-char strings", every_field(json!(long))),
        ("5000-char address", every_field(json!(format!("{long}@example.com")))),
        ("unicode", every_field(json!("ünïcødé 漢字 🙂 \u{202e}\u{200b}"))),
        ("151 CJK characters", every_field(json!("漢".repeat(151)))),
        ("NUL characters", every_field(json!("\u{0000}ana@example.com\u{0000}"))),
        ("control characters", every_field(json!("\u{0007}\u{001b}[31m\r\n"))),
        ("nested objects", every_field(json!({"a": {"b": [1, {"c": null}]}}))),
        ("lists", every_field(json!(["ana@example.com"]))),
        ("numbers", every_field(json!(1.5e300))),
        ("booleans", every_field(json!(false))),
        ("huge number", br#"{"email_or_phone": 1e400}"#.to_vec()),
        ("deep nesting", deep.into_bytes()),
        ("deep objects", deep_object.into_bytes()),
        ("lone surrogate", br#"{"email_or_phone": "\ud800"}"#.to_vec()),
        ("raw NUL byte", b"{\"email_or_phone\": \"a\x00b\"}".to_vec()),
        ("invalid UTF-8", b"{\"email_or_phone\": \"\xff\xfe\"}".to_vec()),
        (
            "5000-byte password",
            json!({"email_or_phone": "not-an-address", "email": "junk@example.com", "first_name": "Ana",
                   "password": "p".repeat(5000), "refresh": "x", "otp": "12345a"})
            .to_string()
            .into_bytes(),
        ),
    ]
}

#[tokio::test]
async fn junk_bodies_get_a_4xx_envelope_from_every_post_endpoint() {
    // Arrange: logout reads its body only for a signed-in caller.
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let endpoints = [LOGIN, REGISTER, LOGOUT, REFRESH, VERIFY_OTP, RESEND_OTP];

    for (name, body) in junk_bodies() {
        for path in endpoints {
            // Act
            let r = app.post_raw_as(Some(&access), path, Some("application/json"), body.clone()).await;

            // Assert
            assert!(r.status.is_client_error(), "{name} to {path}: {} {}", r.status, r.body);
            assert_envelope(&r.body, false);
        }
    }
}
