//! Users: search and filters as §13, a user's detail (sessions, second
//! factors, audit events) and the admins' actions, each through the flow
//! the admin API calls (`flows::admin`), so the rules (the last active
//! admin, deleted users, restore conflicts) and audit events are the same.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{Nav, Opt, SessionRow, UserPage, UserRow, UsersPage, render, time};
use super::session::Viewer;
use super::{Failure, FormData, see_other};
use crate::domain::{Role, SessionId, User};
use crate::error::Error;
use crate::flows::{admin, dashboard};
use crate::http::admin::{page, user_filter, user_id};
use crate::http::extract::Client;
use crate::http::schemas::AdminSessionView;
use crate::state::AppState;
use crate::store::{AuditFilter, UserChange};

const YES_NO: [(&str, &str); 3] = [("", "Any"), ("true", "Yes"), ("false", "No")];

fn row(u: &User, mfa: bool) -> UserRow {
    UserRow {
        id: u.id.to_string(),
        email: u.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
        phone: u.phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        name: format!("{} {}", u.first_name, u.last_name).trim().to_owned(),
        role: u.role.as_str(),
        is_active: u.is_active,
        is_verified: u.is_verified,
        deleted: u.deleted_at.is_some(),
        mfa,
        created_at: time(&u.created_at),
    }
}

/// The users of one page of the search, with their filters as sent.
pub async fn list(
    State(svc): State<AppState>,
    viewer: Viewer,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let get = |k: &str| raw.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (q, role, active, verified) = (get("q"), get("role"), get("is_active"), get("is_verified"));
    let deleted = get("deleted") == "true";
    // Empty fields of the form mean "any", as absent parameters do.
    let sent: HashMap<String, String> =
        raw.iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect();
    let (users, next, errors, status) = match user_filter(sent.clone()) {
        Ok(filter) => {
            let rows = dashboard::users(&svc, &filter).await?;
            let (users, next) =
                page(rows, filter.limit, |u: &User| (u.created_at.timestamp_micros(), u.id.to_string()));
            let ids: Vec<_> = users.iter().map(|u| u.id).collect();
            let summaries = dashboard::mfa_summaries(&svc, &ids).await?;
            let rows = users
                .iter()
                .map(|u| {
                    let mfa =
                        summaries.iter().find(|(id, _)| *id == u.id).is_some_and(|(_, m)| m.totp || m.passkeys > 0);
                    row(u, mfa)
                })
                .collect();
            let next = next.map(|cursor| format!("/dashboard/users/?{}", with_param(&sent, "cursor", &cursor)));
            (rows, next, vec![], StatusCode::OK)
        }
        Err(e) => (vec![], None, vec![super::message(&e)], StatusCode::BAD_REQUEST),
    };
    let page = UsersPage {
        nav: Some(Nav::of(&viewer, "users")),
        roles: Opt::roles(Some(&role), true),
        active: Opt::list(&YES_NO, Some(&active)),
        verified: Opt::list(&YES_NO, Some(&verified)),
        q,
        deleted,
        errors,
        users,
        next,
    };
    Ok(render(status, &page))
}

/// The query string of `params`, in a stable order.
pub fn query_of(params: &HashMap<String, String>) -> String {
    let mut pairs: Vec<(&String, &String)> = params.iter().collect();
    pairs.sort();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    query.finish()
}

/// The query string of `params` with `name` set to `value`.
pub fn with_param(params: &HashMap<String, String>, name: &str, value: &str) -> String {
    let mut params = params.clone();
    params.insert(name.to_owned(), value.to_owned());
    query_of(&params)
}

/// What a finished action says on the user's page (`?done=`).
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "activate" => "The account is active.",
        "deactivate" => "The account is deactivated; its sessions are revoked.",
        "role" => "The role is changed.",
        "delete" => "The account is deleted; its sessions are revoked.",
        "restore" => "The account is restored.",
        "logout-all" => "Every session of the account is revoked.",
        "mfa-reset" => "Two-factor authentication is reset; the sessions are revoked.",
        "session" => "The session is revoked.",
        _ => return None,
    })
}

pub async fn detail(
    State(svc): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let id = user_id(&id)?;
    let user = dashboard::user(&svc, id).await?;
    let mfa = dashboard::mfa_status(&svc, id).await?;
    let sessions = admin::list_sessions(&svc, id).await?;
    let filter = AuditFilter { user_id: Some(id.to_string()), limit: 20, ..AuditFilter::default() };
    let mut events = dashboard::audit(&svc, &filter).await?;
    events.truncate(20);
    let sessions = sessions
        .into_iter()
        .map(AdminSessionView::of)
        .map(|s| SessionRow {
            id: s.id,
            device: s.device,
            ip: s.ip.unwrap_or_default(),
            location_hint: s.location_hint.unwrap_or_default(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
        })
        .collect();
    let page = UserPage {
        nav: Some(Nav::of(&viewer, "users")),
        auth_provider: user.auth_provider.as_str(),
        last_login: user.last_login.as_ref().map(time).unwrap_or_else(|| "never".into()),
        deleted_at: user.deleted_at.as_ref().map(time).unwrap_or_default(),
        totp: mfa.totp_active(),
        passkeys: mfa.passkeys,
        recovery_codes_left: mfa.recovery_codes_left,
        sessions,
        events: events.iter().map(super::pages::EventRow::of).collect(),
        roles: Opt::roles(Some(user.role.as_str()), false),
        notice: raw.get("done").and_then(|d| notice(d)),
        audit_link: format!("/dashboard/audit/?user_id={}", user.id),
        user: row(&user, mfa.has_second_factor()),
    };
    Ok(render(StatusCode::OK, &page))
}

/// An admin's action on a user: the flow of the matching admin API route.
pub async fn act(
    State(svc): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Failure> {
    let form = FormData::parse(&body)?;
    viewer.may_change(&form)?;
    let id = user_id(&id)?;
    let me = &viewer.me.user;
    let change = |change: UserChange| admin::change_user(&svc, me, id, change, &client);
    match action.as_str() {
        "activate" => {
            change(UserChange { is_active: Some(true), ..UserChange::default() }).await?;
        }
        "deactivate" => {
            change(UserChange { is_active: Some(false), ..UserChange::default() }).await?;
        }
        "role" => {
            let role = form.get("role").unwrap_or("").parse::<Role>().map_err(|m| Error::field("role", m))?;
            change(UserChange { role: Some(role), ..UserChange::default() }).await?;
        }
        "delete" => {
            admin::delete_user(&svc, me, id, &client).await?;
        }
        "restore" => {
            admin::restore_user(&svc, me, id, &client).await?;
        }
        "logout-all" => {
            admin::logout_all(&svc, me, id, &client).await?;
        }
        "mfa-reset" => admin::reset_mfa(&svc, me, id, &client).await?,
        _ => return Err(Error::NotFound("Not found.").into()),
    }
    Ok(see_other(&format!("/dashboard/users/{id}/?done={action}")))
}

/// An admin revokes one session of a user (§12's admin route's flow).
pub async fn revoke_session(
    State(svc): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path((id, sid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Failure> {
    let form = FormData::parse(&body)?;
    viewer.may_change(&form)?;
    let id = user_id(&id)?;
    let sid: SessionId = sid.parse().map_err(|_| Error::NotFound("Session not found."))?;
    admin::revoke_session(&svc, &viewer.me.user, id, sid, &client).await?;
    Ok(see_other(&format!("/dashboard/users/{id}/?done=session")))
}
