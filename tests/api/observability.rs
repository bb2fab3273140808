//! Operating authgate: Prometheus metrics, request ids, the access log and
//! graceful shutdown.
//!
//! The metrics registry is one per process and the tests run in parallel in
//! this one, so each test reads how much a series grew across its own
//! requests (or a label only it produces), never an absolute value.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use authgate::config::{MetricsBind, Secret};
use authgate::testing::{HTTP_DURATION, HTTP_REQUESTS, LOGINS, REFRESH_REUSE, THROTTLED, TOKEN_REFRESHES};
use axum::Json;
use axum::extract::State;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;

// ------------------------------------------------------------------ helpers

fn field<'a>(line: &'a [(String, String)], name: &str) -> Option<&'a str> {
    line.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn request_id(r: &Reply) -> String {
    r.headers.get("x-request-id").expect("an X-Request-Id header").to_str().unwrap().to_string()
}

fn fresh_id() -> String {
    format!("obs-{}", uuid::Uuid::new_v4().simple())
}

// ------------------------------------------------------------------ metrics

#[tokio::test]
async fn metrics_count_requests_by_route_template_never_by_raw_path() {
    let app = spawn_app().await;
    let route = [("method", "GET"), ("route", "/api/v2/admin/users/{id}/"), ("status", "401")];
    let before = sample(&scrape(&app, app.addr).await, HTTP_REQUESTS, &route);

    let unknown = uuid::Uuid::new_v4().simple().to_string();
    for _ in 0..3 {
        let r = app.get(&format!("/api/v2/admin/users/{}/", uuid::Uuid::new_v4()), None).await;
        assert_unauthorized(&r, "an admin route without a token");
    }
    let r = app.get(&format!("/no-such-page-{unknown}/"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let text = scrape(&app, app.addr).await;
    assert!(sample(&text, HTTP_REQUESTS, &route) >= before + 3.0, "{text}");
    assert!(sample(&text, HTTP_REQUESTS, &[("route", "unmatched"), ("status", "404")]) >= 1.0, "{text}");
    assert!(!text.contains(&unknown), "a raw path became a label");
    let buckets = format!("{HTTP_DURATION}_bucket");
    assert!(sample(&text, &buckets, &route) >= 3.0, "no latency histogram by route: {text}");
    assert!(text.lines().any(|l| l.starts_with("authgate_hash_queue_depth ")), "no hash queue depth: {text}");
    for state in ["size", "idle", "in_use", "max"] {
        let pool = [("pool", "main"), ("state", state)];
        assert!(
            text.lines().any(|l| l.starts_with("authgate_db_pool_connections{")
                && pool.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))),
            "no pool {state}: {text}"
        );
    }
}

#[tokio::test]
async fn logins_refreshes_and_reuse_are_counted_by_outcome() {
    let app = spawn_app_with(|c| c.refresh_reuse_grace = Duration::ZERO).await;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;
    let text = scrape(&app, app.addr).await;
    let outcomes = ["success", "invalid_credentials"];
    let before: Vec<f64> = outcomes.iter().map(|o| sample(&text, LOGINS, &[("outcome", o)])).collect();
    let (rotated, reused) =
        (sample(&text, TOKEN_REFRESHES, &[("outcome", "rotated")]), sample(&text, REFRESH_REUSE, &[]));

    let (_, refresh) = app.login(&email, PASSWORD).await;
    let r = app.post(LOGIN, &json!({"email_or_phone": email, "password": "not the password"})).await;
    assert_unauthorized(&r, "a wrong password");
    let r = app.post(LOGIN, &json!({"email_or_phone": unique_email(), "password": PASSWORD})).await;
    assert_unauthorized(&r, "an unknown account");
    app.refreshed(&refresh).await;
    assert_unauthorized(&app.refresh(&refresh).await, "a retired refresh token");

    let text = scrape(&app, app.addr).await;
    // A wrong password and an unknown account are one outcome: the metric
    // is no account-existence oracle.
    for ((outcome, before), grew) in outcomes.iter().zip(before).zip([1.0, 2.0]) {
        assert!(sample(&text, LOGINS, &[("outcome", outcome)]) >= before + grew, "{outcome}: {text}");
    }
    for telling in ["unknown_account", "wrong_password"] {
        assert!(!text.contains(&format!("outcome=\"{telling}\"")), "a label tells {telling}: {text}");
    }
    assert!(sample(&text, TOKEN_REFRESHES, &[("outcome", "rotated")]) >= rotated + 1.0, "{text}");
    assert!(sample(&text, REFRESH_REUSE, &[]) >= reused + 1.0, "{text}");
}

