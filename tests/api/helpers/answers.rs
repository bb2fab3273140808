//! Reading what the server said: the contract §1 envelope every answer is
//! checked against, field errors, audit events, and `/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{AuditRow, Reply, TestApp};

// ---------------------------------------------------------------- metrics

/// `GET /metrics` on `addr`: a 200 of Prometheus text.
pub async fn scrape(app: &TestApp, addr: SocketAddr) -> String {
    let res = app.request(Method::GET, &format!("http://{addr}/metrics")).send_raw().await.expect("/metrics answers");
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "Content-Type {content_type}");
    assert!(res.headers().contains_key("x-request-id"), "no X-Request-Id on /metrics");
    res.text().await.expect("a body")
}

/// The sum of the samples of `name` whose labels include every one of
/// `labels` (0 when there is none yet).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| *series == name || series.starts_with(&format!("{name}{{")))
        .filter(|(series, _)| labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\""))))
        .map(|(_, value)| value.parse::<f64>().expect("a number"))
        .sum()
}

// ---------------------------------------------------------------- answers

impl Reply {
    pub(super) async fn read(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("the body is read");
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: the body is not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)));
        let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "{status}: Content-Type is {content_type:?}, not application/json: {body}"
        );
        Reply { status, headers, body }
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    /// The fields named under `errors`, sorted.
    pub fn error_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> =
            self.body["errors"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        fields.sort();
        fields
    }
}

/// Contract §1: `success` (as expected), a non-empty `message`, `data` an
/// object or null, `errors` null or field -> non-empty list of strings.
pub fn assert_envelope(body: &Value, success: bool) {
    let obj = body.as_object().unwrap_or_else(|| panic!("the body is not an object: {body}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["data", "errors", "message", "success"], "envelope keys: {body}");
    assert_eq!(body["success"], json!(success), "success: {body}");
    let message = body["message"].as_str().unwrap_or_else(|| panic!("message is not a string: {body}"));
    assert!(!message.trim().is_empty(), "message is empty: {body}");
    assert!(body["data"].is_object() || body["data"].is_null(), "data is neither object nor null: {body}");
    match &body["errors"] {
        Value::Null => {}
        Value::Object(fields) => {
            assert!(!success, "a success carries errors: {body}");
            for (field, messages) in fields {
                let list = messages.as_array().unwrap_or_else(|| panic!("errors.{field} is not a list: {body}"));
                assert!(!list.is_empty(), "errors.{field} is empty: {body}");
                for m in list {
                    assert!(m.as_str().is_some_and(|s| !s.is_empty()), "errors.{field} holds {m}: {body}");
                }
            }
        }
        other => panic!("errors is {other}, neither null nor an object: {body}"),
    }
}

/// A 400 envelope whose `errors` name `field`.
/// A 401 envelope.
pub fn assert_unauthorized(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
    assert_envelope(&r.body, false);
}

pub fn assert_field_error(r: &Reply, field: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "expected a 400 on {field}: {}", r.body);
    assert_envelope(&r.body, false);
    assert!(r.error_fields().iter().any(|f| f == field), "no error on {field}: {}", r.body);
}

/// A JSON string's text (fails the test for anything else).
pub fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("expected a string, got {v}")).to_string()
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Waits (up to 10 s) until `n` events named `action` are stored; returns
/// them. Work a flow does after its answer (a reset request, a resend)
/// records its events later.
pub async fn wait_for_audit(app: &TestApp, action: &str, n: usize) -> Vec<AuditRow> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = app.audit_events(action).await;
        if events.len() >= n {
            return events;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} of {n} {action} events: {events:?}", events.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
