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
use utoipa_axum::router::UtoipaMethodRouter;

pub use extract::client_ip;
pub use observe::metrics_router;

use crate::state::AppState;
use crate::throttle::Scope;
use throttle::Access;

/// The prefixes every feature is mounted under (contract §2).
const VERSIONS: [&str; 2] = ["/api/v1", "/api/v2"];

/// Who may call a feature: the security its operations' annotations
/// declare (a test checks that the two agree; the router does not build the
/// operations, which only the document needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anyone,
    /// A user's Bearer token (the `bearer` scheme).
    User,
    /// A service's token (introspection): keyed by address as anonymous
    /// callers are, spared by the blocklists as credentials are.
    Service,
}

/// A feature: its path under `{v}`, its legacy path if it has one, its
/// throttle scope (contract §7), who may call it, its handlers (routed by
/// the methods their `#[utoipa::path]` declare) and the builder of their
/// OpenAPI operations (see `openapi.rs`).
struct Feature {
    path: &'static str,
    legacy: Option<&'static str>,
    scope: Scope,
    caller: Caller,
    handlers: MethodRouter<AppState>,
    api: fn() -> UtoipaMethodRouter<AppState>,
}

impl Feature {
    fn access(&self) -> Access {
        if self.caller == Caller::User { Access::Bearer } else { Access::Anonymous }
    }

    /// Whether its callers present credentials of any kind: the blocklists
    /// spare them.
    fn credentials(&self) -> bool {
        self.caller != Caller::Anyone
    }
}

/// `handlers!(module::handler, ...)`: the handlers, routed by the methods
/// their annotations declare, and the builder of their operations (utoipa's
/// `routes!`), called only for the document. Building the operations of
/// every route at each start cost about 1 MB of the idle server's memory.
macro_rules! handlers {
    ($($module:ident :: $handler:ident),+ $(,)?) => {{
        use utoipa::Path as _;
        use utoipa_axum::PathItemExt as _;
        let mut router = MethodRouter::new();
        $(utoipa_axum::paste! {
            for method in $module::[<__path_ $handler>]::methods() {
                router = router.on(method.to_method_filter(), $module::$handler);
            }
        })+
        let api: fn() -> UtoipaMethodRouter<AppState> = || utoipa_axum::routes!($($module::$handler),+);
        (router, api)
    }};
}

fn feature(
    path: &'static str,
    legacy: Option<&'static str>,
    scope: Scope,
    caller: Caller,
    (handlers, api): (MethodRouter<AppState>, fn() -> UtoipaMethodRouter<AppState>),
) -> Feature {
    Feature { path, legacy, scope, caller, handlers, api }
}

