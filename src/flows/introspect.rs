//! Token introspection for resource servers (contract §17, RFC 7662): a
//! token is active exactly when authgate itself would accept it.

use crate::crypto::ct_eq;
use crate::crypto::jwt::{Claims, TokenType};
use crate::domain::User;
use crate::error::{Error, Result};
use crate::state::Services;

use super::auth::check_access;
use super::tokens::verify_refresh;

/// What an active token says (RFC 7662's members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    pub token_type: TokenType,
    /// The user id.
    pub sub: String,
    pub sid: String,
    /// The user's role now.
    pub role: &'static str,
    pub exp: i64,
    pub iat: i64,
}

/// Whether `presented` is one of `AUTHGATE_INTROSPECTION_TOKENS`, compared
/// in constant time with each of them.
pub fn service_allowed(svc: &Services, presented: &str) -> bool {
    svc.config.introspection_tokens.iter().fold(false, |found, t| found | ct_eq(t.0.as_bytes(), presented.as_bytes()))
}

/// `Some` when `token` is an access token a Bearer request would accept,
/// or the current refresh token of a live session of an active user.
pub async fn introspect(svc: &Services, token: &str) -> Result<Option<Introspection>> {
    match check_access(svc, token).await {
        Ok((claims, principal)) => return Ok(Some(describe(TokenType::Access, claims, &principal.user))),
        Err(Error::Unauthorized(_)) => {}
        Err(e) => return Err(e),
    }
    let Some(presented) = verify_refresh(svc, token) else { return Ok(None) };
    let (user_id, sid) = (presented.user_id, presented.session_id);
    let Some(user) = svc.store.find_user(user_id).await?.filter(User::can_sign_in) else { return Ok(None) };
    let current = svc.store.session_refresh_jti(user_id, sid).await?;
    if current.as_deref() != Some(presented.claims.jti.as_str()) {
        return Ok(None);
    }
    Ok(Some(describe(TokenType::Refresh, presented.claims, &user)))
}

fn describe(token_type: TokenType, claims: Claims, user: &User) -> Introspection {
    Introspection {
        token_type,
        sub: claims.user_id,
        sid: claims.sid.unwrap_or_default(),
        role: user.role.as_str(),
        exp: claims.exp,
        iat: claims.iat,
    }
}
