//! The HTTP surface: one handler per feature, mounted under `/api/v1`,
//! `/api/v2` and the legacy `/auth/...` paths, each with and without its
//! trailing slash (contract §2).

mod auth;
mod extract;
mod forms;
mod me;
mod ops;
mod passwords;
mod reply;

use axum::Router;
use axum::middleware;
use axum::routing::{MethodRouter, get, post};

pub use extract::client_ip;

use crate::state::AppState;

/// (versioned path under `{v}`, legacy path, handlers).
fn features() -> Vec<(&'static str, Option<&'static str>, MethodRouter<AppState>)> {
    vec![
        ("/auth/login/", Some("/auth/login/"), post(auth::login)),
        ("/auth/register/", Some("/auth/register/"), post(auth::register)),
        ("/auth/logout/", Some("/auth/logout/"), post(auth::logout)),
        ("/auth/token/refresh/", Some("/auth/token/refresh/"), post(auth::refresh)),
        ("/password/reset-request/", Some("/auth/password-reset/"), post(passwords::reset_request)),
        ("/password/reset-confirm/", Some("/auth/password-reset-confirm/"), post(passwords::reset_confirm)),
        ("/password/change/", Some("/auth/password-change/"), post(passwords::change)),
        ("/auth/verify-otp/", None, post(auth::verify_otp)),
        ("/auth/resend-otp/", None, post(auth::resend_otp)),
        ("/auth/me/", None, get(me::get).patch(me::patch)),
    ]
}

/// Adds `path` both with and without its trailing slash.
fn route_both(router: Router<AppState>, path: &str, handlers: MethodRouter<AppState>) -> Router<AppState> {
    let bare = path.trim_end_matches('/');
    router.route(path, handlers.clone()).route(bare, handlers)
}

/// The complete router for `state`, ready to serve or to nest in another
/// application's router.
pub fn router(state: AppState) -> Router {
    let features = features();
    let versioned = features.iter().fold(Router::new(), |r, (path, _, h)| route_both(r, path, h.clone()));
    let legacy = features
        .iter()
        .filter_map(|(_, legacy, h)| legacy.map(|l| (l, h)))
        .fold(Router::new(), |r, (path, h)| route_both(r, path, h.clone()));
    let ops = route_both(Router::new(), "/healthz/", get(ops::healthz));
    let ops = route_both(ops, "/readyz/", get(ops::readyz));
    Router::new()
        .nest("/api/v1", versioned.clone())
        .nest("/api/v2", versioned)
        .merge(legacy)
        .merge(ops)
        .fallback(ops::not_found)
        .layer(middleware::from_fn(ops::envelope_bare_errors))
        .with_state(state)
}
