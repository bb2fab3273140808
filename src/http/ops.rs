//! Operational routes and the catch-alls that keep every answer an envelope.

use super::error::respond;
use super::reply::{for_status, ok};
use super::schemas::{Envelope, ErrorEnvelope, Health, Ready};
use crate::error::Error;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "The process is up.", body = Envelope<Health>),
))]
pub async fn healthz() -> Response {
    ok("OK.", Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "The database answers.", body = Envelope<Ready>),
    (status = 503, description = "The database is not reachable.", body = ErrorEnvelope),
))]
pub async fn readyz(State(svc): State<AppState>) -> Response {
    if svc.store.ping().await {
        ok("Ready.", Ready { status: "ready", database: "ok" })
    } else {
        tracing::error!("readiness check failed: the database does not answer");
        Error::Unavailable("The database is not reachable.").into_response()
    }
}

pub async fn not_found() -> Error {
    Error::NotFound("Not found.")
}

/// Gives an envelope to error answers produced below our handlers (axum's
/// 405 with its `Allow` header, for one), keeping status and headers.
pub async fn envelope_bare_errors(req: Request<Body>, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    // The dashboard's error pages are HTML (§1's exception, §19).
    let own_body = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || own_body {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let fresh = respond(status, &for_status(status));
    parts.headers.insert(CONTENT_TYPE, fresh.headers()[CONTENT_TYPE].clone());
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, fresh.into_body())
}

/// A handler that panicked still answers the §1 envelope: a 500 whose
/// `error_id` matches the log line.
pub fn panic_to_envelope(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    Error::internal(format!("handler panicked: {detail}")).into_response()
}
