//! The admin API (contract §13): staff and admins read, admins change.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Admin, Client, FromRaw, Staff, Typed};
use super::forms::Form;
use super::reply::ok;
use super::rules;
use super::schemas::{AdminUser, AdminUserData, AuditEventView, AuditPage, Envelope, ErrorEnvelope, UsersPage};
use crate::domain::{Outcome, Role, User, UserId};
use crate::error::{Error, FieldErrors, Result};
use crate::flows::admin;
use crate::state::AppState;
use crate::store::{AuditFilter, AuditRecord, Cursor, UserChange, UserFilter, audit_time};

/// Query parameters, each parsed or reported under its own name.
struct Params {
    raw: HashMap<String, String>,
    errors: FieldErrors,
}

impl Params {
    fn new(raw: HashMap<String, String>) -> Params {
        Params { raw, errors: FieldErrors::new() }
    }

    /// The trimmed value, if not blank. A NUL is refused as DRF's CharField
    /// refuses it (PostgreSQL text cannot hold one).
    fn text(&mut self, name: &str) -> Option<String> {
        let v = self.raw.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())?;
        if v.contains('\0') {
            self.errors.add(name, "Null characters are not allowed.");
            return None;
        }
        Some(v)
    }

    fn parse<T>(&mut self, name: &str, message: &str, f: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let v = self.text(name)?;
        let parsed = f(&v);
        if parsed.is_none() {
            self.errors.add(name, message);
        }
        parsed
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        self.parse(name, "Must be true or false.", |v| match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })
    }

    fn limit(&mut self) -> u32 {
        self.parse("limit", "Must be a whole number from 1 to 100.", |v| {
            v.parse().ok().filter(|n| (1..=100).contains(n))
        })
        .unwrap_or(20)
    }

    fn cursor(&mut self) -> Option<Cursor> {
        self.parse("cursor", "Invalid cursor.", decode_cursor)
    }

    fn time(&mut self, name: &str) -> Option<i64> {
        self.parse(name, "Must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z.", |v| {
            DateTime::parse_from_rfc3339(v).ok().map(|t| t.timestamp_micros())
        })
    }

    fn finish(self) -> Result<()> {
        self.errors.into_result()
    }
}

fn encode_cursor(at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    let (at, id) = text.split_once(':')?;
    Some(Cursor { at: at.parse().ok()?, id: Uuid::parse_str(id).ok()?.to_string() })
}

/// Keeps one page of `rows` and the cursor of the next page, if any.
pub(super) fn page<T>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> (i64, String)) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(key).map(|(at, id)| encode_cursor(at, &id)) } else { None };
    (rows, next)
}

/// The user search of §13 from its query parameters (the dashboard's too).
pub(super) fn user_filter(raw: HashMap<String, String>) -> Result<UserFilter> {
    let mut p = Params::new(raw);
    let filter = UserFilter {
        q: p.text("q").map(|q| q.to_lowercase()),
        role: p.parse("role", "Not a valid role (client, vendor, staff, admin).", |v| v.parse::<Role>().ok()),
        is_active: p.boolean("is_active"),
        is_verified: p.boolean("is_verified"),
        deleted: p.boolean("deleted").unwrap_or(false),
        after: p.cursor(),
        limit: p.limit(),
    };
    p.finish()?;
    Ok(filter)
}

/// The audit filters of §13 from their query parameters (the dashboard's
/// too).
pub(super) fn audit_filter(raw: HashMap<String, String>) -> Result<AuditFilter> {
    let mut p = Params::new(raw);
    let filter = AuditFilter {
        user_id: p.parse("user_id", "Must be a user id (UUID).", |v| Uuid::parse_str(v).ok().map(|u| u.to_string())),
        action: p.text("action"),
        outcome: p.parse("outcome", "Must be success or failure.", |v| {
            matches!(v, "success" | "failure").then(|| v.to_string())
        }),
        since: p.time("since"),
        until: p.time("until"),
        after: p.cursor(),
        limit: p.limit(),
    };
    p.finish()?;
    Ok(filter)
}

pub(super) fn user_id(raw: &str) -> Result<UserId> {
    raw.parse().map_err(|_| Error::NotFound("User not found."))
}

