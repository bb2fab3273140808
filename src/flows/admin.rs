//! Administration: the first superuser (command line) and the admin API's
//! changes to accounts (contract §13).

use serde_json::json;

use super::taken_errors;
use crate::domain::password_policy::{self, Attributes};
use crate::domain::session::Session;
use crate::domain::{
    AuditAction, AuditEvent, ClientInfo, Email, Outcome, Password, Phone, Role, SessionId, User, UserId,
};
use crate::error::{Error, FieldErrors, Result};
use crate::state::Services;
use crate::store::{AdminWrite, NewUser, UserChange};

/// Creates a verified `admin` account, with the same password policy and
/// uniqueness rules as registration.
pub async fn create_superuser(svc: &Services, email: Email, phone: Option<Phone>, password: Password) -> Result<User> {
    let mut errors = FieldErrors::new();
    let attrs = Attributes {
        email: Some(email.as_str()),
        phone: phone.as_ref().map(Phone::as_str),
        first_name: "",
        last_name: "",
    };
    for message in password_policy::check(password.expose(), svc.config.password_min_length, &attrs) {
        errors.add("password", message);
    }
    errors.into_result()?;
    let new = NewUser {
        id: UserId::new(),
        password_hash: svc.hashing.hash(&password).await?,
        email: Some(email),
        phone,
        first_name: String::new(),
        last_name: String::new(),
        role: Role::Admin,
        is_verified: true,
    };
    let event = AuditEvent::new(AuditAction::UserCreate, Outcome::Success, Some(new.id), &ClientInfo::default())
        .with_detail(json!({"role": "admin", "via": "createsuperuser"}));
    svc.store.create_user(&new, None, &event).await?.map_err(|taken| Error::Validation(taken_errors(taken)))
}

const LAST_ADMIN: &str = "This is the last active admin: promote another admin first.";

fn admin_event(
    action: AuditAction,
    actor: &User,
    target: UserId,
    client: &ClientInfo,
    detail: serde_json::Value,
) -> AuditEvent {
    let mut event = AuditEvent::new(action, Outcome::Success, Some(target), client).with_detail(detail);
    event.actor_id = Some(actor.id);
    event
}

fn outcome(write: AdminWrite) -> Result<User> {
    match write {
        AdminWrite::Done(user) => Ok(user),
        AdminWrite::NotFound => Err(Error::NotFound("User not found.")),
        AdminWrite::LastAdmin => Err(Error::BadRequest(LAST_ADMIN.into())),
        AdminWrite::NotDeleted => Err(Error::BadRequest("This user is not deleted.".into())),
        AdminWrite::Taken(taken) => Err(Error::Conflict(taken_errors(taken))),
    }
}

/// An admin's change to another account (or their own).
pub async fn change_user(
    svc: &Services,
    actor: &User,
    target: UserId,
    change: UserChange,
    client: &ClientInfo,
) -> Result<User> {
    let detail = json!({
        "is_active": change.is_active, "is_verified": change.is_verified, "role": change.role.map(Role::as_str),
        "first_name": change.first_name.is_some(), "last_name": change.last_name.is_some(),
    });
    let event = admin_event(AuditAction::AdminUserUpdate, actor, target, client, detail);
    outcome(svc.store.change_user(target, &change, &event).await?)
}

pub async fn delete_user(svc: &Services, actor: &User, target: UserId, client: &ClientInfo) -> Result<User> {
    let event = admin_event(AuditAction::AdminUserDelete, actor, target, client, json!({}));
    outcome(svc.store.soft_delete_user(target, &event).await?)
}

pub async fn restore_user(svc: &Services, actor: &User, target: UserId, client: &ClientInfo) -> Result<User> {
    let event = admin_event(AuditAction::AdminUserRestore, actor, target, client, json!({}));
    outcome(svc.store.restore_user(target, &event).await?)
}

/// Removes every second factor of a user (TOTP, recovery codes) and ends
/// every session (§15.4).
pub async fn reset_mfa(svc: &Services, actor: &User, target: UserId, client: &ClientInfo) -> Result<()> {
    let live = svc.store.find_user(target).await?.filter(|u| u.deleted_at.is_none());
    let user = live.ok_or(Error::NotFound("User not found."))?;
    let event = admin_event(AuditAction::MfaReset, actor, user.id, client, json!({}));
    svc.store.reset_mfa(user.id, &event).await?;
    Ok(())
}
// ------------------------------------------------- sessions of a user (§12)

/// A user who is not deleted: a deleted user can be read and restored,
/// nothing else (404).
async fn live_user(svc: &Services, id: UserId) -> Result<User> {
    let user = svc.store.find_user(id).await?.filter(|u| u.deleted_at.is_none());
    user.ok_or(Error::NotFound("User not found."))
}

/// The live sessions of any user, deleted ones included (they have none).
pub async fn list_sessions(svc: &Services, target: UserId) -> Result<Vec<Session>> {
    svc.store.find_user(target).await?.ok_or(Error::NotFound("User not found."))?;
    svc.store.list_sessions(target).await
}

/// An admin revokes one session of a user; 404 unless it is a live
/// session of that user.
pub async fn revoke_session(
    svc: &Services,
    actor: &User,
    target: UserId,
    session: SessionId,
    client: &ClientInfo,
) -> Result<()> {
    live_user(svc, target).await?;
    let detail = json!({"session_id": session.to_string()});
    let event = admin_event(AuditAction::SessionRevoked, actor, target, client, detail);
    if !svc.store.revoke_session(session, target, "revoked_by_admin", &event).await? {
        return Err(Error::NotFound("Session not found."));
    }
    Ok(())
}

/// An admin revokes every session of a user; returns how many.
pub async fn logout_all(svc: &Services, actor: &User, target: UserId, client: &ClientInfo) -> Result<u64> {
    live_user(svc, target).await?;
    let event = admin_event(AuditAction::LogoutAll, actor, target, client, json!({"by": "admin"}));
    svc.store.revoke_all_sessions(target, "logout_all_by_admin", &event).await
}
