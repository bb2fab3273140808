//! The one error type, and the one place that turns it into the envelope.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Field name -> messages, as DRF reports validation errors.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_string()).or_default().push(message.into());
    }

    pub fn extend(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was added, else the collected 400.
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() { Ok(()) } else { Err(Error::Validation(self)) }
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 with per-field messages.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// 400 not tied to a field (bad JSON, a malformed request).
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound(&'static str),
    #[error("conflict")]
    Conflict(FieldErrors),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 408: a request body that did not arrive within `AUTHGATE_BODY_TIMEOUT`.
    #[error("request timeout")]
    RequestTimeout,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 429 with a message of its own, not the throttle's (§14.1's delay).
    #[error("too many attempts: {message}")]
    Delayed { message: &'static str, retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    /// Anything unexpected. The cause is logged with an id; the client sees
    /// only the id.
    #[error(transparent)]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(e.into())
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::Validation(FieldErrors::single(field, message))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Validation(_) | Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::TooManyRequests { .. } | Error::Delayed { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(Box::new(e))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(Box::new(e))
    }
}

/// The envelope of contract §1.
pub fn envelope(success: bool, message: &str, data: Value, errors: Value) -> Value {
    json!({"success": success, "message": message, "data": data, "errors": errors})
}

/// A JSON response carrying the envelope.
pub fn respond(status: StatusCode, body: Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, data, errors): (String, Value, Value) = match &self {
            Error::Validation(fields) => ("Validation failed.".into(), Value::Null, json!(fields)),
            Error::Conflict(fields) => ("Conflict.".into(), Value::Null, json!(fields)),
            Error::BadRequest(msg) => (msg.clone(), Value::Null, json!({"non_field_errors": [msg]})),
            Error::Unauthorized(msg)
            | Error::Forbidden(msg)
            | Error::NotFound(msg)
            | Error::Unavailable(msg)
            | Error::Delayed { message: msg, .. } => (msg.to_string(), Value::Null, json!({"non_field_errors": [msg]})),
            Error::PayloadTooLarge => plain("Request body is too large (limit 64 KiB)."),
            Error::UnsupportedMediaType => plain("Unsupported media type: send Content-Type: application/json."),
            Error::RequestTimeout => plain("The request body was not received in time."),
            Error::TooManyRequests { retry_after_secs } => {
                let msg = format!("Request was throttled. Expected available in {retry_after_secs} seconds.");
                (msg.clone(), Value::Null, json!({"non_field_errors": [msg]}))
            }
            Error::Internal(cause) => {
                let error_id = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(error_id = %error_id, error = %cause, debug = ?cause, "internal error");
                ("Internal server error.".into(), json!({"error_id": error_id}), Value::Null)
            }
        };
        let mut res = respond(status, envelope(false, &message, data, errors));
        match self {
            Error::Unauthorized(_) => {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"api\""));
            }
            Error::TooManyRequests { retry_after_secs } | Error::Delayed { retry_after_secs, .. } => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        res
    }
}

fn plain(msg: &str) -> (String, Value, Value) {
    (msg.to_string(), Value::Null, json!({"non_field_errors": [msg]}))
}
