//! The HTTP surface: one handler per feature, mounted under `/api/v1`,
//! `/api/v2` and the legacy `/auth/...` paths, each with and without its
//! trailing slash (contract §2).

mod admin;
mod admin_sessions;
mod auth;
mod blocklist;
mod bots;
mod dashboard;
mod error;
mod extract;
mod forms;
mod headers;
mod keys;
mod links;
mod me;
mod mfa;
mod observe;
pub mod openapi;
mod ops;
mod passkeys;
mod passwords;
mod reply;
mod rules;
mod schemas;
mod sessions;
mod social;
mod throttle;

use axum::Router;
use axum::middleware;
use axum::routing::{MethodRouter, get};
use utoipa::openapi::path::Paths;
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

pub use extract::client_ip;
pub use observe::metrics_router;

use crate::state::AppState;
use crate::throttle::Scope;
use throttle::Access;

/// The prefixes every feature is mounted under (contract §2).
const VERSIONS: [&str; 2] = ["/api/v1", "/api/v2"];

/// A feature: its path under `{v}`, its legacy path if it has one, its
/// throttle scope (contract §7), whether it needs a Bearer token, its
/// handlers and their OpenAPI operations (from each handler's
/// `#[utoipa::path]`, see `openapi.rs`).
struct Feature {
    path: &'static str,
    legacy: Option<&'static str>,
    scope: Scope,
    access: Access,
    /// Whether its operations need credentials of any kind (a user's Bearer
    /// token, introspection's service token): the blocklists spare them.
    credentials: bool,
    handlers: MethodRouter<AppState>,
    api: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

/// `routes` is `routes!(handler, ...)`: the handlers, routed by the methods
/// their annotations declare, with those annotations' operations. A route
/// needs a Bearer token when its operations declare the `bearer` security
/// scheme: the document and the throttle read the same annotation.
fn feature(
    path: &'static str,
    legacy: Option<&'static str>,
    scope: Scope,
    routes: UtoipaMethodRouter<AppState>,
) -> Feature {
    let (schemas, api, handlers) = routes;
    assert!(
        api.paths.keys().all(|p| p == path),
        "the #[utoipa::path] of the handlers of {path} names another path: {:?}",
        api.paths.keys()
    );
    // The `bearer` scheme is a user's token; introspection's service token
    // is another scheme.
    let access = if declares(&api, |s| s.get("bearer").is_some()) { Access::Bearer } else { Access::Anonymous };
    let credentials = declares(&api, |s| s.as_object().is_some_and(|o| !o.is_empty()));
    Feature { path, legacy, scope, access, credentials, handlers, api, schemas }
}

/// Whether any operation of `api` declares a security requirement that
/// `names` (given it as JSON: scheme name -> scopes) accepts.
fn declares(api: &Paths, names: impl Fn(&serde_json::Value) -> bool) -> bool {
    let names = |s: &utoipa::openapi::security::SecurityRequirement| serde_json::to_value(s).is_ok_and(|v| names(&v));
    let secured = |op: &utoipa::openapi::path::Operation| op.security.as_ref().is_some_and(|s| s.iter().any(&names));
    api.paths
        .values()
        .any(|item| [&item.get, &item.put, &item.post, &item.delete, &item.patch].into_iter().flatten().any(secured))
}

fn features() -> Vec<Feature> {
    use Scope::{Burst, Sustained};
    vec![
        feature("/auth/login/", Some("/auth/login/"), Burst, routes!(auth::login)),
        feature("/auth/register/", Some("/auth/register/"), Burst, routes!(auth::register)),
        feature("/auth/logout/", Some("/auth/logout/"), Sustained, routes!(auth::logout)),
        feature("/auth/token/refresh/", Some("/auth/token/refresh/"), Sustained, routes!(auth::refresh)),
        feature("/password/reset-request/", Some("/auth/password-reset/"), Burst, routes!(passwords::reset_request)),
        feature(
            "/password/reset-confirm/",
            Some("/auth/password-reset-confirm/"),
            Burst,
            routes!(passwords::reset_confirm),
        ),
        feature("/password/change/", Some("/auth/password-change/"), Sustained, routes!(passwords::change)),
        feature("/auth/verify-otp/", None, Burst, routes!(auth::verify_otp)),
        feature("/auth/challenge/", None, Burst, routes!(bots::challenge)),
        feature("/auth/resend-otp/", None, Burst, routes!(auth::resend_otp)),
        feature("/auth/me/", None, Sustained, routes!(me::get, me::patch)),
        feature("/auth/sessions/", None, Sustained, routes!(sessions::list)),
        feature("/auth/sessions/{id}/", None, Sustained, routes!(sessions::revoke)),
        feature("/auth/logout-all/", None, Sustained, routes!(sessions::logout_all)),
        feature("/admin/users/", None, Sustained, routes!(admin::list_users)),
        feature("/admin/users/{id}/", None, Sustained, routes!(admin::get_user, admin::patch_user, admin::delete_user)),
        feature("/admin/users/{id}/restore/", None, Sustained, routes!(admin::restore_user)),
        feature("/admin/audit/", None, Sustained, routes!(admin::list_audit)),
        feature("/auth/mfa/", None, Sustained, routes!(mfa::status)),
        feature("/auth/mfa/totp/setup/", None, Sustained, routes!(mfa::totp_setup)),
        feature("/auth/mfa/totp/confirm/", None, Burst, routes!(mfa::totp_confirm)),
        feature("/auth/mfa/totp/disable/", None, Burst, routes!(mfa::totp_disable)),
        feature("/auth/mfa/recovery-codes/", None, Burst, routes!(mfa::recovery_codes)),
        feature("/auth/mfa/verify/", None, Burst, routes!(mfa::verify)),
        feature("/auth/mfa/webauthn/options/", None, Burst, routes!(mfa::webauthn_options)),
        feature("/auth/passkeys/", None, Sustained, routes!(passkeys::list)),
        feature("/auth/passkeys/{id}/", None, Sustained, routes!(passkeys::rename, passkeys::delete)),
        feature("/auth/passkeys/register/options/", None, Sustained, routes!(passkeys::register_options)),
        feature("/auth/passkeys/register/", None, Burst, routes!(passkeys::register)),
        feature("/auth/passkeys/login/options/", None, Burst, routes!(passkeys::login_options)),
        feature("/auth/passkeys/login/", None, Burst, routes!(passkeys::login)),
        feature("/admin/users/{id}/mfa/reset/", None, Sustained, routes!(admin::reset_mfa)),
        // Keyed by the client's address: its Bearer token is a service's.
        feature("/auth/introspect/", None, Sustained, routes!(keys::introspect)),
        feature("/admin/users/{id}/sessions/", None, Sustained, routes!(admin_sessions::list)),
        feature("/admin/users/{id}/sessions/{sid}/", None, Sustained, routes!(admin_sessions::revoke)),
        feature("/admin/users/{id}/logout-all/", None, Sustained, routes!(admin_sessions::logout_all)),
        feature("/auth/social/exchange/", None, Burst, routes!(social::exchange)),
        feature("/auth/social/{provider}/start/", None, Burst, routes!(social::start)),
        feature("/auth/social/{provider}/callback/", None, Burst, routes!(social::callback)),
        feature("/auth/social/{provider}/link/", None, Sustained, routes!(social::link)),
        // One path, two features: the native sign-in needs no token (burst),
        // the unlink does (sustained, by user).
        feature("/auth/social/{provider}/", None, Burst, routes!(social::native)),
        feature("/auth/social/{provider}/", None, Sustained, routes!(social::unlink)),
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
            let throttled = throttle::layer(&state, f.scope, f.access, f.handlers.clone());
            // Outside the throttle, so it runs first (see `blocklist::layer`).
            let guarded = blocklist::layer(&state, f.credentials, throttled);
            (f, guarded)
        })
        .collect();
    let versioned = features.iter().fold(Router::new(), |r, (f, h)| route_both(r, f.path, h.clone()));
    let legacy = features
        .iter()
        .filter_map(|(f, h)| f.legacy.map(|l| (l, h)))
        .fold(Router::new(), |r, (path, h)| route_both(r, path, h.clone()));
    let ops = route_both(Router::new(), "/healthz/", get(ops::healthz));
    let ops = route_both(ops, "/readyz/", get(ops::readyz));
    // Not throttled (contract §2): resource servers fetch it.
    let ops = ops.route("/.well-known/jwks.json", get(keys::jwks)).route("/.well-known/jwks.json/", get(keys::jwks));
    let ops = observe::with_metrics(ops, &state);
    VERSIONS
        .iter()
        .fold(Router::new(), |r, v| r.nest(v, versioned.clone()))
        .merge(legacy)
        .merge(ops)
        .merge(openapi::routes())
        .merge(dashboard::router(&state))
        .fallback(ops::not_found)
        .layer(middleware::from_fn(ops::envelope_bare_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(ops::panic_to_envelope))
        .layer(middleware::from_fn_with_state(state.clone(), headers::headers))
        .layer(middleware::from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}