fn features() -> Vec<Feature> {
    use Caller::{Anyone, Service, User};
    use Scope::{Burst, Sustained};
    vec![
        feature("/auth/login/", Some("/auth/login/"), Burst, Anyone, handlers!(auth::login)),
        feature("/auth/register/", Some("/auth/register/"), Burst, Anyone, handlers!(auth::register)),
        feature("/auth/logout/", Some("/auth/logout/"), Sustained, User, handlers!(auth::logout)),
        feature("/auth/token/refresh/", Some("/auth/token/refresh/"), Sustained, Anyone, handlers!(auth::refresh)),
        feature(
            "/password/reset-request/",
            Some("/auth/password-reset/"),
            Burst,
            Anyone,
            handlers!(passwords::reset_request),
        ),
        feature(
            "/password/reset-confirm/",
            Some("/auth/password-reset-confirm/"),
            Burst,
            Anyone,
            handlers!(passwords::reset_confirm),
        ),
        feature("/password/change/", Some("/auth/password-change/"), Sustained, User, handlers!(passwords::change)),
        feature("/auth/verify-otp/", None, Burst, Anyone, handlers!(auth::verify_otp)),
        feature("/auth/challenge/", None, Burst, Anyone, handlers!(bots::challenge)),
        feature("/auth/resend-otp/", None, Burst, Anyone, handlers!(auth::resend_otp)),
        feature("/auth/me/", None, Sustained, User, handlers!(me::get, me::patch)),
        feature("/auth/sessions/", None, Sustained, User, handlers!(sessions::list)),
        feature("/auth/sessions/{id}/", None, Sustained, User, handlers!(sessions::revoke)),
        feature("/auth/logout-all/", None, Sustained, User, handlers!(sessions::logout_all)),
        feature("/admin/users/", None, Sustained, User, handlers!(admin::list_users)),
        feature(
            "/admin/users/{id}/",
            None,
            Sustained,
            User,
            handlers!(admin::get_user, admin::patch_user, admin::delete_user),
        ),
        feature("/admin/users/{id}/restore/", None, Sustained, User, handlers!(admin::restore_user)),
        feature("/admin/audit/", None, Sustained, User, handlers!(admin::list_audit)),
        feature("/auth/mfa/", None, Sustained, User, handlers!(mfa::status)),
        feature("/auth/mfa/totp/setup/", None, Sustained, User, handlers!(mfa::totp_setup)),
        feature("/auth/mfa/totp/confirm/", None, Burst, User, handlers!(mfa::totp_confirm)),
        feature("/auth/mfa/totp/disable/", None, Burst, User, handlers!(mfa::totp_disable)),
        feature("/auth/mfa/recovery-codes/", None, Burst, User, handlers!(mfa::recovery_codes)),
        feature("/auth/mfa/verify/", None, Burst, Anyone, handlers!(mfa::verify)),
        feature("/auth/mfa/webauthn/options/", None, Burst, Anyone, handlers!(mfa::webauthn_options)),
        feature("/auth/passkeys/", None, Sustained, User, handlers!(passkeys::list)),
        feature("/auth/passkeys/{id}/", None, Sustained, User, handlers!(passkeys::rename, passkeys::delete)),
        feature("/auth/passkeys/register/options/", None, Sustained, User, handlers!(passkeys::register_options)),
        feature("/auth/passkeys/register/", None, Burst, User, handlers!(passkeys::register)),
        feature("/auth/passkeys/login/options/", None, Burst, Anyone, handlers!(passkeys::login_options)),
        feature("/auth/passkeys/login/", None, Burst, Anyone, handlers!(passkeys::login)),
        feature("/admin/users/{id}/mfa/reset/", None, Sustained, User, handlers!(admin::reset_mfa)),
        // Keyed by the client's address: its Bearer token is a service's.
        feature("/auth/introspect/", None, Sustained, Service, handlers!(keys::introspect)),
        feature("/admin/users/{id}/sessions/", None, Sustained, User, handlers!(admin_sessions::list)),
        feature("/admin/users/{id}/sessions/{sid}/", None, Sustained, User, handlers!(admin_sessions::revoke)),
        feature("/admin/users/{id}/logout-all/", None, Sustained, User, handlers!(admin_sessions::logout_all)),
        feature("/auth/social/exchange/", None, Burst, Anyone, handlers!(social::exchange)),
        feature("/auth/social/{provider}/start/", None, Burst, Anyone, handlers!(social::start)),
        feature("/auth/social/{provider}/callback/", None, Burst, Anyone, handlers!(social::callback)),
        feature("/auth/social/{provider}/link/", None, Sustained, User, handlers!(social::link)),
        // One path, two features: the native sign-in needs no token (burst),
        // the unlink does (sustained, by user).
        feature("/auth/social/{provider}/", None, Burst, Anyone, handlers!(social::native)),
        feature("/auth/social/{provider}/", None, Sustained, User, handlers!(social::unlink)),
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
            let throttled = throttle::layer(&state, f.scope, f.access(), f.handlers.clone());
            // Outside the throttle, so it runs first (see `blocklist::layer`).
            let guarded = blocklist::layer(&state, f.credentials(), throttled);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any operation of `api` declares a security requirement that
    /// `names` (given it as JSON: scheme name -> scopes) accepts.
    fn declares(api: &utoipa::openapi::path::Paths, names: impl Fn(&serde_json::Value) -> bool) -> bool {
        let names =
            |s: &utoipa::openapi::security::SecurityRequirement| serde_json::to_value(s).is_ok_and(|v| names(&v));
        let secured =
            |op: &utoipa::openapi::path::Operation| op.security.as_ref().is_some_and(|s| s.iter().any(&names));
        api.paths.values().any(|item| {
            [&item.get, &item.put, &item.post, &item.delete, &item.patch].into_iter().flatten().any(secured)
        })
    }

    #[test]
    fn each_feature_s_path_and_caller_are_those_its_annotations_declare() {
        for f in features() {
            let (_, api, _) = (f.api)();
            assert!(api.paths.keys().all(|p| p == f.path), "the annotations of {} name {:?}", f.path, api.paths.keys());
            let declared = if declares(&api, |s| s.get("bearer").is_some()) {
                Caller::User
            } else if declares(&api, |s| s.as_object().is_some_and(|o| !o.is_empty())) {
                Caller::Service
            } else {
                Caller::Anyone
            };
            assert_eq!(f.caller, declared, "the caller of {}", f.path);
        }
    }
}
