//! Issuing and rotating token pairs (contract §4).

use chrono::{DateTime, Utc};

use super::{auth, unix};
use crate::crypto::jwt::{Claims, TokenType, claims};
use crate::domain::device::device_label;
use crate::domain::session::{NewSession, RefreshState, Rotate, Rotation};
use crate::domain::{ClientInfo, Jti, SessionId, User, UserId};
use crate::error::{Error, Result};
use crate::state::Services;
use crate::telemetry;

pub use super::auth::INVALID_TOKEN;

#[derive(Clone)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenPair(***)")
    }
}

fn refresh_state(svc: &Services, now: DateTime<Utc>) -> RefreshState {
    let iat = unix(now);
    RefreshState { jti: Jti::random(), iat, exp: iat + svc.config.refresh_token_ttl.as_secs() as i64 }
}

fn sign_refresh(svc: &Services, user: &User, sid: SessionId, state: &RefreshState) -> String {
    svc.keys.sign(&Claims {
        token_type: TokenType::Refresh,
        exp: state.exp,
        iat: state.iat,
        jti: state.jti.to_string(),
        user_id: user.id.to_string(),
        role: user.role.as_str().to_string(),
        sid: Some(sid.to_string()),
        nbf: None,
    })
}

fn sign_access(svc: &Services, user: &User, sid: SessionId, now: DateTime<Utc>) -> String {
    let c = claims(
        TokenType::Access,
        &user.id.to_string(),
        user.role.as_str(),
        &sid.to_string(),
        Jti::random().to_string(),
        unix(now),
        svc.config.access_token_ttl,
    );
    svc.keys.sign(&c)
}

/// A new session for `user` and its first token pair (not yet stored).
pub fn new_session(svc: &Services, user: &User, client: &ClientInfo, now: DateTime<Utc>) -> (NewSession, TokenPair) {
    let sid = SessionId::new();
    let state = refresh_state(svc, now);
    let pair = TokenPair { access: sign_access(svc, user, sid, now), refresh: sign_refresh(svc, user, sid, &state) };
    let session = NewSession {
        id: sid,
        user_id: user.id,
        refresh: state,
        ip: client.ip.map(|i| i.to_string()),
        user_agent: client.user_agent.clone(),
        at: now,
        user_updated_at: user.updated_at,
        device: device_label(client.user_agent.as_deref()),
        max_sessions: svc.config.max_sessions_per_user,
        new_device_alerts: svc.config.new_device_alerts,
    };
    (session, pair)
}

/// A verified refresh token: its claims, with its user and session parsed.
pub struct RefreshToken {
    pub claims: Claims,
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// Verifies a refresh token and parses who and which session it names.
pub fn verify_refresh(svc: &Services, token: &str) -> Option<RefreshToken> {
    let claims = svc.keys.verify(token, TokenType::Refresh, svc.clock.unix()).ok()?;
    let user_id = claims.user_id.parse().ok()?;
    let session_id = claims.sid.as_deref()?.parse().ok()?;
    Some(RefreshToken { claims, user_id, session_id })
}

/// A refresh token the Django original minted (contract §18), within the
/// legacy window, whose jti an import brought: at its first presentation
/// it becomes a session holding it as the current token, so the rotation
/// that follows treats it as any session's (grace, reuse).
async fn adopt_legacy(svc: &Services, token: &str, client: &ClientInfo) -> Result<Option<RefreshToken>> {
    let now = svc.clock.now();
    let Some(claims) = auth::legacy_claims(svc, token, TokenType::Refresh, unix(now)).await? else {
        return Ok(None);
    };
    let Ok(user_id) = claims.user_id.parse::<UserId>() else { return Ok(None) };
    // As the original's access tokens (`auth::legacy_access`): the user may
    // sign in and has not changed since (a password change or reset here).
    let user = svc.store.find_user(user_id).await?;
    let Some(user) = user.filter(|u| u.can_sign_in() && u.updated_at.timestamp() <= claims.iat) else {
        return Ok(None);
    };
    let session = NewSession {
        id: SessionId::new(),
        user_id,
        user_updated_at: user.updated_at,
        refresh: RefreshState { jti: Jti::from_claim(claims.jti.clone()), iat: claims.iat, exp: claims.exp },
        ip: client.ip.map(|i| i.to_string()),
        user_agent: client.user_agent.clone(),
        at: now,
        device: device_label(client.user_agent.as_deref()),
        max_sessions: svc.config.max_sessions_per_user,
        new_device_alerts: false,
    };
    let adopted = svc.store.adopt_legacy_refresh(&session).await?;
    Ok(adopted.map(|session_id| RefreshToken { claims, user_id, session_id }))
}

/// Rotates a refresh token (contract §4): one winner among concurrent
/// presenters, the same new token for the client that rotated if it comes
/// back within the grace, a refusal (the session lives on) for any other
/// client within the grace, and a revoked session for anyone presenting a
/// retired token after it.
pub async fn refresh(svc: &Services, token: &str, client: &ClientInfo) -> Result<TokenPair> {
    let invalid = || {
        telemetry::token_refresh("invalid");
        Error::Unauthorized(INVALID_TOKEN)
    };
    let presented = match verify_refresh(svc, token) {
        Some(presented) => presented,
        None => adopt_legacy(svc, token, client).await?.ok_or_else(invalid)?,
    };
    let (user_id, sid) = (presented.user_id, presented.session_id);
    let user = auth::current_user(svc, user_id).await?.filter(User::can_sign_in).ok_or_else(invalid)?;
    let now = svc.clock.now();
    let next = refresh_state(svc, now);
    let rotate = Rotate {
        session_id: sid,
        user_id,
        presented_jti: Jti::from_claim(presented.claims.jti),
        next: next.clone(),
        grace: svc.config.refresh_reuse_grace,
        presenter: client.clone(),
    };
    let refresh = match svc.store.rotate_session(&rotate).await? {
        Rotation::Rotated => {
            telemetry::token_refresh("rotated");
            sign_refresh(svc, &user, sid, &next)
        }
        Rotation::Grace(current) => {
            telemetry::token_refresh("grace");
            sign_refresh(svc, &user, sid, &current)
        }
        Rotation::Suspected { .. } => {
            telemetry::token_refresh("suspected");
            tracing::warn!(user_id = %user_id, session_id = %sid, "a just-rotated refresh token came from another client: refused");
            return Err(Error::Unauthorized(INVALID_TOKEN));
        }
        Rotation::Reused => {
            telemetry::token_refresh("reused");
            tracing::warn!(user_id = %user_id, session_id = %sid, "refresh token reuse detected: session revoked");
            return Err(Error::Unauthorized(INVALID_TOKEN));
        }
        Rotation::Dead => {
            telemetry::token_refresh("session_ended");
            return Err(Error::Unauthorized(INVALID_TOKEN));
        }
    };
    Ok(TokenPair { access: sign_access(svc, &user, sid, now), refresh })
}