/// Search users (staff and admins), newest first, a page at a time.
#[utoipa::path(get, path = "/admin/users/", security(("bearer" = [])),
    params(
        ("q" = Option<String>, Query, pattern = r"^[^\x00]*$", description = "Searched in email, phone and names."),
        ("role" = Option<Role>, Query),
        ("is_active" = Option<bool>, Query),
        ("is_verified" = Option<bool>, Query),
        ("deleted" = Option<bool>, Query, description = "`true` lists soft-deleted users only."),
        ("cursor" = Option<String>, Query, pattern = r"^[A-Za-z0-9_-]+$",
            description = "`next_cursor` of the previous page, as it was sent (opaque)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)."),
    ),
    responses(
        (status = 200, description = "One page of users.", body = Envelope<UsersPage>),
        (status = 400, description = "A parameter is invalid (a bad cursor, say).", body = ErrorEnvelope),
        (status = 403, description = "Neither staff nor admin.", body = ErrorEnvelope),
    ))]
pub async fn list_users(
    State(svc): State<AppState>,
    _: Staff,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response> {
    let filter = user_filter(raw)?;
    let rows = svc.store.list_users(&filter).await?;
    let (users, next) = page(rows, filter.limit, |u: &User| (u.created_at.timestamp_micros(), u.id.to_string()));
    let users = admin_users(&svc, &users).await?;
    Ok(ok("Users.", UsersPage { users, next_cursor: next }))
}

/// One user, soft-deleted ones included (staff and admins).
#[utoipa::path(get, path = "/admin/users/{id}/", security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The user's id (a UUID).")),
    responses(
        (status = 200, description = "The user.", body = Envelope<AdminUserData>),
        (status = 403, description = "Neither staff nor admin.", body = ErrorEnvelope),
        (status = 404, description = "No such user.", body = ErrorEnvelope),
    ))]
pub async fn get_user(State(svc): State<AppState>, _: Staff, Path(id): Path<String>) -> Result<Response> {
    let user = svc.store.find_user(user_id(&id)?).await?.ok_or(Error::NotFound("User not found."))?;
    Ok(ok("User.", admin_user(&svc, &user).await?))
}

/// Absent or null fields are left as they are.
#[derive(Deserialize, ToSchema)]
#[schema(as = AdminUserPatchBody)]
pub struct PatchBody {
    is_active: Option<bool>,
    is_verified: Option<bool>,
    #[schema(schema_with = rules::first_name)]
    first_name: Option<String>,
    #[schema(schema_with = rules::last_name)]
    last_name: Option<String>,
    #[schema(schema_with = rules::role)]
    role: Option<String>,
}

impl FromRaw for UserChange {
    type Raw = PatchBody;
}

impl TryFrom<PatchBody> for UserChange {
    type Error = Error;

    fn try_from(body: PatchBody) -> Result<Self> {
        let mut form = Form::default();
        let change = UserChange {
            is_active: body.is_active,
            is_verified: body.is_verified,
            first_name: body.first_name.and_then(|v| form.name("first_name", Some(v), true)),
            last_name: body.last_name.and_then(|v| form.name("last_name", Some(v), false)),
            role: body.role.and_then(|r| r.parse::<Role>().map_err(|m| form.errors.add("role", m)).ok()),
        };
        form.errors.into_result()?;
        Ok(change)
    }
}

/// Change a user (admins). Deactivation revokes every session of the user.
#[utoipa::path(patch, path = "/admin/users/{id}/", security(("bearer" = [])), request_body = PatchBody,
    params(("id" = String, Path, format = "uuid", description = "The user's id (a UUID).")),
    responses(
        (status = 200, description = "The updated user.", body = Envelope<AdminUserData>),
        (status = 400, description = "A field is invalid, or the change would leave no active admin.",
            body = ErrorEnvelope),
        (status = 403, description = "Not an admin.", body = ErrorEnvelope),
        (status = 404, description = "No such user, or the user is deleted.", body = ErrorEnvelope),
    ))]
pub async fn patch_user(
    State(svc): State<AppState>,
    Admin(me): Admin,
    Client(client): Client,
    Path(id): Path<String>,
    Typed(change): Typed<UserChange>,
) -> Result<Response> {
    let id = user_id(&id)?;
    let user = admin::change_user(&svc, &me.user, id, change, &client).await?;
    Ok(ok("User updated.", admin_user(&svc, &user).await?))
}

/// Soft-delete a user (admins); every session of the user is revoked.
#[utoipa::path(delete, path = "/admin/users/{id}/", security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The user's id (a UUID).")),
    responses(
        (status = 200, description = "The deleted user.", body = Envelope<AdminUserData>),
        (status = 400, description = "The last active admin cannot be deleted.", body = ErrorEnvelope),
        (status = 403, description = "Not an admin.", body = ErrorEnvelope),
        (status = 404, description = "No such user, or already deleted.", body = ErrorEnvelope),
    ))]
