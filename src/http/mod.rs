//! The HTTP surface: one handler per feature, mounted under `/api/v1`,
//! `/api/v2` and the legacy `/auth/...` paths, each with and without its
//! trailing slash (contract §2).

mod auth;
mod extract;
mod forms;
mod me;
mod ops;
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
    Router::new()
        .nest("/api/v1", versioned.clone())
        .nest("/api/v2", versioned)
        .merge(legacy)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(ops::not_found)
        .layer(middleware::from_fn(ops::envelope_bare_errors))
        .with_state(state)
}
