//! The sessions of any user, for staff and admins (contract §12, §13):
//! staff and admins list them, admins revoke them.

use axum::extract::{Path, State};
use axum::response::Response;

use super::extract::{Admin, Client, Staff};
use super::reply::ok;
use super::schemas::{AdminSessionView, AdminSessionsData, Empty, Envelope, ErrorEnvelope, LogoutAllData};
use crate::domain::{SessionId, UserId};
use crate::error::{Error, Result};
use crate::flows::admin;
use crate::state::AppState;

// Ids are UUIDs: anything else names nothing, and never reaches the
// database.
fn user_id(raw: &str) -> Result<UserId> {
    raw.parse().map_err(|_| Error::NotFound("User not found."))
}

fn session_id(raw: &str) -> Result<SessionId> {
    raw.parse().map_err(|_| Error::NotFound("Session not found."))
}

/// A user's live sessions, newest first (staff and admins).
#[utoipa::path(get, path = "/admin/users/{id}/sessions/", operation_id = "admin_list_sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The user's id (a UUID).")),
    responses(
        (status = 200, description = "The user's active sessions.", body = Envelope<AdminSessionsData>),
        (status = 403, description = "Neither staff nor admin.", body = ErrorEnvelope),
        (status = 404, description = "No such user.", body = ErrorEnvelope),
    ))]
pub async fn list(State(svc): State<AppState>, _: Staff, Path(id): Path<String>) -> Result<Response> {
    let sessions = admin::list_sessions(&svc, user_id(&id)?).await?;
    let sessions = sessions.into_iter().map(AdminSessionView::of).collect();
    Ok(ok("Active sessions.", AdminSessionsData { sessions }))
}

/// Revoke one session of a user (admins).
#[utoipa::path(delete, path = "/admin/users/{id}/sessions/{sid}/", operation_id = "admin_revoke_session",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = "uuid", description = "The user's id (a UUID)."),
        ("sid" = String, Path, format = "uuid", description = "A session id from the user's session list."),
    ),
    responses(
        (status = 200, description = "The session is revoked.", body = Envelope<Empty>),
        (status = 403, description = "Not an admin.", body = ErrorEnvelope),
        (status = 404, description = "No such user, the user is deleted, or not a live session of the user.",
            body = ErrorEnvelope),
    ))]
pub async fn revoke(
    State(svc): State<AppState>,
    Admin(me): Admin,
    Client(client): Client,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Response> {
    let (id, sid) = (user_id(&id)?, session_id(&sid)?);
    admin::revoke_session(&svc, &me.user, id, sid, &client).await?;
    Ok(ok("Session revoked.", Empty {}))
}

/// Revoke every session of a user (admins).
#[utoipa::path(post, path = "/admin/users/{id}/logout-all/", operation_id = "admin_logout_all",
    security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The user's id (a UUID).")),
    responses(
        (status = 200, description = "Every session of the user is revoked.", body = Envelope<LogoutAllData>),
        (status = 403, description = "Not an admin.", body = ErrorEnvelope),
        (status = 404, description = "No such user, or the user is deleted.", body = ErrorEnvelope),
    ))]
pub async fn logout_all(
    State(svc): State<AppState>,
    Admin(me): Admin,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response> {
    let revoked = admin::logout_all(&svc, &me.user, user_id(&id)?, &client).await?;
    Ok(ok("Every session of the user has been revoked.", LogoutAllData { revoked }))
}