pub async fn delete_user(
    State(svc): State<AppState>,
    Admin(me): Admin,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = admin::delete_user(&svc, &me.user, user_id(&id)?, &client).await?;
    Ok(ok("User deleted.", admin_user(&svc, &user).await?))
}

/// Undo a soft delete (admins).
#[utoipa::path(post, path = "/admin/users/{id}/restore/", security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The user's id (a UUID).")),
    responses(
        (status = 200, description = "The restored user.", body = Envelope<AdminUserData>),
        (status = 400, description = "The user is not deleted.", body = ErrorEnvelope),
        (status = 403, description = "Not an admin.", body = ErrorEnvelope),
        (status = 404, description = "No such user.", body = ErrorEnvelope),
        (status = 409, description = "The email or phone has since been taken by another account.",
            body = ErrorEnvelope),
    ))]
pub async fn restore_user(
    State(svc): State<AppState>,
    Admin(me): Admin,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = admin::restore_user(&svc, &me.user, user_id(&id)?, &client).await?;
    Ok(ok("User restored.", admin_user(&svc, &user).await?))
}

/// The audit trail (staff and admins), newest first, a page at a time.
#[utoipa::path(get, path = "/admin/audit/", security(("bearer" = [])),
    params(
        ("user_id" = Option<String>, Query, format = "uuid", description = "Events about this user."),
        ("action" = Option<String>, Query, pattern = r"^[^\x00]*$",
            description = "An action (`login`, `login_failed`, `register`, …); any other text matches nothing."),
        ("outcome" = Option<Outcome>, Query),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339, e.g. 2026-01-31T12:00:00Z."),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339."),
        ("cursor" = Option<String>, Query, pattern = r"^[A-Za-z0-9_-]+$",
            description = "`next_cursor` of the previous page, as it was sent (opaque)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)."),
    ),
    responses(
        (status = 200, description = "One page of events.", body = Envelope<AuditPage>),
        (status = 400, description = "A parameter is invalid.", body = ErrorEnvelope),
        (status = 403, description = "Neither staff nor admin.", body = ErrorEnvelope),
    ))]
pub async fn list_audit(
    State(svc): State<AppState>,
    _: Staff,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response> {
    let filter = audit_filter(raw)?;
    let rows = svc.store.list_audit(&filter).await?;
    let (events, next) = page(rows, filter.limit, |r: &AuditRecord| (r.at, r.id.clone()));
    let events = events
        .into_iter()
        .map(|r| AuditEventView {
            at: audit_time(&r),
            id: r.id,
            action: r.action,
            outcome: r.outcome,
            user_id: r.user_id,
            actor_id: r.actor_id,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        })
        .collect();
    Ok(ok("Audit events.", AuditPage { events, next_cursor: next }))
}

/// Users as the admin API shows them, with their second factors (§15.4).
async fn admin_users<'u>(svc: &AppState, users: &'u [User]) -> Result<Vec<AdminUser<'u>>> {
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let summaries = svc.store.mfa_summaries(&ids).await?;
    Ok(users
        .iter()
        .map(|u| {
            let mfa = summaries.iter().find(|(id, _)| *id == u.id).map(|(_, m)| *m).unwrap_or_default();
            AdminUser { user: u.view(), mfa }
        })
        .collect())
}

async fn admin_user<'u>(svc: &AppState, user: &'u User) -> Result<AdminUserData<'u>> {
    let mut users = admin_users(svc, std::slice::from_ref(user)).await?;
    Ok(AdminUserData { user: users.remove(0) })
}

/// Remove a user's second factors (admins): TOTP, recovery codes and
/// passkeys; every session of the user is revoked.
#[utoipa::path(post, path = "/admin/users/{id}/mfa/reset/", operation_id = "admin_reset_mfa", security(("bearer" = [])),
    params(("id" = String, Path, format = "uuid", description = "The user's id (a UUID).")),
    responses(
        (status = 200, description = "The user, without second factors.", body = Envelope<AdminUserData>),
        (status = 403, description = "Not an admin.", body = ErrorEnvelope),
        (status = 404, description = "No such user, or the user is deleted.", body = ErrorEnvelope),
    ))]
pub async fn reset_mfa(
    State(svc): State<AppState>,
    Admin(me): Admin,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = user_id(&id)?;
    admin::reset_mfa(&svc, &me.user, id, &client).await?;
    let user = svc.store.find_user(id).await?.ok_or(Error::NotFound("User not found."))?;
    Ok(ok("Two-factor authentication reset.", admin_user(&svc, &user).await?))
}
