//! The signed-in user's own account (contract §5 me) and sign-out.

use serde_json::json;

use super::auth::Principal;
use super::tokens::verify_refresh;
use crate::domain::{AuditEvent, ClientInfo, Outcome, User};
use crate::error::{Error, Result};
use crate::state::Services;

/// Names as parsed at the edge; `None` leaves a name unchanged.
#[derive(Debug, Default)]
pub struct NameChange {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

pub async fn update_names(svc: &Services, me: &Principal, change: NameChange) -> Result<User> {
    let first = change.first_name.unwrap_or_else(|| me.user.first_name.clone());
    let last = change.last_name.unwrap_or_else(|| me.user.last_name.clone());
    svc.store.update_user_names(me.user.id, &first, &last).await?;
    svc.store.find_user(me.user.id).await?.ok_or(Error::Unauthorized(super::tokens::INVALID_TOKEN))
}

/// Revokes the session a refresh token belongs to; it must be the caller's.
pub async fn logout(svc: &Services, me: &Principal, refresh: &str, client: &ClientInfo) -> Result<()> {
    let invalid = || Error::field("refresh", "Token is invalid or expired.");
    let (_, user_id, sid) = verify_refresh(svc, refresh).ok_or_else(invalid)?;
    if user_id != me.user.id {
        return Err(invalid());
    }
    let event =
        AuditEvent::new("logout", Outcome::Success, Some(user_id), client).with_detail(json!({"session_id": sid}));
    svc.store.revoke_session(&sid, user_id, "logout", &event).await?;
    Ok(())
}
