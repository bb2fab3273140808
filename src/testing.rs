//! What the test suite reads besides the HTTP API: the names of the
//! metrics it scrapes (contract §10).

pub use crate::telemetry::{
    DELIVERIES, HTTP_DURATION, HTTP_REQUESTS, LOGINS, REFRESH_REUSE, THROTTLED, TOKEN_REFRESHES,
};

/// A software authenticator app: the TOTP code of `secret` (base32) at
/// `unix` seconds (contract §15.1).
pub fn totp_code(secret: &str, unix: i64) -> Option<String> {
    crate::crypto::totp::code_at(secret, unix)
}
