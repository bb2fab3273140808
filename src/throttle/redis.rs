//! The shared store: the same GCRA as [`super::memory`], kept in Redis so
//! every instance counts against one bucket per key.
//!
//! Each check is one Lua script (EVALSHA, falling back to EVAL), so the
//! read and the write of a key's theoretical arrival time (TAT) are atomic.
//! The clock is Redis `TIME`: every instance shares it. A key expires once
//! its bucket is full again, so idle keys go by themselves.
//!
//! When Redis cannot answer within the link's timeout
//! (`redis_link::DEFAULT_TIMEOUT`), the check follows the configured
//! policy: allow (fail-open, the default) or refuse with a one-second
//! `Retry-After` (fail-closed). Failures are counted
//! ([`RedisLimiter::failures`]) and logged at most once a second (see
//! [`RedisLink`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::redis_link::RedisLink;
use super::{Decision, Limiter, Scope};
use crate::config::Rate;

/// The key prefix: keys are `{prefix}:{scope}:{multiplier}:{key}`.
pub const DEFAULT_PREFIX: &str = "authgate:throttle";
/// What fail-closed answers.
const CLOSED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// GCRA, in microseconds of Redis time.
/// KEYS[1]: the counter. ARGV[1]: emission interval; ARGV[2]: bucket size.
/// Returns `{1, 0}` when allowed, `{0, wait}` when limited.
const GCRA: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * size
if now < allow_at then
  return {0, math.ceil(allow_at - now)}
end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, 0}
"#;

/// Counters shared through Redis (contract §7, with `AUTHGATE_REDIS_URL`).
pub struct RedisLimiter {
    burst: Rate,
    sustained: Rate,
    link: RedisLink,
    script: redis::Script,
    prefix: String,
}

impl RedisLimiter {
    /// A limiter on the server at `url` (not contacted yet).
    pub fn new(url: &str, burst: Rate, sustained: Rate, fail_open: bool) -> redis::RedisResult<Self> {
        Ok(RedisLimiter {
            burst,
            sustained,
            link: RedisLink::new("throttle", url, fail_open)?,
            script: redis::Script::new(GCRA),
            prefix: DEFAULT_PREFIX.to_string(),
        })
    }

    /// Keys start with `prefix` instead of [`DEFAULT_PREFIX`].
    #[cfg(test)]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Waits at most `timeout` for Redis on each check.
    #[cfg(test)]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.link.set_timeout(timeout);
        self
    }

    /// How many checks Redis failed to answer (the policy decided instead).
    #[cfg(test)]
    pub fn failures(&self) -> u64 {
        self.link.failures()
    }

    /// The Redis key of `key` in `scope` at `multiplier`.
    pub fn key(&self, scope: Scope, key: &str, multiplier: u32) -> String {
        let scope = match scope {
            Scope::Burst => "burst",
            Scope::Sustained => "sustained",
        };
        format!("{}:{scope}:{multiplier}:{key}", self.prefix)
    }

    /// Starts connecting now, in the background, instead of on the first
    /// check; warns if Redis does not answer. Needs a Tokio runtime; without
    /// one, nothing happens.
    pub fn connect_in_background(&self) {
        self.link.connect_in_background();
    }

    /// Takes one request of `key` from its bucket in `scope`.
    pub async fn check_now(&self, scope: Scope, key: &str, multiplier: u32) -> Decision {
        let multiplier = multiplier.max(1);
        let rate = match scope {
            Scope::Burst => self.burst,
            Scope::Sustained => self.sustained,
        };
        let (interval, size) = gcra_params(rate, multiplier);
        let redis_key = self.key(scope, key, multiplier);
        let mut invocation = self.script.prepare_invoke();
        invocation.key(&redis_key).arg(interval).arg(size);
        let answer =
            self.link.run(|mut con| async move { invocation.invoke_async::<(i64, i64)>(&mut con).await }).await;
        match answer {
            Some((1, _)) => Decision::Allowed,
            Some((_, wait_us)) => {
                Decision::Limited { retry_after: Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)) }
            }
            None if self.link.fail_open() => Decision::Allowed,
            None => Decision::Limited { retry_after: CLOSED_RETRY_AFTER },
        }
    }
}

/// The emission interval in microseconds (at least 1) and the bucket size:
/// `rate.count * multiplier` requests refilled evenly over `rate.period`.
fn gcra_params(rate: Rate, multiplier: u32) -> (u64, u64) {
    let size = u64::from(rate.count.saturating_mul(multiplier).max(1));
    let period = u64::try_from(rate.period.as_micros()).unwrap_or(u64::MAX);
    ((period / size).max(1), size)
}

