//! Device sessions of the signed-in user (contract §12).

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::extract::{Auth, Client};
use super::reply::ok;
use crate::domain::rfc3339;
use crate::error::{Error, Result};
use crate::flows::account;
use crate::state::AppState;

pub async fn list(State(svc): State<AppState>, Auth(me): Auth) -> Result<Response> {
    let sessions = svc.store.list_sessions(me.user.id).await?;
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|s| {
            json!({"id": s.id, "created_at": rfc3339(&s.created_at), "last_used_at": rfc3339(&s.last_used_at),
                   "ip": s.ip, "user_agent": s.user_agent, "current": me.session_id.as_deref() == Some(s.id.as_str())})
        })
        .collect();
    Ok(ok("Active sessions.", json!({"sessions": sessions})))
}

pub async fn revoke(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response> {
    if !account::revoke_session(&svc, &me, &id, &client).await? {
        return Err(Error::NotFound("Session not found."));
    }
    Ok(ok("Session revoked.", json!({})))
}

pub async fn logout_all(State(svc): State<AppState>, Auth(me): Auth, Client(client): Client) -> Result<Response> {
    let revoked = account::logout_all(&svc, &me, &client).await?;
    Ok(ok("Every session has been revoked.", json!({"revoked": revoked})))
}