#[tokio::test]
async fn a_throttled_request_is_counted_by_scope_and_keeps_its_request_id() {
    let app = spawn_app_with(|c| {
        c.throttle_enabled = true;
        c.throttle_burst = "1/min".parse().unwrap();
    })
    .await;
    let before = sample(&scrape(&app, app.addr).await, THROTTLED, &[("scope", "burst")]);

    app.post(LOGIN, &json!({})).await;
    let id = fresh_id();
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&json!({})), &[("x-request-id", &id)]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(request_id(&r), id);

    let text = scrape(&app, app.addr).await;
    assert!(sample(&text, THROTTLED, &[("scope", "burst")]) >= before + 1.0, "{text}");
    assert!(sample(&text, HTTP_REQUESTS, &[("route", "/api/v1/auth/login/"), ("status", "429")]) >= 1.0);
}

#[tokio::test]
async fn with_a_metrics_address_metrics_are_served_there_only() {
    let s = spawn_stoppable_app(|c| c.metrics_bind = MetricsBind::Separate("127.0.0.1:0".parse().unwrap())).await;
    let metrics_addr = s.metrics_addr.expect("the metrics address is bound");

    let r = s.app.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "/metrics is still on the main address");
    assert_envelope(&r.body, false);
    let text = scrape(&s.app, metrics_addr).await;
    assert!(sample(&text, HTTP_REQUESTS, &[("route", "unmatched"), ("status", "404")]) >= 1.0, "{text}");
    let other = s.app.request(Method::GET, &format!("http://{metrics_addr}/api/v1/auth/me/")).send_raw().await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "the metrics address serves only /metrics");

    s.stop.send(()).unwrap();
    s.served.await.unwrap().expect("a clean stop");
}

/// Security review, finding 3: `/metrics` on the public address told
/// unknown accounts from wrong passwords. By default it has a listener of
/// its own (127.0.0.1:9464), and the main address has no `/metrics`.
#[tokio::test]
async fn by_default_metrics_are_not_served_on_the_main_address() {
    let default = authgate::Config::default().metrics_bind;
    assert_eq!(default, MetricsBind::Separate("127.0.0.1:9464".parse().unwrap()));
    let app = spawn_app_with(|c| c.metrics_bind = default).await;
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_envelope(&r.body, false);
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(|c| c.metrics_enabled = false).await;
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_envelope(&r.body, false);
}

// -------------------------------------------------------------- request ids

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_a_missing_one_generated() {
    let app = spawn_app().await;
    let id = fresh_id();
    for (method, path) in [(Method::GET, "/healthz/"), (Method::GET, "/nowhere/"), (Method::PUT, LOGIN)] {
        let r = app.send_with_headers(method.clone(), path, None, None, &[("x-request-id", &id)]).await;
        assert_eq!(request_id(&r), id, "{method} {path} ({})", r.status);
    }
    for path in ["/healthz/", "/nowhere/"] {
        let r = app.get(path, None).await;
        let generated = request_id(&r);
        assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{path}: generated id {generated:?} is not a UUID");
    }
    let a = request_id(&app.get("/healthz/", None).await);
    let b = request_id(&app.get("/healthz/", None).await);
    assert_ne!(a, b, "each request gets an id of its own");
}

#[tokio::test]
async fn an_unusable_request_id_is_replaced() {
    let app = spawn_app().await;
    let too_long = "x".repeat(129);
    for bad in ["with space", "tab\there", too_long.as_str(), ""] {
        let r = app.send_with_headers(Method::GET, "/healthz/", None, None, &[("x-request-id", bad)]).await;
        assert_eq!(r.status, StatusCode::OK);
        let id = request_id(&r);
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{bad:?} was replaced by {id:?}");
    }
}

