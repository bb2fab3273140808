//! Device sessions of the signed-in user (contract §12).

use super::extract::{Auth, Client, Enrolled};
use super::reply::ok;
use super::schemas::{AdminSessionView, Empty, Envelope, ErrorEnvelope, LogoutAllData, SessionView, SessionsData};
use crate::error::{Error, Result};
use crate::flows::account;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/auth/sessions/", operation_id = "list_sessions", security(("bearer" = [])), responses(
    (status = 200, description = "The caller's active sessions.", body = Envelope<SessionsData>),
))]
pub async fn list(State(svc): State<AppState>, Enrolled(me): Enrolled) -> Result<Response> {
    let sessions = svc.store.list_sessions(me.user.id).await?;
    let sessions = sessions
        .into_iter()
        .map(|s| SessionView { current: me.session_id == s.id, session: AdminSessionView::of(s) })
        .collect();
    Ok(ok("Active sessions.", SessionsData { sessions }))
}

/// Revoke one of the caller's sessions.
#[utoipa::path(delete, path = "/auth/sessions/{id}/", operation_id = "revoke_session",
    params(("id" = String, Path, format = "uuid", description = "A session id from the session list.")),
    security(("bearer" = [])), responses(
    (status = 200, description = "The session is revoked.", body = Envelope<Empty>),
    (status = 404, description = "Not a session of the caller.", body = ErrorEnvelope),
))]
pub async fn revoke(
    State(svc): State<AppState>,
    Enrolled(me): Enrolled,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response> {
    // Session ids are UUIDs: anything else names no session, and never
    // reaches the database (PostgreSQL text cannot hold a NUL, say).
    let id = id.parse().map_err(|_| Error::NotFound("Session not found."))?;
    if !account::revoke_session(&svc, &me, id, &client).await? {
        return Err(Error::NotFound("Session not found."));
    }
    Ok(ok("Session revoked.", Empty {}))
}

/// Revoke every session of the caller, this one included.
#[utoipa::path(post, path = "/auth/logout-all/", security(("bearer" = [])), responses(
    (status = 200, description = "Every session is revoked.", body = Envelope<LogoutAllData>),
))]
pub async fn logout_all(State(svc): State<AppState>, Auth(me): Auth, Client(client): Client) -> Result<Response> {
    let revoked = account::logout_all(&svc, &me, &client).await?;
    Ok(ok("Every session has been revoked.", LogoutAllData { revoked }))
}
