//! The dashboard's pages: one template each (`templates/dashboard/`,
//! compiled into the binary by askama, HTML-escaped by default) and the
//! values they show.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::html_type;
use crate::domain::{Role, rfc3339};
use crate::store::AuditRecord;

/// Who is signed in, for the header of every page.
pub struct Nav {
    pub who: String,
    pub role: &'static str,
    pub csrf: String,
    pub admin: bool,
    /// Which section is shown: `overview`, `users` or `audit`.
    pub section: &'static str,
}

impl Nav {
    pub fn of(viewer: &super::Viewer, section: &'static str) -> Nav {
        let user = &viewer.me.user;
        let who = user.email.as_ref().map(|e| e.as_str().to_owned());
        let who = who.or_else(|| user.phone.as_ref().map(|p| p.as_str().to_owned())).unwrap_or_default();
        Nav { who, role: user.role.as_str(), csrf: viewer.csrf.clone(), admin: viewer.is_admin(), section }
    }
}

/// An option of a `<select>`.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Opt {
    pub fn list(values: &[(&str, &str)], current: Option<&str>) -> Vec<Opt> {
        values
            .iter()
            .map(|(value, label)| Opt {
                value: (*value).into(),
                label: (*label).into(),
                selected: current == Some(*value),
            })
            .collect()
    }

    pub fn roles(current: Option<&str>, any: bool) -> Vec<Opt> {
        let mut values = vec![];
        if any {
            values.push(("", "Any role"));
        }
        values.extend(Role::ALL.iter().map(|r| (r.as_str(), r.as_str())));
        Opt::list(&values, current.or(Some("")))
    }
}

/// One audit event as a table row.
pub struct EventRow {
    pub id: String,
    pub at: String,
    pub action: String,
    pub outcome: String,
    pub user_id: String,
    pub actor_id: String,
    pub ip: String,
    pub user_agent: String,
    pub detail: String,
}

impl EventRow {
    pub fn of(r: &AuditRecord) -> EventRow {
        EventRow {
            id: r.id.clone(),
            at: crate::store::audit_time(r),
            action: r.action.clone(),
            outcome: r.outcome.clone(),
            user_id: r.user_id.clone().unwrap_or_default(),
            actor_id: r.actor_id.clone().unwrap_or_default(),
            ip: r.ip.clone().unwrap_or_default(),
            user_agent: r.user_agent.clone().unwrap_or_default(),
            detail: if r.detail.is_null() { String::new() } else { r.detail.to_string() },
        }
    }
}

pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    rfc3339(t)
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
pub struct LoginPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub login: String,
    pub error: Option<String>,
    pub mfa: Option<MfaStep>,
    /// The page solves a proof-of-work challenge before it sends the
    /// password (§20: any mode but `off`).
    pub challenge: bool,
}

/// The second step of a sign-in.
pub struct MfaStep {
    pub token: String,
    pub totp: bool,
    pub recovery: bool,
}

#[derive(Template)]
#[template(path = "dashboard/message.html")]
pub struct MessagePage {
    pub nav: Option<Nav>,
    pub title: String,
    pub message: String,
    pub back: Option<String>,
}

/// A chart of the overview: its title and its SVG (made by `overview.rs`
/// from numbers only, so it is safe to include as is).
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub total: u64,
    pub svg: String,
}

/// Users of one role, per state.
pub struct RoleRow {
    pub role: &'static str,
    pub active: i64,
    pub inactive: i64,
    pub deleted: i64,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
pub struct OverviewPage {
    pub nav: Option<Nav>,
    pub charts: Vec<Chart>,
    pub roles: Vec<RoleRow>,
    pub events: Vec<EventRow>,
    pub after: String,
    pub hours_from: String,
    pub hours_to: String,
}

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub phone: String,
    pub name: String,
    pub role: &'static str,
    pub is_active: bool,
    pub is_verified: bool,
    pub deleted: bool,
    pub mfa: bool,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "dashboard/users.html")]
pub struct UsersPage {
    pub nav: Option<Nav>,
    pub q: String,
    pub roles: Vec<Opt>,
    pub active: Vec<Opt>,
    pub verified: Vec<Opt>,
    pub deleted: bool,
    pub errors: Vec<String>,
    pub users: Vec<UserRow>,
    pub next: Option<String>,
}

pub struct SessionRow {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub location_hint: String,
    pub created_at: String,
    pub last_used_at: String,
}

#[derive(Template)]
#[template(path = "dashboard/user.html")]
pub struct UserPage {
    pub nav: Option<Nav>,
    pub user: UserRow,
    pub auth_provider: &'static str,
    pub last_login: String,
    pub deleted_at: String,
    pub totp: bool,
    pub passkeys: u32,
    pub recovery_codes_left: u32,
    pub sessions: Vec<SessionRow>,
    pub events: Vec<EventRow>,
    pub roles: Vec<Opt>,
    pub notice: Option<&'static str>,
    pub audit_link: String,
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
pub struct AuditPage {
    pub nav: Option<Nav>,
    pub user_id: String,
    pub action: String,
    pub outcomes: Vec<Opt>,
    pub since: String,
    pub until: String,
    pub errors: Vec<String>,
    pub events: Vec<EventRow>,
    pub next: Option<String>,
    pub csv: String,
    pub jsonl: String,
}

/// A page as an answer with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, [html_type()], html).into_response(),
        Err(e) => super::Failure::from(crate::error::Error::internal(e.to_string())).into_response(),
    }
}

/// A page that only says something (an error, a refusal).
pub fn message(status: StatusCode, message: &str, nav: Option<Nav>) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_string();
    render(status, &MessagePage { nav, title, message: message.into(), back: None })
}
