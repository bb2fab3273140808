//! What the test suite reads besides the HTTP API: the names of the
//! metrics it scrapes (contract §10).

pub use crate::telemetry::{
    DELIVERIES, HTTP_DURATION, HTTP_REQUESTS, LOGINS, REFRESH_REUSE, SMS_TEXTS, THROTTLED, TOKEN_REFRESHES,
};

/// A software authenticator app: the TOTP code of `secret` (base32) at
/// `unix` seconds (contract §15.1).
pub fn totp_code(secret: &str, unix: i64) -> Option<String> {
    crate::crypto::totp::code_at(secret, unix)
}

/// Creates a verified admin in a built app's database, as `authgate
/// createsuperuser` does: the fuzz targets' in-memory database has no
/// other way in.
#[doc(hidden)]
pub async fn create_admin(
    app: &crate::App,
    email: crate::domain::Email,
    password: crate::domain::Password,
) -> Result<crate::domain::User, crate::Error> {
    crate::flows::admin::create_superuser(&app.services, email, None, password).await
}

/// Whether §20's challenge lets a request for `login` from `ip` through
/// without a proof (the check a sign-in makes first): the benchmarks time
/// it apart from the password's hash.
#[doc(hidden)]
pub async fn passes_without_proof(app: &crate::App, login: &str, ip: std::net::IpAddr) -> bool {
    let client = crate::domain::ClientInfo { ip: Some(ip), user_agent: None };
    crate::flows::bots::guard(&app.services, &Default::default(), &[login], &client).await.is_ok()
}

/// The search of a breached-password file (contract §20), for benchmarks
/// of it against a full Pwned Passwords file.
#[doc(hidden)]
pub use crate::defence::breached::BreachedFile;
