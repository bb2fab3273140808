//! The one place that turns an `Error` into its answer: the status, the
//! §1 envelope and the headers some statuses carry.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::Error;

/// The envelope of contract §1.
pub fn envelope(success: bool, message: &str, data: Value, errors: Value) -> Value {
    json!({"success": success, "message": message, "data": data, "errors": errors})
}

/// A JSON response carrying `body`, serialized once, straight to bytes.
pub fn respond(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        // Our answers are plain structs and maps: only a bug gets here.
        Err(e) => return Error::internal(e).into_response(),
    };
    let mut res = (status, bytes).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

pub(super) fn status(error: &Error) -> StatusCode {
    match error {
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

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = status(&self);
        let (message, data, errors): (String, Value, Value) = match &self {
            Error::Validation(fields) => ("Validation failed.".into(), Value::Null, json!(fields)),
            Error::Conflict(fields) => ("Conflict.".into(), Value::Null, json!(fields)),
            Error::BadRequest(msg) => plain(msg),
            Error::Unauthorized(msg)
            | Error::Forbidden(msg)
            | Error::NotFound(msg)
            | Error::Unavailable(msg)
            | Error::Delayed { message: msg, .. } => plain(msg),
            Error::PayloadTooLarge => plain("Request body is too large (limit 64 KiB)."),
            Error::UnsupportedMediaType => plain("Unsupported media type: send Content-Type: application/json."),
            Error::RequestTimeout => plain("The request body was not received in time."),
            Error::TooManyRequests { retry_after_secs } => {
                plain(&format!("Request was throttled. Expected available in {retry_after_secs} seconds."))
            }
            Error::Internal(cause) => {
                let error_id = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(error_id = %error_id, error = %cause, debug = ?cause, "internal error");
                ("Internal server error.".into(), json!({"error_id": error_id}), Value::Null)
            }
        };
        let mut res = respond(status, &envelope(false, &message, data, errors));
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