// --------------------------------------------------------------- access log

#[tokio::test]
async fn every_request_has_one_access_line_without_secrets() {
    let app = spawn_app().await;
    let email = unique_email();
    let data = app.register(Some(&email), None, PASSWORD).await;
    let user_id = text(&data["user"]["id"]);

    let login_id = fresh_id();
    let body = json!({"email_or_phone": email, "password": PASSWORD});
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &[("x-request-id", &login_id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (access, refresh) = (text(&r.body["data"]["access"]), text(&r.body["data"]["refresh"]));
    let me_id = fresh_id();
    let r = app.send_with_headers(Method::GET, ME, Some(&access), None, &[("x-request-id", &me_id)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let missing_id = fresh_id();
    app.send_with_headers(Method::GET, "/no/such/route/", None, None, &[("x-request-id", &missing_id)]).await;

    let login = access_line(&login_id).await;
    assert_eq!(field(&login, "method"), Some("POST"));
    assert_eq!(field(&login, "route"), Some(LOGIN));
    assert_eq!(field(&login, "status"), Some("200"));
    assert_eq!(field(&login, "client_ip"), Some("127.0.0.1"));
    let latency: f64 = field(&login, "latency_ms").expect("a latency").parse().unwrap();
    assert!(latency > 0.0);

    let me = access_line(&me_id).await;
    assert_eq!(field(&me, "route"), Some(ME));
    assert_eq!(field(&me, "user_id"), Some(user_id.as_str()), "the signed-in caller: {me:?}");

    let missing = access_line(&missing_id).await;
    assert_eq!(field(&missing, "route"), Some("unmatched"));
    assert_eq!(field(&missing, "status"), Some("404"));

    for line in [&login, &me, &missing] {
        for (name, value) in line {
            for secret in [PASSWORD, access.as_str(), refresh.as_str()] {
                assert!(!value.contains(secret), "{name} holds a secret: {line:?}");
            }
        }
    }
}

// ----------------------------------------------------------------- shutdown

/// An SMS webhook that takes `delay` to answer, keeping each call.
async fn slow_sms_webhook(delay: Duration) -> (String, Arc<Mutex<Vec<Value>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/sms",
            axum::routing::post(move |State(calls): State<Arc<Mutex<Vec<Value>>>>, Json(v): Json<Value>| async move {
                tokio::time::sleep(delay).await;
                calls.lock().unwrap().push(v);
                "ok"
            }),
        )
        .with_state(calls.clone());
    (format!("http://{}/sms", super::sinks::serve(app).await), calls)
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_flushes_the_delivery_queue() {
    let (webhook, texts) = slow_sms_webhook(Duration::from_secs(3)).await;
    let s = spawn_stoppable_app(|c| {
        c.sms_webhook_url = Some(Secret(webhook));
        c.shutdown_timeout = Duration::from_secs(30);
    })
    .await;
    let app = &s.app;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;
    // Its code goes to the slow webhook: still being sent at the signal.
    app.register(None, Some(PHONE), PASSWORD).await;

    // A login held up by a write lock: in flight at the signal.
    let lock = app.hold_write_lock().await;
    let body = json!({"email_or_phone": email, "password": PASSWORD});
    let slow = tokio::spawn(app.request(Method::POST, LOGIN).json(Some(&body)).send_raw());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!slow.is_finished(), "the login was not held up");

    s.stop.send(()).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(app.addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "new connections are still accepted after the signal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!slow.is_finished(), "the login in flight was cut off");

    lock.release().await;
    let answered = slow.await.unwrap().expect("the login in flight is answered");
    assert_eq!(answered.status(), StatusCode::OK);
    let stopped = tokio::time::timeout(Duration::from_secs(30), s.served).await.expect("serve returns");
    stopped.unwrap().expect("a clean stop");
    let sent = texts.lock().unwrap().clone();
    assert!(sent.iter().any(|t| t["to"] == PHONE), "the queued SMS was not sent before serve returned: {sent:?}");
}
