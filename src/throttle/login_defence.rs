//! The sign-in defence's failure counters in Redis (contract §14.1, with
//! `AUTHGATE_REDIS_URL`), shared by every instance.
//!
//! One hash per login id: field `*` is the login id's own counter, and a
//! trusted network's field (`203.0.113.0/24`) that network's counter; each
//! value is `count:latest` with `latest` in microseconds of the service's
//! clock, which the rules read (the key's TTL only cleans up). Judging an
//! attempt and counting it is one script, so concurrent attempts on any
//! number of instances count exactly. The delays come from
//! `domain::soft_lock` as a table the script indexes, so the schedule is
//! written once.
//!
//! When Redis cannot answer, attempts follow `redis_fail_open`: checked
//! without a count (fail-open) or refused for a second (fail-closed); see
//! [`RedisLink`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::redis_link::RedisLink;
use crate::domain::soft_lock::{Charge, Failures, SoftLock, Verdict, WINDOW};

/// Keys are `{prefix}:{login key}`.
pub const DEFAULT_PREFIX: &str = "authgate:login";
/// What fail-closed answers.
const CLOSED_RETRY_AFTER: Duration = Duration::from_secs(1);
/// A key outlives its window by this much, so that clocks a little apart
/// never see a live counter vanish.
const TTL_SLACK: Duration = Duration::from_secs(60);

/// KEYS[1]: the login id's hash. ARGV[1]: now (µs); ARGV[2]: the window
/// (µs); ARGV[3]: N; ARGV[4]: the trusted network's field, or ''; ARGV[5]:
/// the key's TTL (ms); ARGV[6..]: the delays (µs) after N, N+1, …
/// failures, the last holding from then on. The network's counter is
/// judged when given, else the login id's. Returns `{0, wait µs}` when
/// delayed, else counts a failure on both and returns `{1, 0}`.
const ATTEMPT: &str = r#"
local now, window, threshold, network = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local steps = #ARGV - 5
local function counter(field)
  local v = redis.call('HGET', KEYS[1], field)
  if not v then return 0, 0 end
  local sep = string.find(v, ':', 1, true)
  local count, latest = tonumber(string.sub(v, 1, sep - 1)), tonumber(string.sub(v, sep + 1))
  if now - latest >= window then return 0, 0 end
  return count, latest
end
local judged = '*'
if network ~= '' then judged = network end
local count, latest = counter(judged)
if steps > 0 and count >= threshold then
  local delay = tonumber(ARGV[5 + math.min(count - threshold + 1, steps)])
  local elapsed = math.max(now - latest, 0)
  if elapsed < delay then return {0, delay - elapsed} end
end
local function charge(field)
  local c = counter(field)
  redis.call('HSET', KEYS[1], field, string.format('%.0f:%.0f', c + 1, now))
end
charge('*')
if network ~= '' then charge(network) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0}
"#;

/// KEYS[1]: the login id's hash. ARGV[1]: the trusted network's field, or
/// ''. Takes one failure off each counter, leaving its time.
const FORGIVE: &str = r#"
for _, field in ipairs({'*', ARGV[1]}) do
  local v = field ~= '' and redis.call('HGET', KEYS[1], field)
  if v then
    local sep = string.find(v, ':', 1, true)
    local count = tonumber(string.sub(v, 1, sep - 1))
    if count > 0 then
      redis.call('HSET', KEYS[1], field, string.format('%.0f', count - 1) .. string.sub(v, sep))
    end
  end
end
return 1
"#;

/// §14.1's counters in Redis.
pub struct RedisLoginCounters {
    link: RedisLink,
    prefix: String,
    attempt: redis::Script,
    forgive: redis::Script,
}

impl RedisLoginCounters {
    /// Counters on the server at `url` (not contacted yet).
    pub fn new(url: &str, fail_open: bool) -> redis::RedisResult<Self> {
        Ok(RedisLoginCounters {
            link: RedisLink::new("login defence", url, fail_open)?,
            prefix: DEFAULT_PREFIX.to_string(),
            attempt: redis::Script::new(ATTEMPT),
            forgive: redis::Script::new(FORGIVE),
        })
    }

