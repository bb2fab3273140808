//! The audit dashboard (contract §19): server-rendered pages for staff
//! (read) and admins (read and change) at `/dashboard/`. A cookie session
//! (`flows::dashboard`), a CSRF token on every form, CSP `default-src
//! 'self'` (the script and style are files served from the binary), and
//! every change through the admin API's own flows, so its rules and audit
//! events are those of §13.

mod assets;
mod audit;
mod events;
mod overview;
mod pages;
mod session;
mod signin;
mod users;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header::{CONTENT_SECURITY_POLICY, HeaderName, LOCATION, REFERRER_POLICY, X_FRAME_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};

use session::Viewer;

use super::throttle::{self, Access};
use crate::error::Error;
use crate::state::AppState;
use crate::throttle::Scope;

/// No script or style but the dashboard's own files; no framing.
const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The dashboard's routes (merged into the application's router).
pub fn router(state: &AppState) -> Router<AppState> {
    let throttled = |scope, h: MethodRouter<AppState>| throttle::layer(state, scope, Access::Anonymous, h);
    let page = |h| throttled(Scope::Sustained, h);
    let routes: Vec<(&str, MethodRouter<AppState>)> = vec![
        // Sign-in steps take the burst scope, like the API's (§2).
        ("/dashboard/login/", throttled(Scope::Burst, get(signin::page).post(signin::submit))),
        ("/dashboard/logout/", page(post(signin::logout))),
        ("/dashboard/", page(get(overview::page))),
        ("/dashboard/users/", page(get(users::list))),
        ("/dashboard/users/{id}/", page(get(users::detail))),
        ("/dashboard/users/{id}/sessions/{sid}/revoke/", page(post(users::revoke_session))),
        ("/dashboard/users/{id}/{action}/", page(post(users::act))),
        ("/dashboard/audit/", page(get(audit::page))),
        ("/dashboard/audit/export.csv", page(get(audit::export_csv))),
        ("/dashboard/audit/export.jsonl", page(get(audit::export_jsonl))),
        ("/dashboard/events/", page(get(events::stream))),
        // Not throttled (§2).
        ("/dashboard/assets/{file}", get(assets::serve)),
    ];
    let router = routes.into_iter().fold(Router::new(), |r, (path, h)| {
        if path.ends_with('/') { super::route_both(r, path, h) } else { r.route(path, h) }
    });
    router.layer(middleware::from_fn(page_headers))
}

/// CSP and framing headers on every answer of the dashboard.
async fn page_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    res
}

/// A `303 See Other` to `to` (after a form's POST).
fn see_other(to: &str) -> Response {
    redirect(StatusCode::SEE_OTHER, to)
}

fn redirect(status: StatusCode, to: &str) -> Response {
    let mut res = status.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// A posted form (`application/x-www-form-urlencoded`), at most 64 KiB.
struct FormData(HashMap<String, String>);

impl FormData {
    fn parse(body: &Bytes) -> Result<FormData, Failure> {
        if body.len() > super::extract::BODY_LIMIT {
            return Err(Failure::from(Error::PayloadTooLarge));
        }
        Ok(FormData(url::form_urlencoded::parse(body).into_owned().collect()))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// An answer that is not the page asked for: an error page (or a
/// redirect to the sign-in page), as HTML.
pub struct Failure(Box<Response>);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = super::error::status(&e);
        Failure(Box::new(pages::message(status, &message(&e), None)))
    }
}

/// What an error page says: the error's own message(s); an internal
/// error's cause stays in the log, under an id the page shows.
fn message(e: &Error) -> String {
    match e {
        Error::Validation(fields) | Error::Conflict(fields) => fields.messages().collect::<Vec<_>>().join(" "),
        Error::BadRequest(m) => m.clone(),
        Error::Unauthorized(m) | Error::Forbidden(m) | Error::NotFound(m) | Error::Unavailable(m) => (*m).into(),
        Error::Delayed { message, .. } => (*message).into(),
        Error::TooManyRequests { retry_after_secs } => {
            format!("Too many requests. Try again in {retry_after_secs} seconds.")
        }
        Error::PayloadTooLarge => "The form is too large.".into(),
        Error::UnsupportedMediaType | Error::RequestTimeout => "The form could not be read.".into(),
        Error::Internal(cause) => {
            let error_id = uuid::Uuid::new_v4().simple().to_string();
            tracing::error!(error_id = %error_id, error = %cause, debug = ?cause, "internal error");
            format!("Internal server error (error id {error_id}).")
        }
    }
}

/// The header of an answer that names an HTML page.
fn html_type() -> (HeaderName, HeaderValue) {
    (axum::http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))
}
