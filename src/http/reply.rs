//! Success answers in the envelope.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::error::{envelope, respond};
use super::schemas::Envelope;

pub fn ok(message: &str, data: impl Serialize) -> Response {
    respond(StatusCode::OK, &Envelope::success(message, data))
}

pub fn created(message: &str, data: impl Serialize) -> Response {
    respond(StatusCode::CREATED, &Envelope::success(message, data))
}

/// The envelope for a status that carries no error of ours (axum's own 405,
/// a 413 from a body limit): keeps the status and headers, adds the body.
pub fn for_status(status: StatusCode) -> Value {
    let reason = status.canonical_reason().unwrap_or("Error");
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed.".to_string(),
        StatusCode::NOT_FOUND => "Not found.".to_string(),
        _ => format!("{reason}."),
    };
    envelope(false, &message, Value::Null, json!({"non_field_errors": [message]}))
}
