//! Issuing and rotating token pairs (contract §4).

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::unix;
use crate::crypto::jwt::{Claims, TokenType, claims};
use crate::crypto::random_hex32;
use crate::domain::{AuditEvent, ClientInfo, Outcome, User};
use crate::error::{Error, Result};
use crate::state::Services;
use crate::store::{NewSession, RefreshState, Rotate, Rotation};
use crate::telemetry;

pub const INVALID_TOKEN: &str = "Token is invalid or expired.";

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
    RefreshState { jti: random_hex32(), iat, exp: iat + svc.config.refresh_token_ttl.as_secs() as i64 }
}

fn sign_refresh(svc: &Services, user: &User, sid: &str, state: &RefreshState) -> String {
    svc.keys.sign(&Claims {
        token_type: TokenType::Refresh,
        exp: state.exp,
        iat: state.iat,
        jti: state.jti.clone(),
        user_id: user.id.to_string(),
        role: user.role.as_str().to_string(),
        sid: Some(sid.to_string()),
        nbf: None,
    })
}

fn sign_access(svc: &Services, user: &User, sid: &str, now: DateTime<Utc>) -> String {
    let c = claims(
        TokenType::Access,
        &user.id.to_string(),
        user.role.as_str(),
        sid,
        random_hex32(),
        unix(now),
        svc.config.access_token_ttl,
    );
    svc.keys.sign(&c)
}

/// A new session for `user` and its first token pair (not yet stored).
pub fn new_session(svc: &Services, user: &User, client: &ClientInfo, now: DateTime<Utc>) -> (NewSession, TokenPair) {
    let sid = Uuid::now_v7().to_string();
    let state = refresh_state(svc, now);
    let pair = TokenPair { access: sign_access(svc, user, &sid, now), refresh: sign_refresh(svc, user, &sid, &state) };
    let session = NewSession {
        id: sid,
        user_id: user.id,
        refresh: state,
        ip: client.ip.map(|i| i.to_string()),
        user_agent: client.user_agent.clone(),
    };
    (session, pair)
}

/// Verifies a refresh token and returns its claims with the session id.
pub fn verify_refresh(svc: &Services, token: &str) -> Option<(Claims, Uuid, String)> {
    let claims = svc.keys.verify(token, TokenType::Refresh, svc.clock.unix()).ok()?;
    let user_id = Uuid::parse_str(&claims.user_id).ok()?;
    let sid = claims.sid.clone()?;
    Some((claims, user_id, sid))
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
    let (claims, user_id, sid) = verify_refresh(svc, token).ok_or_else(invalid)?;
    let user = svc.store.find_user(user_id).await?.filter(User::can_sign_in).ok_or_else(invalid)?;
    let now = svc.clock.now();
    let next = refresh_state(svc, now);
    let rotate = Rotate {
        session_id: sid.clone(),
        user_id,
        presented_jti: claims.jti.clone(),
        next: next.clone(),
        grace: svc.config.refresh_reuse_grace,
        presenter: client.clone(),
        clock: svc.clock.clone(),
    };
    let rotation = svc.store.rotate_session(rotate, rotation_events(user_id, &sid, &claims.jti, client)).await?;
    let refresh = match rotation {
        Rotation::Rotated => {
            telemetry::token_refresh("rotated");
            sign_refresh(svc, &user, &sid, &next)
        }
        Rotation::Grace(current) => {
            telemetry::token_refresh("grace");
            sign_refresh(svc, &user, &sid, &current)
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
    Ok(TokenPair { access: sign_access(svc, &user, &sid, now), refresh })
}

/// The audit event of each rotation outcome, written in the rotation's
/// transaction.
fn rotation_events(
    user_id: Uuid,
    sid: &str,
    jti: &str,
    client: &ClientInfo,
) -> impl Fn(&Rotation) -> Option<AuditEvent> + Send + Sync + 'static {
    let (sid, jti, client) = (sid.to_string(), jti.to_string(), client.clone());
    move |r: &Rotation| {
        let (action, outcome, detail) = match r {
            Rotation::Rotated => ("token_refresh", Outcome::Success, json!({"session_id": sid})),
            Rotation::Grace(_) => ("token_refresh", Outcome::Success, json!({"session_id": sid, "grace": true})),
            Rotation::Suspected { rotated_ip } => (
                "token_reuse_suspected",
                Outcome::Failure,
                json!({
                    "session_id": sid,
                    "presented_ip": client.ip.map(|ip| ip.to_string()),
                    "rotated_ip": rotated_ip,
                }),
            ),
            Rotation::Reused => ("token_reuse", Outcome::Failure, json!({"session_id": sid, "jti": jti})),
            Rotation::Dead => {
                ("token_refresh", Outcome::Failure, json!({"session_id": sid, "reason": "session_ended"}))
            }
        };
        Some(AuditEvent::new(action, outcome, Some(user_id), &client).with_detail(detail))
    }
}
