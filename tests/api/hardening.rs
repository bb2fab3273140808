//! Findings of the security review that each close one hole: production
//! mode's delivery (contract §8, §14.4), the private SQLite file, the
//! headers of §14.2, and sign-in of unverified accounts (§14.4).

use authgate::Config;
use authgate::config::Env;
use authgate::testing::DELIVERIES;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::helpers::*;

/// Production mode as its refusals allow it: a secret (the harness sets
/// one), throttling on (at rates no test reaches), codes not exposed.
fn production(c: &mut Config) {
    c.env = Env::Production;
    c.throttle_enabled = true;
    c.throttle_burst = "10000/min".parse().unwrap();
    c.throttle_sustained = "10000/min".parse().unwrap();
    c.expose_otp = false;
}

// ------------------------------------------------------ delivery (finding 6)

/// Security review, finding 6: with no SMTP or SMS configured, codes and
/// reset links went to the log and counted as `sent`, in every mode.
#[tokio::test]
async fn in_production_a_message_without_a_channel_is_not_logged_but_audited() {
    // Arrange
    let app = spawn_app_with(production).await;
    let before =
        sample(&scrape(&app, app.addr).await, DELIVERIES, &[("channel", "email"), ("outcome", "undeliverable")]);
    let email = unique_email();

    // Act: a registration (its code) and a reset request (its link).
    let data = app.register(Some(&email), None, PASSWORD).await;
    assert!(data.get("otp").is_none(), "production never exposes the code: {data}");
    let r = app.post(RESET_REQUEST, &json!({ "email_or_phone": email })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Assert: two `undeliverable` events (the reset runs after the answer).
    let user_id = text(&data["user"]["id"]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let events = loop {
        let events = app.audit_events("undeliverable").await;
        let mine: Vec<_> = events.into_iter().filter(|e| e.user_id.as_deref() == Some(user_id.as_str())).collect();
        if mine.len() >= 2 || tokio::time::Instant::now() > deadline {
            break mine;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(events.len(), 2, "{events:?}");
    for e in &events {
        assert_eq!(e.outcome, "failure");
        assert_eq!(e.detail["channel"], "email", "{}", e.detail);
    }
    assert!(messages_to(&email).is_empty(), "nothing was written to the log for {email}");
    let text = scrape(&app, app.addr).await;
    let after = sample(&text, DELIVERIES, &[("channel", "email"), ("outcome", "undeliverable")]);
    assert!(after >= before + 2.0, "{text}");
}

#[tokio::test]
async fn in_development_a_logged_message_counts_as_logged_never_as_sent() {
    // Arrange
    let app = spawn_app().await;
    let email = unique_email();
    let logged = [("channel", "email"), ("outcome", "logged")];
    let text = scrape(&app, app.addr).await;
    let before = sample(&text, DELIVERIES, &logged);

    // Act
    app.register(Some(&email), None, PASSWORD).await;
    wait_for_messages(&email, 1).await;

    // Assert: the log delivery happened, and it is counted as what it was.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = sample(&scrape(&app, app.addr).await, DELIVERIES, &logged);
        if now >= before + 1.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the logged message was not counted as logged");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(app.audit_events("undeliverable").await.is_empty());
}

// ---------------------------------------------------- the file (finding 9)

/// Security review, finding 9: the SQLite file (which holds the generated
/// signing secret) was created readable by everyone.
#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_file_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    // Arrange
    let app = spawn_app_with(|c| c.secret_key = None).await; // the secret lives in the file
    let Some(file) = app.sqlite_file() else { return }; // PostgreSQL: not a file of ours

    // Act: a write, so that the WAL and shared-memory files exist.
    app.register(Some(&unique_email()), None, PASSWORD).await;

    // Assert
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", file.display());
        let mode = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{path}: {e}")).permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{path} has mode {:o}", mode & 0o777);
    }
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_a_secret() {
    let mut config = Config { env: Env::Production, throttle_enabled: true, ..Config::default() };
    config.database_url = "sqlite::memory:".into();
    let err = authgate::App::build(config).await.err().expect("production without a secret does not start");
    assert!(err.to_string().contains("AUTHGATE_SECRET_KEY"), "{err}");
}

// -------------------------------------------------- headers (finding 10)

/// Security review, finding 10: no security headers, no CORS.
#[tokio::test]
async fn every_answer_is_nosniff_and_api_answers_are_not_stored() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(&unique_email()).await;

    // Act
    let answers = [
        ("login", app.post(LOGIN, &json!({"email_or_phone": unique_email(), "password": PASSWORD})).await),
        ("me", app.get(ME, Some(&access)).await),
        ("404", app.get("/no-such-page/", None).await),
        ("405", app.send(Method::DELETE, LOGIN, None, None).await),
        ("healthz", app.get("/healthz", None).await),
    ];

    // Assert
    for (what, r) in &answers {
        assert_eq!(r.headers.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]), "{what}");
        assert_eq!(r.headers.get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]), "{what}");
    }
}

#[tokio::test]
async fn a_listed_origin_gets_cors_and_its_preflight_answers_204() {
    // Arrange
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://shop.example".into()]).await;
    let preflight = |origin: &'static str| {
        app.request(Method::OPTIONS, LOGIN)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, authorization")
            .send_raw()
    };

    // Act
    let allowed = preflight("https://shop.example").await.unwrap();
    let other = preflight("https://evil.example").await.unwrap();
    let r =
        app.send_with_headers(Method::POST, LOGIN, None, Some(&json!({})), &[("origin", "https://shop.example")]).await;

    // Assert
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://shop.example");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST") && methods.contains("PATCH") && methods.contains("DELETE"), "{methods}");
    let headers = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");
    assert!(other.headers().get("access-control-allow-origin").is_none(), "another origin gets no CORS");
    assert_ne!(other.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.headers["access-control-allow-origin"], "https://shop.example");
}

#[tokio::test]
async fn without_listed_origins_there_is_no_cors() {
    let app = spawn_app().await;
    let r =
        app.send_with_headers(Method::POST, LOGIN, None, Some(&json!({})), &[("origin", "https://shop.example")]).await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
}

// ------------------------------------------- unverified accounts (finding 11)

#[tokio::test]
async fn with_require_verified_an_unverified_account_is_told_to_verify_first() {
    // Arrange
    let app = spawn_app_with(|c| c.require_verified = true).await;
    let email = unique_email();
    let data = app.register(Some(&email), None, PASSWORD).await;

    // Act
    let wrong = app.post(LOGIN, &json!({"email_or_phone": email, "password": "not the password"})).await;
    let right = app.post(LOGIN, &json!({"email_or_phone": email, "password": PASSWORD})).await;

    // Assert: a wrong password still tells nothing; the right one says why.
    assert_unauthorized(&wrong, "a wrong password");
    assert_eq!(right.status, StatusCode::FORBIDDEN, "{}", right.body);
    assert_envelope(&right.body, false);
    assert_eq!(right.message(), "Verify your email or phone number before signing in.");
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": email, "otp": data["otp"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.login(&email, PASSWORD).await;
}

#[tokio::test]
async fn by_default_an_unverified_account_signs_in() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;
    app.login(&email, PASSWORD).await;
}
