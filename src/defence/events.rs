//! Recent events by key, shared by every instance (contract §20): failed
//! sign-ins of a network and of the whole service (the adaptive
//! challenge), texts to a number and to a prefix (SMS pumping), and the
//! solved challenges already spent. In the database, or in Redis when
//! `AUTHGATE_REDIS_URL` is set (each key a sorted set of times).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, ConfigError};
use crate::error::Result;
use crate::store::Store;
use crate::tasks::{Every, Tasks};
use crate::throttle::RedisLink;

const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);
const PREFIX: &str = "authgate:events";

pub enum Events {
    Database { store: Store, tasks: Tasks, sweep: Every },
    Redis(Box<RedisEvents>),
}

impl Events {
    /// Fails only on an invalid Redis URL.
    pub fn from_config(config: &Config, store: &Store, tasks: &Tasks) -> Result<Events, ConfigError> {
        let Some(url) = &config.redis_url else {
            return Ok(Events::Database { store: store.clone(), tasks: tasks.clone(), sweep: Every::new(SWEEP_EVERY) });
        };
        let link = RedisLink::new("abuse defence", url, config.redis_fail_open)
            .map_err(|e| ConfigError { var: "AUTHGATE_REDIS_URL".into(), reason: format!("invalid Redis URL: {e}") })?;
        Ok(Events::Redis(Box::new(RedisEvents::new(link, PREFIX))))
    }

    /// Records one event of `key` at `at`, read for `keep` (the longest
    /// window any rule reads it over).
    pub async fn note(&self, key: &str, at: DateTime<Utc>, keep: Duration) -> Result<()> {
        match self {
            Events::Database { store, tasks, sweep } => {
                store.note_event(key, at, at + keep).await?;
                sweep_if_due(store, tasks, sweep, at);
                Ok(())
            }
            Events::Redis(redis) => {
                redis.take(key, at - keep, u32::MAX, at, keep).await;
                Ok(())
            }
        }
    }

    /// The events of `key` since `since`, counted up to `cap` (a count
    /// only needs to reach the rule's threshold).
    pub async fn count(&self, key: &str, since: DateTime<Utc>, cap: u32) -> Result<u32> {
        match self {
            Events::Database { store, .. } => store.count_events(key, since, cap).await,
            Events::Redis(redis) => Ok(redis.count(key, since, cap).await),
        }
    }

    /// Records an event of `key` at `at` unless `limit` of them happened
    /// since `since`, in one atomic step; false when over the limit.
    pub async fn take(&self, key: &str, window: Duration, limit: u32, at: DateTime<Utc>) -> Result<bool> {
        match self {
            Events::Database { store, tasks, sweep } => {
                let taken = store.take_event(key, at - window, limit, at, at + window).await?;
                sweep_if_due(store, tasks, sweep, at);
                Ok(taken)
            }
            Events::Redis(redis) => Ok(redis.take(key, at - window, limit, at, window).await),
        }
    }

    /// Marks the one-time `id` used until `until`; false when it was
    /// already.
    pub async fn spend_once(&self, id: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool> {
        match self {
            Events::Database { store, tasks, sweep } => {
                let key = format!("spent:{id}");
                let taken = store.take_event(&key, DateTime::<Utc>::UNIX_EPOCH, 1, now, until).await?;
                sweep_if_due(store, tasks, sweep, now);
                Ok(taken)
            }
            Events::Redis(redis) => Ok(redis.spend_once(id, until, now).await),
        }
    }
}

/// Deletes old events and spent ids in the background when this instance's
/// sweep is due.
fn sweep_if_due(store: &Store, tasks: &Tasks, sweep: &Every, now: DateTime<Utc>) {
    if !sweep.due(now) {
        return;
    }
    let store = store.clone();
    tasks.spawn(async move {
        match store.sweep_events(now).await {
            Ok(n) => tracing::debug!(rows = n, "abuse defence: swept old events"),
            Err(e) => tracing::warn!(error = %e, "abuse defence: sweep failed; tried again later"),
        }
    });
}

/// KEYS[1]: the key's sorted set. ARGV: since (µs), limit, at (µs), a
/// unique member, the key's TTL (ms): the set lives as long as its newest
/// event is read. Drops what is older than `since`,
/// adds the event when fewer than `limit` remain; returns 1 if added.
const TAKE: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"#;

pub struct RedisEvents {
    link: RedisLink,
    prefix: String,
    take: redis::Script,
}

impl RedisEvents {
    pub fn new(link: RedisLink, prefix: &str) -> RedisEvents {
        RedisEvents { link, prefix: prefix.to_owned(), take: redis::Script::new(TAKE) }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    async fn take(&self, key: &str, since: DateTime<Utc>, limit: u32, at: DateTime<Utc>, keep: Duration) -> bool {
        let mut invocation = self.take.prepare_invoke();
        let member = format!("{}-{}", at.timestamp_micros(), uuid::Uuid::new_v4().simple());
        invocation
            .key(self.key(key))
            .arg(since.timestamp_micros())
            .arg(limit)
            .arg(at.timestamp_micros())
            .arg(member)
            .arg(u64::try_from(keep.as_millis()).unwrap_or(u64::MAX).max(1));
        let answer = self.link.run(|mut con| async move { invocation.invoke_async::<i64>(&mut con).await }).await;
        answer.map_or_else(|| self.link.fail_open(), |added| added == 1)
    }

    async fn count(&self, key: &str, since: DateTime<Utc>, cap: u32) -> u32 {
        let key = self.key(key);
        let answer = self
            .link
            .run(|mut con| async move {
                redis::cmd("ZCOUNT")
                    .arg(key)
                    .arg(since.timestamp_micros())
                    .arg("+inf")
                    .query_async::<u64>(&mut con)
                    .await
            })
            .await;
        match answer {
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX).min(cap),
            // Fail-closed reads as the threshold reached: a challenge, a text held.
            None if self.link.fail_open() => 0,
            None => cap,
        }
    }

    async fn spend_once(&self, id: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let key = self.key(&format!("spent:{id}"));
        let ttl_ms = (until - now).num_milliseconds().max(1);
        let answer = self
            .link
            .run(|mut con| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<Option<String>>(&mut con)
                    .await
            })
            .await;
        // A spent id cannot be told from an unanswered call: refused either way.
        matches!(answer, Some(Some(_)))
    }
}
