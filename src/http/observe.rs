//! The outermost layer: every request gets an id (the caller's
//! `X-Request-Id` when it is sane, else a fresh UUID) echoed on the answer,
//! one access line on the `authgate::access` target, and its count and
//! latency under its route template. Also the `/metrics` handler.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;
use uuid::Uuid;

use super::client_ip;
use crate::state::AppState;
use crate::telemetry;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longer incoming ids are replaced: they would bloat every log line.
const MAX_REQUEST_ID: usize = 128;

/// Where the Bearer extractor notes who is calling, for the access line.
#[derive(Debug, Clone, Default)]
struct Caller(Arc<OnceLock<String>>);

/// Records the signed-in user of this request on its access line and its
/// log span. Called by the `Auth` extractor.
pub fn note_user(extensions: &axum::http::Extensions, user_id: &crate::domain::UserId) {
    if let Some(caller) = extensions.get::<Caller>() {
        let _ = caller.0.set(user_id.to_string());
    }
    tracing::Span::current().record("user_id", tracing::field::display(user_id));
}

/// The caller's id if it is 1 to 128 visible ASCII characters; anything
/// else (control characters, spaces, non-ASCII, too long) is replaced, so
/// no client can forge log lines or headers through it.
fn incoming_id(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(REQUEST_ID)?.as_bytes();
    let sane = !raw.is_empty() && raw.len() <= MAX_REQUEST_ID && raw.iter().all(|b| b.is_ascii_graphic());
    sane.then(|| String::from_utf8_lossy(raw).into_owned())
}

pub async fn observe(State(svc): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = incoming_id(req.headers()).unwrap_or_else(|| Uuid::new_v4().to_string());
    let header = HeaderValue::from_str(&request_id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert(REQUEST_ID, header.clone());
    let caller = Caller::default();
    req.extensions_mut().insert(caller.clone());
    let method = req.method().as_str().to_owned();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let ip = (req.extensions().get::<ConnectInfo<SocketAddr>>())
        .map(|c| client_ip(c.0.ip(), req.headers(), &svc.config.trusted_proxies));

    let span = tracing::info_span!("request", request_id = %request_id, user_id = tracing::field::Empty);
    let mut res = next.run(req).instrument(span).await;
    res.headers_mut().insert(REQUEST_ID, header);

    let elapsed = started.elapsed();
    let route = route.as_deref().unwrap_or(telemetry::UNMATCHED_ROUTE);
    let status = res.status().as_u16();
    if svc.config.metrics_enabled {
        telemetry::http_request(&method, route, status, elapsed);
    }
    access_line(&AccessLine {
        method: &method,
        route,
        status,
        latency_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        request_id: &request_id,
        client_ip: ip,
        user_id: caller.0.get().map(String::as_str),
    });
    res
}

/// What the access line says. The raw path and query are left out: the
/// route template says which endpoint, and a query could carry a secret.
struct AccessLine<'a> {
    method: &'a str,
    route: &'a str,
    status: u16,
    latency_ms: f64,
    request_id: &'a str,
    client_ip: Option<IpAddr>,
    user_id: Option<&'a str>,
}

fn access_line(line: &AccessLine<'_>) {
    let ip = line.client_ip.map(|ip| ip.to_string());
    tracing::info!(
        target: "authgate::access",
        method = line.method,
        route = line.route,
        status = line.status,
        latency_ms = line.latency_ms,
        request_id = line.request_id,
        client_ip = ip.as_deref(),
        user_id = line.user_id,
        "request"
    );
}

