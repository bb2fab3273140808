//! Rate-limit counters (contract §7). Each throttled route belongs to a
//! [`Scope`]; the middleware that picks a request's key is in
//! `http::throttle`. The counters live behind [`Limiter`]: in-process
//! ([`MemoryLimiter`]), or in Redis ([`RedisLimiter`]) when
//! `AUTHGATE_REDIS_URL` is set, shared by every instance. The sign-in
//! defence's counters in Redis (§14.1) are in [`login_defence`].

mod failure_counters;
pub mod login_defence;
pub mod memory;
pub mod redis;
pub(crate) mod redis_link;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::domain::Role;

pub use self::failure_counters::FailureCounters;
pub use self::login_defence::RedisLoginCounters;
pub use self::memory::MemoryLimiter;
pub use self::redis::RedisLimiter;
pub use self::redis_link::RedisLink;

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
pub fn whole_seconds(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(6)), 6);
        assert_eq!(whole_seconds(Duration::from_millis(6001)), 7);
    }
}
