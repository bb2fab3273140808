//! The one error type. Its HTTP answer (status, envelope, headers) is
//! made in one place, `http/error.rs`: nothing below the surface knows
//! about HTTP.

use std::collections::BTreeMap;

use serde::Serialize;

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

    /// Every message, field after field.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.0.values().flatten().map(String::as_str)
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