    /// Keys start with `prefix` instead of [`DEFAULT_PREFIX`].
    #[cfg(test)]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many calls Redis failed to answer.
    #[cfg(test)]
    pub fn unanswered(&self) -> u64 {
        self.link.failures()
    }

    /// The Redis key of a login key.
    pub fn key(&self, login: &str) -> String {
        format!("{}:{login}", self.prefix)
    }

    pub fn connect_in_background(&self) {
        self.link.connect_in_background();
    }

    /// Judges an attempt and, when it may go ahead, counts it as a failure
    /// on every counter of `charge` (see `Store::login_attempt`).
    pub async fn attempt(&self, lock: SoftLock, charge: &Charge, now: DateTime<Utc>) -> Verdict {
        let mut invocation = self.attempt.prepare_invoke();
        invocation
            .key(self.key(&charge.login))
            .arg(now.timestamp_micros())
            .arg(as_micros(WINDOW))
            .arg(lock.threshold())
            .arg(charge.network.as_deref().unwrap_or(""))
            .arg(u64::try_from((WINDOW + TTL_SLACK).as_millis()).unwrap_or(u64::MAX));
        for delay in lock.schedule() {
            invocation.arg(as_micros(delay));
        }
        let answer = self.link.run(|mut con| async move { invocation.invoke_async::<(i64, i64)>(&mut con).await });
        match answer.await {
            Some((1, _)) => Verdict::Allowed,
            Some((_, wait_us)) => Verdict::Delayed { retry_after: Duration::from_micros(wait_us.max(1) as u64) },
            None if self.link.fail_open() => Verdict::Allowed,
            None => Verdict::Delayed { retry_after: CLOSED_RETRY_AFTER },
        }
    }

    /// Takes back the failure `attempt` counted.
    pub async fn forgive(&self, charge: &Charge) {
        let mut invocation = self.forgive.prepare_invoke();
        invocation.key(self.key(&charge.login)).arg(charge.network.as_deref().unwrap_or(""));
        self.link.run(|mut con| async move { invocation.invoke_async::<i64>(&mut con).await }).await;
    }

    /// Every counter of the login id starts again.
    pub async fn reset(&self, login: &str) {
        let key = self.key(login);
        self.link.run(|mut con| async move { redis::cmd("DEL").arg(key).query_async::<i64>(&mut con).await }).await;
    }

    /// The login id's own counter; empty when Redis cannot say.
    pub async fn failures(&self, login: &str) -> Failures {
        let key = self.key(login);
        let stored =
            self.link
                .run(|mut con| async move {
                    redis::cmd("HGET").arg(key).arg("*").query_async::<Option<String>>(&mut con).await
                })
                .await
                .flatten();
        stored.as_deref().and_then(parse).unwrap_or_default()
    }
}

/// A counter as the scripts store it: `count:latest`.
fn parse(value: &str) -> Option<Failures> {
    let (count, latest) = value.split_once(':')?;
    Some(Failures { count: count.parse().ok()?, latest: DateTime::from_timestamp_micros(latest.parse().ok()?)? })
}

