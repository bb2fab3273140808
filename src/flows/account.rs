//! The signed-in user's own account (contract §5 me) and sign-out.

use serde_json::json;

use super::auth::Principal;
use super::tokens::verify_refresh;
use crate::domain::{AuditAction, AuditEvent, ClientInfo, Outcome, SessionId, User};
use crate::error::{Error, Result};
use crate::state::Services;

/// Names as parsed at the edge; `None` leaves a name unchanged.
#[derive(Debug, Default)]
pub struct NameChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

pub async fn update_names(svc: &Services, me: &Principal, change: NameChange, client: &ClientInfo) -> Result<User> {
    let detail = json!({"first_name": change.first_name.is_some(), "last_name": change.last_name.is_some()});
    let event =
        AuditEvent::new(AuditAction::ProfileUpdate, Outcome::Success, Some(me.user.id), client).with_detail(detail);
    let first = change.first_name.unwrap_or_else(|| me.user.first_name.clone());
    let last = change.last_name.unwrap_or_else(|| me.user.last_name.clone());
    svc.store.update_user_names(me.user.id, &first, &last, &event).await?;
    svc.store.find_user(me.user.id).await?.ok_or(Error::Unauthorized(super::tokens::INVALID_TOKEN))
}

/// Revokes the session a refresh token belongs to; it must be the caller's.
pub async fn logout(svc: &Services, me: &Principal, refresh: &str, client: &ClientInfo) -> Result<()> {
    let invalid = || Error::field("refresh", "Token is invalid or expired.");
    let token = verify_refresh(svc, refresh).ok_or_else(invalid)?;
    if token.user_id != me.user.id {
        return Err(invalid());
    }
    let (user_id, sid) = (token.user_id, token.session_id);
    let event = AuditEvent::new(AuditAction::Logout, Outcome::Success, Some(user_id), client)
        .with_detail(json!({"session_id": sid.to_string()}));
    svc.store.revoke_session(sid, user_id, "logout", &event).await?;
    Ok(())
}

/// Revokes one of the caller's own sessions; false if it is not one of
/// theirs or is already revoked.
pub async fn revoke_session(
    svc: &Services,
    me: &Principal,
    session_id: SessionId,
    client: &ClientInfo,
) -> Result<bool> {
    let event = AuditEvent::new(AuditAction::SessionRevoke, Outcome::Success, Some(me.user.id), client)
        .with_detail(json!({"session_id": session_id.to_string()}));
    svc.store.revoke_session(session_id, me.user.id, "revoked_by_user", &event).await
}

/// Revokes every session of the caller, the current one included.
pub async fn logout_all(svc: &Services, me: &Principal, client: &ClientInfo) -> Result<u64> {
    let event = AuditEvent::new(AuditAction::LogoutAll, Outcome::Success, Some(me.user.id), client);
    svc.store.revoke_all_sessions(me.user.id, "logout_all", &event).await
}
