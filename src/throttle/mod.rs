//! Rate limiting (contract §7).
//!
//! Each throttled route belongs to a [`Scope`]. A request is counted against
//! its scope under the caller's user id when it carries a valid Bearer
//! access token (with the role's multiplier), else under the client IP. The
//! counters live behind [`Limiter`]: in-process ([`MemoryLimiter`]), or in
//! Redis ([`RedisLimiter`]) when `AUTHGATE_REDIS_URL` is set, shared by every
//! instance.

pub mod memory;
pub mod redis;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::config::{Config, ConfigError};
use crate::crypto::jwt::{JwtKeys, TokenType};
use crate::domain::Role;
use crate::error::Error;
use crate::http::{bearer_token, client_ip};
use crate::state::AppState;

pub use self::memory::MemoryLimiter;
pub use self::redis::RedisLimiter;

/// How often idle keys are evicted from the in-process store.
pub const CLEANUP_EVERY: Duration = Duration::from_secs(30);

/// The throttle scope of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Burst,
    Sustained,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Burst => "burst",
            Scope::Sustained => "sustained",
        }
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Limited { retry_after: Duration },
}

/// A store of counters. `check` takes one request of `key` in `scope`,
/// whose limit is the scope's rate times `multiplier`.
pub trait Limiter: Send + Sync {
    fn check<'a>(
        &'a self,
        scope: Scope,
        key: &'a str,
        multiplier: u32,
    ) -> Pin<Box<dyn Future<Output = Decision> + Send + 'a>>;
}

/// The store for `config`: Redis when `redis_url` is set (connecting in the
/// background: start-up never waits for it), else in-process counters,
/// cleaned in the background (when called inside a Tokio runtime) for as
/// long as they are in use. Fails only on an invalid Redis URL.
pub fn from_config(config: &Config) -> Result<Arc<dyn Limiter>, ConfigError> {
    if let Some(url) = &config.redis_url {
        let limiter = RedisLimiter::new(url, config.throttle_burst, config.throttle_sustained, config.redis_fail_open)
            .map_err(|e| ConfigError { var: "AUTHGATE_REDIS_URL".into(), reason: format!("invalid Redis URL: {e}") })?;
        if config.throttle_enabled {
            limiter.connect_in_background();
        }
        return Ok(Arc::new(limiter));
    }
    let limiter = Arc::new(MemoryLimiter::new(config.throttle_burst, config.throttle_sustained));
    memory::spawn_cleanup(Arc::downgrade(&limiter), CLEANUP_EVERY);
    Ok(limiter)
}

/// Wraps a route's handlers in its scope's limit. Only requests that reach
/// one of the handlers are counted (a 405 is not).
pub fn layer(state: &AppState, scope: Scope, handlers: MethodRouter<AppState>) -> MethodRouter<AppState> {
    if !state.config.throttle_enabled {
        return handlers;
    }
    handlers.route_layer(middleware::from_fn_with_state((state.clone(), scope), throttle))
}

async fn throttle(State((state, scope)): State<(AppState, Scope)>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let (key, multiplier) = identify(&state.keys, req.headers(), peer, &state.config.trusted_proxies);
    match state.limiter.check(scope, &key, multiplier).await {
        Decision::Allowed => next.run(req).await,
        Decision::Limited { retry_after } => {
            tracing::debug!(?scope, key = %key, ?retry_after, "throttled");
            crate::telemetry::throttled(scope.as_str());
            Error::TooManyRequests { retry_after_secs: whole_seconds(retry_after) }.into_response()
        }
    }
}

/// The counter key and the limit's multiplier: `user:<id>` and the role's
/// multiplier for a valid access token, else `ip:<client ip>` and 1.
fn identify(keys: &JwtKeys, headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[ipnet::IpNet]) -> (String, u32) {
    if let Some(claims) = bearer_token(headers).ok().and_then(|t| keys.verify(t, TokenType::Access).ok()) {
        return (format!("user:{}", claims.user_id), Role::from_str(&claims.role).map_or(1, multiplier));
    }
    let ip = peer.map(|peer| client_ip(peer, headers, trusted));
    match ip {
        Some(ip) => (format!("ip:{ip}"), 1),
        None => ("ip:unknown".to_string(), 1),
    }
}

/// How much more a signed-in role may do than a client.
pub fn multiplier(role: Role) -> u32 {
    match role {
        Role::Client => 1,
        Role::Vendor => 2,
        Role::Staff => 5,
        Role::Admin => 10,
    }
}

/// `d` in whole seconds, rounded up, at least 1 (for `Retry-After`).
fn whole_seconds(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::crypto::jwt::claims;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"throttle-test-secret-throttle-test-secret")
    }

    fn token(keys: &JwtKeys, kind: TokenType, role: &str, ttl: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut c = claims(kind, "u1", role, "s1", "0".repeat(32), now, Duration::from_secs(300));
        c.exp = now + ttl;
        keys.sign(&c)
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_valid_access_token_keys_by_user_with_the_role_multiplier() {
        let k = keys();
        for (role, m) in [("client", 1), ("vendor", 2), ("staff", 5), ("admin", 10), ("unknown", 1)] {
            let h = headers(&[("authorization", format!("Bearer {}", token(&k, TokenType::Access, role, 300)))]);
            assert_eq!(identify(&k, &h, ip("10.0.0.1"), &[]), ("user:u1".into(), m), "{role}");
        }
    }

    #[test]
    fn a_bad_expired_or_refresh_token_counts_as_anonymous() {
        let k = keys();
        let other = JwtKeys::new(b"another-secret-another-secret-another!");
        for value in [
            "Bearer garbage".to_string(),
            format!("Bearer {}", token(&k, TokenType::Access, "admin", -10)),
            format!("Bearer {}", token(&k, TokenType::Refresh, "admin", 300)),
            format!("Bearer {}", token(&other, TokenType::Access, "admin", 300)),
            format!("Token {}", token(&k, TokenType::Access, "admin", 300)),
        ] {
            let h = headers(&[("authorization", value.clone())]);
            assert_eq!(identify(&k, &h, ip("10.0.0.1"), &[]), ("ip:10.0.0.1".into(), 1), "{value}");
        }
    }

    #[test]
    fn the_ip_honours_trusted_proxies_only() {
        let k = keys();
        let h = headers(&[("x-forwarded-for", "203.0.113.9".into())]);
        assert_eq!(identify(&k, &h, ip("127.0.0.1"), &[]).0, "ip:127.0.0.1");
        let trusted = ["127.0.0.1/32".parse().unwrap()];
        assert_eq!(identify(&k, &h, ip("127.0.0.1"), &trusted).0, "ip:203.0.113.9");
        assert_eq!(identify(&k, &h, None, &trusted).0, "ip:unknown");
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(6)), 6);
        assert_eq!(whole_seconds(Duration::from_millis(6001)), 7);
    }
}