/// Prometheus text for a scrape. The gauges that read this app's own
/// state are set first: the registry is shared by every app in the process.
pub async fn metrics(State(svc): State<AppState>) -> Response {
    let handle = telemetry::install();
    telemetry::hash_queue_depth(svc.hashing.depth());
    for (pool, usage) in svc.store.pool_usage() {
        telemetry::db_pool(pool, usage.size, usage.idle, usage.in_use(), usage.max);
    }
    let mut body = handle.render();
    body.push_str(&own_samples(&svc));
    ([(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], body).into_response()
}

/// This app's revocation feed and store operations (race-free: not set in
/// the shared registry, which another app's scrape may be setting).
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn own_samples(svc: &AppState) -> String {
    let r = svc.store.revocations().stats();
    telemetry::own_samples(&[
        (
            telemetry::REVOCATION_FEED_UP,
            "gauge",
            "1 while the revocation feed is caught up and Bearer checks read memory; 0 while they read the database",
            if r.up { 1.0 } else { 0.0 },
        ),
        (
            telemetry::REVOCATION_FALLBACKS,
            "counter",
            "Interruptions of the revocation feed (each put Bearer checks on the database until caught up)",
            r.fallbacks as f64,
        ),
        (
            telemetry::REVOCATION_DATABASE_CHECKS,
            "counter",
            "Bearer checks memory could not answer (feed down, user not cached yet)",
            r.database_checks as f64,
        ),
        (telemetry::REVOCATION_ROWS, "counter", "Rows of the revocation feed applied", r.rows as f64),
        (telemetry::REVOCATION_REVOKED_SESSIONS, "gauge", "Revoked sessions held in memory", r.revoked_sessions as f64),
        (telemetry::REVOCATION_CACHED_USERS, "gauge", "Users cached for the Bearer check", r.cached_users as f64),
        (
            telemetry::STORE_OPERATIONS,
            "counter",
            "Operations asked of the database by requests and background work",
            svc.store.operations() as f64,
        ),
    ])
}

/// `/metrics` added to `router` when metrics are on and not served on an
/// address of their own.
pub fn with_metrics(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    if state.config.metrics_enabled && state.config.metrics_bind == crate::config::MetricsBind::Main {
        router.route("/metrics", get(metrics))
    } else {
        router
    }
}

/// The router of `AUTHGATE_METRICS_BIND`: `/metrics` and envelope 404s.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(super::ops::not_found)
        .layer(middleware::from_fn(super::ops::envelope_bare_errors))
        .layer(middleware::from_fn_with_state(state.clone(), super::headers::headers))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::LogFormat;

    fn with_id(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn only_sane_incoming_ids_are_kept() {
        assert_eq!(incoming_id(&with_id(b"abc-123_X.y:z")), Some("abc-123_X.y:z".into()));
        assert_eq!(incoming_id(&with_id(&[b'a'; 128])).map(|s| s.len()), Some(128));
        for bad in [&b""[..], b"has space", b"tab\there", &[b'a'; 129], "caf\u{e9}".as_bytes()] {
            assert_eq!(incoming_id(&with_id(bad)), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(incoming_id(&HeaderMap::new()), None);
    }

    #[test]
    fn in_json_the_access_line_is_one_object_with_every_field() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let writer = move || Sink(sink.clone());
        let subscriber = telemetry::log_subscriber(LogFormat::Json, "info", writer);
        tracing::subscriber::with_default(subscriber, || {
            access_line(&AccessLine {
                method: "GET",
                route: "/api/v1/auth/me/",
                status: 200,
                latency_ms: 1.25,
                request_id: "req-1",
                client_ip: Some("203.0.113.9".parse().unwrap()),
                user_id: Some("0190-user"),
            });
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["target"], "authgate::access");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["route"], "/api/v1/auth/me/");
        assert_eq!(v["status"], 200);
        assert_eq!(v["latency_ms"], 1.25);
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["client_ip"], "203.0.113.9");
        assert_eq!(v["user_id"], "0190-user");
    }

    async fn boom() -> &'static str {
        panic!("on purpose")
    }

    #[tokio::test]
    async fn a_panic_still_answers_with_the_request_id() {
        use tower::ServiceExt;
        let dir = std::env::temp_dir().join(format!("authgate-observe-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = crate::Config {
            database_url: format!("sqlite://{}", dir.join("t.db").display()),
            secret_key: Some(crate::config::Secret("x".repeat(32))),
            ..crate::Config::default()
        };
        let state = crate::Services::build(config).await.unwrap();
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(super::super::ops::panic_to_envelope))
            .layer(middleware::from_fn_with_state(state.clone(), observe))
            .with_state(state.clone());
        let req = axum::http::Request::get("/boom").header(REQUEST_ID, "boom-1").body(axum::body::Body::empty());
        let res = app.oneshot(req.unwrap()).await.unwrap();
        assert_eq!(res.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()[REQUEST_ID], "boom-1");
        state.store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
