//! The dashboard's cookie session and CSRF checks. The cookie names an
//! authgate session (§12) opened by the sign-in, signed with the server
//! secret: revoking the session (sign-out, logout-all, a deactivation)
//! ends the dashboard's too, on every instance.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::{Failure, FormData, pages, redirect};
use crate::flows::auth::Principal;
use crate::flows::dashboard;
use crate::state::{AppState, Services};

pub const SESSION_COOKIE: &str = "authgate_dashboard";
pub const LOGIN_COOKIE: &str = "authgate_dashboard_login";
pub const LOGIN_PATH: &str = "/dashboard/login/";
const CSRF_REFUSED: &str =
    "This form has expired or did not come from this dashboard. Reload the page and try again; nothing was changed.";

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for the dashboard's cookies: `HttpOnly`, `SameSite=Strict`,
/// scoped to `/dashboard/`, and `Secure` unless this is development served
/// over plain HTTP (§19; the public URL tells how browsers reach us).
pub fn set_cookie(svc: &Services, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let plain_http = svc.config.webauthn.origins.first().is_some_and(|o| o.starts_with("http://"));
    let secure = if svc.config.is_production() || !plain_http { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path=/dashboard/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A signed-in staff member or admin, and the CSRF token of their forms.
pub struct Viewer {
    pub me: Principal,
    pub csrf: String,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        dashboard::may_change(self.me.user.role)
    }

    /// A change: the form's CSRF token must be this session's, and the
    /// viewer an admin (403 page otherwise, nothing changed).
    pub fn may_change(&self, form: &FormData) -> Result<(), Failure> {
        self.check_csrf(form)?;
        if !self.is_admin() {
            return Err(forbidden("Only admins can change accounts."));
        }
        Ok(())
    }

    pub fn check_csrf(&self, form: &FormData) -> Result<(), Failure> {
        if dashboard::token_matches(&self.csrf, form.get("csrf_token")) { Ok(()) } else { Err(csrf_refused()) }
    }
}

pub fn csrf_refused() -> Failure {
    forbidden(CSRF_REFUSED)
}

pub fn forbidden(message: &str) -> Failure {
    Failure(Box::new(pages::message(StatusCode::FORBIDDEN, message, None)))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, svc: &AppState) -> Result<Self, Failure> {
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Failure(Box::new(redirect(StatusCode::FOUND, LOGIN_PATH))));
        };
        let me = match dashboard::viewer(svc, value).await {
            Ok(me) => me,
            Err(_) => {
                let mut res = redirect(StatusCode::FOUND, LOGIN_PATH);
                res.headers_mut().insert(SET_COOKIE, set_cookie(svc, SESSION_COOKIE, "", 0));
                return Err(Failure(Box::new(res)));
            }
        };
        crate::http::observe::note_user(&parts.extensions, &me.user.id);
        if !dashboard::may_read(me.user.role) {
            return Err(forbidden("The dashboard is for staff and admins."));
        }
        dashboard::require_enrolment(svc, &me.user).await?;
        let csrf = dashboard::csrf_token(svc, &me);
        Ok(Viewer { me, csrf })
    }
}

/// Adds `Set-Cookie` to an answer.
pub fn with_cookie(mut res: Response, value: HeaderValue) -> Response {
    res.headers_mut().append(SET_COOKIE, value);
    res
}
