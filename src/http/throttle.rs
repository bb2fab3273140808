//! The throttle middleware (contract §7): each route counts its requests
//! against its scope's limit. The key is never chosen by what a request
//! merely carries: on a route that needs no authentication it is the
//! client (`ip:` and the address, an IPv6 client's /64); on a route that
//! needs a Bearer token it is the user only once the token has passed the
//! whole Bearer check (signature, type, live session, active user), else
//! the client. A logged-out session's token or a throwaway account's token
//! cannot move a request out of its address's limit.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::extract::{Authenticated, bearer_token, client_ip};
use crate::domain::network::client_key;
use crate::error::Error;
use crate::flows::auth::authenticate;
use crate::state::AppState;
use crate::throttle::{Decision, Scope, multiplier, whole_seconds};

/// Whether a route's handlers need a Bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anonymous,
    Bearer,
}

/// Wraps a route's handlers in its scope's limit. Only requests that reach
/// one of the handlers are counted (a 405 is not).
pub fn layer(
    state: &AppState,
    scope: Scope,
    access: Access,
    handlers: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    if !state.config.throttle_enabled {
        return handlers;
    }
    handlers.route_layer(middleware::from_fn_with_state((state.clone(), scope, access), throttle))
}

async fn throttle(
    State((state, scope, access)): State<(AppState, Scope, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = match access {
        Access::Bearer => bearer_token(req.headers()).ok().map(str::to_owned),
        Access::Anonymous => None,
    };
    let caller = match token {
        // Any failure is the handler's to report; here it only means the
        // request counts against its address.
        Some(token) => authenticate(&state, &token).await.ok(),
        None => None,
    };
    let (key, times) = match &caller {
        Some(me) => (format!("user:{}", me.user.id), multiplier(me.user.role)),
        None => (client(&state, &req), 1),
    };
    if let Some(me) = caller {
        req.extensions_mut().insert(Authenticated(me));
    }
    match state.limiter.check(scope, &key, times).await {
        Decision::Allowed => next.run(req).await,
        Decision::Limited { retry_after } => {
            tracing::debug!(?scope, key = %key, ?retry_after, "throttled");
            crate::telemetry::throttled(scope.as_str());
            crate::telemetry::throttled_at(state.clock.unix());
            Error::TooManyRequests { retry_after_secs: whole_seconds(retry_after) }.into_response()
        }
    }
}

/// `ip:<address>`, or `ip:<prefix>/64` for an IPv6 client.
fn client(state: &AppState, req: &Request) -> String {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip: Option<IpAddr> = peer.map(|p| client_ip(p, req.headers(), &state.config.trusted_proxies));
    match ip.map(client_key) {
        Some(net) if net.prefix_len() == net.max_prefix_len() => format!("ip:{}", net.addr()),
        Some(net) => format!("ip:{net}"),
        None => "ip:unknown".to_string(),
    }
}