fn as_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use chrono::TimeDelta;
    use redis::AsyncCommands;

    use super::*;

    const UNREACHABLE: &str = "redis://127.0.0.1:1";

    /// The test server's URL, or `None` (and a skip line) when unset.
    fn redis_url(test: &str) -> Option<String> {
        let url = std::env::var("AUTHGATE_TEST_REDIS_URL").ok().filter(|u| !u.trim().is_empty());
        if url.is_none() {
            eprintln!("skipping {test}: AUTHGATE_TEST_REDIS_URL is not set");
        }
        url
    }

    fn counters(url: &str) -> RedisLoginCounters {
        let prefix = format!("authgate-test:{}", uuid::Uuid::new_v4().simple());
        RedisLoginCounters::new(url, true).unwrap().with_prefix(prefix)
    }

    fn charge(network: Option<&str>) -> Charge {
        Charge { login: "email:ana@example.com".into(), network: network.map(str::to_string) }
    }

    async fn cleanup(url: &str, c: &RedisLoginCounters) {
        let mut con = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let _: () = con.del(c.key("email:ana@example.com")).await.unwrap();
    }

    #[test]
    fn stored_counters_parse_back() {
        let t = DateTime::from_timestamp(1_800_000_000, 250_000_000).unwrap();
        assert_eq!(parse("7:1800000000250000"), Some(Failures { count: 7, latest: t }));
        assert_eq!(parse("garbage"), None);
    }

    #[tokio::test]
    async fn the_script_follows_the_domain_schedule() {
        let Some(url) = redis_url("the_script_follows_the_domain_schedule") else { return };
        let (c, lock) = (counters(&url), SoftLock::new(5));
        // Redis keeps microseconds.
        let mut now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        let mut mirror = Failures::default();
        for _ in 0..20 {
            // Act: an attempt right after the latest failure, then one at D.
            let verdict = c.attempt(lock, &charge(None), now).await;
            assert_eq!(verdict, lock.judge(mirror, now), "{mirror:?}");
            if let Verdict::Delayed { retry_after } = verdict {
                now += TimeDelta::from_std(retry_after).unwrap();
                assert_eq!(c.attempt(lock, &charge(None), now).await, Verdict::Allowed, "{mirror:?}");
            }
            mirror = mirror.after_failure(now);
            // Assert: the stored counter is the domain's.
            assert_eq!(c.failures("email:ana@example.com").await, mirror);
        }
        cleanup(&url, &c).await;
    }

    #[tokio::test]
    async fn a_trusted_network_is_judged_by_its_own_counter() {
        let Some(url) = redis_url("a_trusted_network_is_judged_by_its_own_counter") else { return };
        let (c, lock, now) = (counters(&url), SoftLock::new(2), Utc::now());
        for _ in 0..2 {
            assert_eq!(c.attempt(lock, &charge(None), now).await, Verdict::Allowed);
        }
        assert!(matches!(c.attempt(lock, &charge(None), now).await, Verdict::Delayed { .. }));
        let home = charge(Some("198.51.100.0/24"));
        assert_eq!(c.attempt(lock, &home, now).await, Verdict::Allowed);
        assert_eq!(c.attempt(lock, &home, now).await, Verdict::Allowed);
        assert!(matches!(c.attempt(lock, &home, now).await, Verdict::Delayed { .. }));
        assert_eq!(c.failures("email:ana@example.com").await.count, 4);
        c.forgive(&home).await;
        assert_eq!(c.failures("email:ana@example.com").await.count, 3);
        assert_eq!(c.attempt(lock, &home, now).await, Verdict::Allowed, "the network's count went back to 1");
        c.reset("email:ana@example.com").await;
        assert_eq!(c.failures("email:ana@example.com").await, Failures::default());
        cleanup(&url, &c).await;
    }

    #[tokio::test]
    async fn concurrent_attempts_count_exactly() {
        let Some(url) = redis_url("concurrent_attempts_count_exactly") else { return };
        let (c, lock, now) = (Arc::new(counters(&url)), SoftLock::new(5), Utc::now());
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.attempt(lock, &charge(None), now).await == Verdict::Allowed })
            })
            .collect();
        let mut allowed = 0;
        for t in tasks {
            allowed += usize::from(t.await.unwrap());
        }
        assert_eq!(allowed, 5);
        assert_eq!(c.failures("email:ana@example.com").await.count, 5);
        cleanup(&url, &c).await;
    }

    #[tokio::test]
    async fn unreachable_redis_follows_the_policy_quickly() {
        let lock = SoftLock::new(1);
        let open = RedisLoginCounters::new(UNREACHABLE, true).unwrap();
        let closed = RedisLoginCounters::new(UNREACHABLE, false).unwrap();
        let started = Instant::now();
        for _ in 0..10 {
            assert_eq!(open.attempt(lock, &charge(None), Utc::now()).await, Verdict::Allowed);
            let refused = closed.attempt(lock, &charge(None), Utc::now()).await;
            assert_eq!(refused, Verdict::Delayed { retry_after: Duration::from_secs(1) });
        }
        open.reset("email:ana@example.com").await;
        assert_eq!(open.failures("email:ana@example.com").await, Failures::default());
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
        assert_eq!(open.unanswered(), 12);
    }
}