impl Limiter for RedisLimiter {
    fn check<'a>(
        &'a self,
        scope: Scope,
        key: &'a str,
        multiplier: u32,
    ) -> Pin<Box<dyn Future<Output = Decision> + Send + 'a>> {
        Box::pin(self.check_now(scope, key, multiplier))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use redis::AsyncCommands;

    use super::*;

    const UNREACHABLE: &str = "redis://127.0.0.1:1";

    fn rate(s: &str) -> Rate {
        s.parse().unwrap()
    }

    /// The test server's URL, or `None` (and a skip line) when unset.
    fn redis_url(test: &str) -> Option<String> {
        let url = std::env::var("AUTHGATE_TEST_REDIS_URL").ok().filter(|u| !u.trim().is_empty());
        if url.is_none() {
            eprintln!("skipping {test}: AUTHGATE_TEST_REDIS_URL is not set");
        }
        url
    }

    /// A limiter at 10/min and 1000/day with a prefix of its own.
    fn limiter(url: &str, prefix: &str) -> RedisLimiter {
        RedisLimiter::new(url, rate("10/min"), rate("1000/day"), true).unwrap().with_prefix(prefix)
    }

    fn unique_prefix() -> String {
        format!("authgate-test:{}", uuid::Uuid::new_v4().simple())
    }

    async fn allowed(l: &RedisLimiter, scope: Scope, key: &str, m: u32) -> usize {
        let mut n = 0;
        while n < 10_000 && l.check_now(scope, key, m).await == Decision::Allowed {
            n += 1;
        }
        n
    }

    async fn cleanup(url: &str, prefix: &str) {
        let mut con = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
        if !keys.is_empty() {
            let _: () = con.del(keys).await.unwrap();
        }
    }

    #[test]
    fn the_parameters_match_the_in_process_quota() {
        assert_eq!(gcra_params(rate("10/min"), 1), (6_000_000, 10));
        assert_eq!(gcra_params(rate("10/min"), 10), (600_000, 100));
        assert_eq!(gcra_params(rate("1000/day"), 1), (86_400_000, 1000));
        assert_eq!(gcra_params(Rate { count: u32::MAX, period: Duration::from_secs(1) }, 2), (1, u64::from(u32::MAX)));
    }

    #[test]
    fn keys_name_scope_multiplier_and_key() {
        let l = RedisLimiter::new(UNREACHABLE, rate("10/min"), rate("1000/day"), true).unwrap();
        assert_eq!(l.key(Scope::Burst, "ip:10.0.0.1", 1), "authgate:throttle:burst:1:ip:10.0.0.1");
        assert_eq!(l.with_prefix("p").key(Scope::Sustained, "user:u1", 5), "p:sustained:5:user:u1");
    }

    #[tokio::test]
    async fn the_eleventh_request_waits_six_seconds() {
        let Some(url) = redis_url("the_eleventh_request_waits_six_seconds") else { return };
        let prefix = unique_prefix();
        let l = limiter(&url, &prefix);
        assert_eq!(allowed(&l, Scope::Burst, "ip:a", 1).await, 10);
        let Decision::Limited { retry_after } = l.check_now(Scope::Burst, "ip:a", 1).await else {
            panic!("not limited")
        };
        assert!(retry_after > Duration::from_millis(5_000) && retry_after <= Duration::from_secs(6), "{retry_after:?}");
        assert_eq!(super::super::whole_seconds(retry_after), 6);
        assert_eq!(l.failures(), 0);
        cleanup(&url, &prefix).await;
    }

    #[tokio::test]
    async fn a_bucket_holds_count_times_multiplier() {
        let Some(url) = redis_url("a_bucket_holds_count_times_multiplier") else { return };
        let prefix = unique_prefix();
        let l = limiter(&url, &prefix);
        assert_eq!(allowed(&l, Scope::Burst, "user:v", 2).await, 20);
        assert_eq!(allowed(&l, Scope::Burst, "user:s", 5).await, 50);
        assert_eq!(allowed(&l, Scope::Burst, "user:x", 10).await, 100);
        // One multiplier's bucket is not another's.
        assert_eq!(allowed(&l, Scope::Burst, "user:v", 1).await, 10);
        assert_eq!(l.failures(), 0);
        cleanup(&url, &prefix).await;
    }

    #[tokio::test]
    async fn scopes_and_keys_count_apart() {
        let Some(url) = redis_url("scopes_and_keys_count_apart") else { return };
        let prefix = unique_prefix();
        let l = limiter(&url, &prefix);
        assert_eq!(allowed(&l, Scope::Burst, "ip:a", 1).await, 10);
        assert_eq!(l.check_now(Scope::Burst, "ip:b", 1).await, Decision::Allowed);
        assert_eq!(l.check_now(Scope::Sustained, "ip:a", 1).await, Decision::Allowed);
        cleanup(&url, &prefix).await;
    }

    #[tokio::test]
    async fn two_instances_share_one_bucket() {
        let Some(url) = redis_url("two_instances_share_one_bucket") else { return };
        let prefix = unique_prefix();
        let (a, b) = (limiter(&url, &prefix), limiter(&url, &prefix));
        for i in 0..10 {
            let l = if i % 2 == 0 { &a } else { &b };
            assert_eq!(l.check_now(Scope::Burst, "ip:a", 1).await, Decision::Allowed, "request {i}");
        }
        assert!(matches!(a.check_now(Scope::Burst, "ip:a", 1).await, Decision::Limited { .. }));
        assert!(matches!(b.check_now(Scope::Burst, "ip:a", 1).await, Decision::Limited { .. }));
        cleanup(&url, &prefix).await;
    }

    #[tokio::test]
    async fn concurrent_checks_never_overspend() {
        let Some(url) = redis_url("concurrent_checks_never_overspend") else { return };
        let prefix = unique_prefix();
        let l = std::sync::Arc::new(limiter(&url, &prefix));
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { l.check_now(Scope::Burst, "ip:a", 1).await == Decision::Allowed })
            })
            .collect();
        let mut allowed = 0;
        for t in tasks {
            allowed += usize::from(t.await.unwrap());
        }
        assert_eq!(allowed, 10);
        cleanup(&url, &prefix).await;
    }

    #[tokio::test]
    async fn keys_expire_once_the_bucket_is_full_again() {
        let Some(url) = redis_url("keys_expire_once_the_bucket_is_full_again") else { return };
        let prefix = unique_prefix();
        let l = limiter(&url, &prefix);
        let mut con = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();

        assert_eq!(l.check_now(Scope::Burst, "ip:a", 1).await, Decision::Allowed);
        let pttl: i64 = con.pttl(l.key(Scope::Burst, "ip:a", 1)).await.unwrap();
        assert!(pttl > 5_000 && pttl <= 6_000, "one request refills in 6 s: PTTL {pttl}");
        assert_eq!(allowed(&l, Scope::Burst, "ip:a", 1).await, 9);
        let pttl: i64 = con.pttl(l.key(Scope::Burst, "ip:a", 1)).await.unwrap();
        assert!(pttl > 59_000 && pttl <= 60_000, "ten requests refill in 60 s: PTTL {pttl}");

        // A fast rate: the key is gone once refilled, and the bucket is whole.
        let fast = RedisLimiter::new(&url, rate("5/s"), rate("1000/day"), true).unwrap().with_prefix(&prefix);
        assert_eq!(allowed(&fast, Scope::Burst, "ip:f", 1).await, 5);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let exists: bool = con.exists(fast.key(Scope::Burst, "ip:f", 1)).await.unwrap();
        assert!(!exists, "the idle key did not expire");
        assert_eq!(allowed(&fast, Scope::Burst, "ip:f", 1).await, 5);
        cleanup(&url, &prefix).await;
    }

    async fn unreachable(fail_open: bool) -> RedisLimiter {
        RedisLimiter::new(UNREACHABLE, rate("10/min"), rate("1000/day"), fail_open).unwrap()
    }

    #[tokio::test]
    async fn unreachable_redis_fails_open_quickly() {
        let l = unreachable(true).await;
        l.connect_in_background();
        let started = Instant::now();
        for _ in 0..20 {
            assert_eq!(l.check_now(Scope::Burst, "ip:a", 1).await, Decision::Allowed);
        }
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
        assert_eq!(l.failures(), 20);
    }

    #[tokio::test]
    async fn unreachable_redis_fails_closed_quickly() {
        let l = unreachable(false).await;
        let started = Instant::now();
        for _ in 0..20 {
            let d = l.check_now(Scope::Burst, "ip:a", 1).await;
            assert_eq!(d, Decision::Limited { retry_after: Duration::from_secs(1) });
        }
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
        assert_eq!(l.failures(), 20);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_timed_out() {
        // Accepts connections and never replies.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let l = RedisLimiter::new(&format!("redis://{addr}"), rate("10/min"), rate("1000/day"), true)
            .unwrap()
            .with_timeout(Duration::from_millis(100));
        let started = Instant::now();
        assert_eq!(l.check_now(Scope::Burst, "ip:a", 1).await, Decision::Allowed);
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
        assert_eq!(l.failures(), 1);
    }
}
