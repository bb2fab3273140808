//! One Redis connection with bounded waits, shared by the counter stores
//! that live in Redis (the rate limiter, the sign-in defence).
//!
//! A call that Redis cannot answer within the timeout is a failure: it is
//! counted, logged at most once a second, and Redis is left alone for a
//! moment so that an outage does not add the timeout to every request. The
//! caller then applies the configured policy (`redis_fail_open`).

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The longest a call waits for Redis before the policy decides.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, calls are not sent for this long; the connection
/// manager reconnects in the background meanwhile.
const BACKOFF: Duration = Duration::from_secs(1);
/// At most one warning per this interval.
const WARN_EVERY: Duration = Duration::from_secs(1);

pub struct RedisLink {
    /// Names the user in log lines (`throttle`, `login defence`).
    what: &'static str,
    client: redis::Client,
    /// Created on first use (it needs a Tokio runtime); connects lazily and
    /// reconnects by itself.
    manager: OnceLock<Option<ConnectionManager>>,
    fail_open: bool,
    timeout: Duration,
    failures: AtomicU64,
    /// Milliseconds since `epoch` of the last warning, plus one (0: never).
    last_warning: AtomicU64,
    /// Milliseconds since `epoch` before which Redis is not asked.
    skip_until: AtomicU64,
    epoch: Instant,
}

impl RedisLink {
    /// A link to the server at `url` (not contacted yet).
    pub fn new(what: &'static str, url: &str, fail_open: bool) -> redis::RedisResult<Self> {
        Ok(RedisLink {
            what,
            client: redis::Client::open(url)?,
            manager: OnceLock::new(),
            fail_open,
            timeout: DEFAULT_TIMEOUT,
            failures: AtomicU64::new(0),
            last_warning: AtomicU64::new(0),
            skip_until: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    #[cfg(test)]
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// With Redis unavailable: allow (true) or refuse (false).
    pub fn fail_open(&self) -> bool {
        self.fail_open
    }

    /// How many calls Redis failed to answer (the policy decided instead).
    #[cfg(test)]
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Runs `call` on the connection within the timeout. `None` when Redis
    /// did not answer (or was skipped after a recent failure): the failure
    /// is counted and logged, and the caller applies the policy.
    pub async fn run<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.millis() < self.skip_until.load(Ordering::Relaxed) {
            self.unavailable("Redis was unreachable moments ago");
            return None;
        }
        let Some(manager) = self.manager() else {
            self.unavailable("no Redis connection manager");
            return None;
        };
        match tokio::time::timeout(self.timeout, call(manager)).await {
            Ok(Ok(answer)) => Some(answer),
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed(&format!("no answer within {:?}", self.timeout)),
        }
    }

    /// Starts connecting now, in the background, instead of on the first
    /// call; warns if Redis does not answer. Needs a Tokio runtime; without
    /// one, nothing happens.
    pub fn connect_in_background(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let Some(mut manager) = self.manager() else { return };
        let (what, timeout) = (self.what, self.timeout.max(Duration::from_secs(2)));
        tokio::spawn(async move {
            let ping = redis::cmd("PING");
            match tokio::time::timeout(timeout, ping.query_async::<String>(&mut manager)).await {
                Ok(Ok(_)) => tracing::debug!("{what}: connected to Redis"),
                Ok(Err(e)) => tracing::warn!(error = %e, "{what}: Redis is unreachable for now"),
                Err(_) => tracing::warn!("{what}: Redis did not answer within {timeout:?}"),
            }
        });
    }

    fn manager(&self) -> Option<ConnectionManager> {
        self.manager
            .get_or_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1));
                self.client
                    .get_connection_manager_lazy(config)
                    .inspect_err(
                        |e| tracing::error!(error = %e, "{}: cannot create the Redis connection manager", self.what),
                    )
                    .ok()
            })
            .clone()
    }

    /// A failed call: counted, logged, and Redis is left alone for a moment.
    fn failed<T>(&self, reason: &str) -> Option<T> {
        let until = self.millis() + BACKOFF.as_millis() as u64;
        self.skip_until.fetch_max(until, Ordering::Relaxed);
        self.unavailable(reason);
        None
    }

    /// Counts a call Redis could not answer; warns at most once a second.
    fn unavailable(&self, reason: &str) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.millis() + 1;
        let last = self.last_warning.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
        if due && self.last_warning.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let policy = if self.fail_open { "allowing (fail-open)" } else { "refusing (fail-closed)" };
            tracing::warn!(failures, "{}: Redis unavailable ({reason}); {policy} requests", self.what);
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
