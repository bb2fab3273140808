//! The HTTP surface: one handler per feature, mounted under `/api/v1`,
//! `/api/v2` and the legacy `/auth/...` paths, each with and without its
//! trailing slash (contract §2).

mod admin;
mod auth;
mod extract;
mod forms;
mod me;
mod observe;
mod ops;
mod passwords;
mod reply;
mod sessions;

use axum::Router;
use axum::middleware;
use axum::routing::{MethodRouter, delete, get, patch, post};

pub use extract::{bearer_token, client_ip};
pub use observe::{REQUEST_ID, RequestId, metrics_router};

use crate::state::AppState;
use crate::throttle::Scope;

/// A feature: its path under `{v}`, its legacy path if it has one, its
/// throttle scope (contract §7) and its handlers.
struct Feature {
    path: &'static str,
    legacy: Option<&'static str>,
    scope: Scope,
    handlers: MethodRouter<AppState>,
}

fn feature(
    path: &'static str,
    legacy: Option<&'static str>,
    scope: Scope,
    handlers: MethodRouter<AppState>,
) -> Feature {
    Feature { path, legacy, scope, handlers }
}

fn features() -> Vec<Feature> {
    use Scope::{Burst, Sustained};
    vec![
        feature("/auth/login/", Some("/auth/login/"), Burst, post(auth::login)),
        feature("/auth/register/", Some("/auth/register/"), Burst, post(auth::register)),
        feature("/auth/logout/", Some("/auth/logout/"), Sustained, post(auth::logout)),
        feature("/auth/token/refresh/", Some("/auth/token/refresh/"), Sustained, post(auth::refresh)),
        feature("/password/reset-request/", Some("/auth/password-reset/"), Burst, post(passwords::reset_request)),
        feature(
            "/password/reset-confirm/",
            Some("/auth/password-reset-confirm/"),
            Burst,
            post(passwords::reset_confirm),
        ),
        feature("/password/change/", Some("/auth/password-change/"), Sustained, post(passwords::change)),
        feature("/auth/verify-otp/", None, Burst, post(auth::verify_otp)),
        feature("/auth/resend-otp/", None, Burst, post(auth::resend_otp)),
        feature("/auth/me/", None, Sustained, get(me::get).patch(me::patch)),
        feature("/auth/sessions/", None, Sustained, get(sessions::list)),
        feature("/auth/sessions/{id}/", None, Sustained, delete(sessions::revoke)),
        feature("/auth/logout-all/", None, Sustained, post(sessions::logout_all)),
        feature("/admin/users/", None, Sustained, get(admin::list_users)),
        feature(
            "/admin/users/{id}/",
            None,
            Sustained,
            get(admin::get_user).merge(patch(admin::patch_user)).merge(delete(admin::delete_user)),
        ),
        feature("/admin/users/{id}/restore/", None, Sustained, post(admin::restore_user)),
        feature("/admin/audit/", None, Sustained, get(admin::list_audit)),
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
    let features: Vec<(Feature, MethodRouter<AppState>)> = features()
        .into_iter()
        .map(|f| {
            let throttled = crate::throttle::layer(&state, f.scope, f.handlers.clone());
            (f, throttled)
        })
        .collect();
    let versioned = features.iter().fold(Router::new(), |r, (f, h)| route_both(r, f.path, h.clone()));
    let legacy = features
        .iter()
        .filter_map(|(f, h)| f.legacy.map(|l| (l, h)))
        .fold(Router::new(), |r, (path, h)| route_both(r, path, h.clone()));
    let ops = route_both(Router::new(), "/healthz/", get(ops::healthz));
    let ops = route_both(ops, "/readyz/", get(ops::readyz));
    let ops = observe::with_metrics(ops, &state);
    Router::new()
        .nest("/api/v1", versioned.clone())
        .nest("/api/v2", versioned)
        .merge(legacy)
        .merge(ops)
        .fallback(ops::not_found)
        .layer(middleware::from_fn(ops::envelope_bare_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(ops::panic_to_envelope))
        .layer(middleware::from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}
