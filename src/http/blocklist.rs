//! The IP blocklists' refusal (contract §20): a client on a list gets a 403
//! on every route that needs no authentication, audited `blocked_ip` at
//! most once a minute per network (an IPv4 address, an IPv6 /64) on each
//! instance. Routes that need credentials (a user's Bearer token,
//! introspection's service token) answer as usual: a listed network may
//! hold a signed-in user behind a shared address, and what a token allows
//! is checked by the token. `/healthz`, `/readyz`, the JWKS and the
//! documentation are not features and are never refused.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde_json::json;

use super::extract::{Client, client_ip};
use crate::domain::{AuditAction, AuditEvent, ClientInfo, Outcome};
use crate::error::Error;
use crate::state::AppState;

const REFUSAL: &str = "Requests from your network are not accepted.";
/// The audited path is the route's, but `{provider}` is the client's text.
const MAX_PATH: usize = 256;

/// Puts the refusal in front of a feature's handlers, unless they need
/// `credentials` or no list is configured.
///
/// Apply it after (around) the throttle's layer, so the refusal comes
/// first: a listed client's requests then cost one in-memory lookup and no
/// limiter round trip (Redis or the database), do not spend the budget
/// of the unlisted addresses that share its throttle key (an IPv6 /64),
/// and are answered 403, which says "not from here", never a 429 that says
/// "try again later".
pub fn layer(state: &AppState, credentials: bool, handlers: MethodRouter<AppState>) -> MethodRouter<AppState> {
    if state.config.defence.ip_blocklists.is_empty() || credentials {
        return handlers;
    }
    handlers.route_layer(middleware::from_fn_with_state(state.clone(), refuse_listed))
}

async fn refuse_listed(State(svc): State<AppState>, req: Request, next: Next) -> Response {
    // The address the throttle keys on: the peer, or behind a trusted
    // proxy the client it forwarded for. An embedding application that
    // gives no peer address gets no refusal.
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip: Option<IpAddr> = peer.map(|p| client_ip(p, req.headers(), &svc.config.trusted_proxies));
    let Some(ip) = ip.filter(|&ip| svc.defence.blocklist.listed(ip)) else {
        return next.run(req).await;
    };
    tracing::debug!(%ip, path = path(&req), "refused: the client is on an IP blocklist");
    if svc.defence.blocklist.audit_due(ip, svc.clock.unix()) {
        audit(&svc, req, ip).await;
    }
    Error::Forbidden(REFUSAL).into_response()
}

/// The path as the client sent it (a nested router sees it without the
/// `/api/v1` prefix).
fn path(req: &Request) -> &str {
    req.extensions().get::<OriginalUri>().map_or(req.uri(), |o| &o.0).path()
}

/// Records the refusal. A failed write is logged and the answer stays the
/// 403: the refusal does not depend on the audit trail.
async fn audit(svc: &AppState, req: Request, ip: IpAddr) {
    let (method, path) = (req.method().to_string(), path(&req).chars().take(MAX_PATH).collect::<String>());
    let (mut parts, _) = req.into_parts();
    let client = match Client::from_request_parts(&mut parts, svc).await {
        Ok(Client(info)) => info,
        Err(_) => ClientInfo { ip: Some(ip), user_agent: None },
    };
    let event = AuditEvent::new(AuditAction::BlockedIp, Outcome::Failure, None, &client)
        .with_detail(json!({"method": method, "path": path}));
    if let Err(e) = svc.store.record_audit(&event).await {
        tracing::warn!(error = %e, %ip, "blocked_ip: the audit event was not recorded");
    }
}
