//! The in-process store: governor's GCRA, one keyed limiter per
//! (scope, multiplier), each created on first use.
//!
//! A rate of `count` per `period` times a multiplier `m` is a bucket of
//! `count * m` requests, refilled evenly over `period`. Keys whose bucket is
//! full again are indistinguishable from new ones; [`MemoryLimiter::cleanup`]
//! drops them, so a flood of distinct addresses cannot grow memory for good.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::{Decision, Limiter, Scope};
use crate::config::Rate;

type Keyed<C> = RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;
/// The keyed limiter of each (scope, multiplier) seen so far.
type Limiters<C> = HashMap<(Scope, u32), Arc<Keyed<C>>>;

/// Counters held in this process (contract §7, without Redis).
pub struct MemoryLimiter<C: Clock = DefaultClock> {
    burst: Rate,
    sustained: Rate,
    clock: C,
    limiters: RwLock<Limiters<C>>,
}

impl MemoryLimiter<DefaultClock> {
    pub fn new(burst: Rate, sustained: Rate) -> Self {
        Self::with_clock(burst, sustained, DefaultClock::default())
    }
}

impl<C: Clock + Clone> MemoryLimiter<C> {
    /// A limiter reading time from `clock` (tests pass a fake one).
    pub fn with_clock(burst: Rate, sustained: Rate, clock: C) -> Self {
        MemoryLimiter { burst, sustained, clock, limiters: RwLock::new(HashMap::new()) }
    }

    /// Takes one request of `key` from its bucket in `scope`.
    pub fn check_now(&self, scope: Scope, key: &str, multiplier: u32) -> Decision {
        let limiter = self.limiter(scope, multiplier.max(1));
        match limiter.check_key(&key.to_string()) {
            Ok(()) => Decision::Allowed,
            Err(not_until) => Decision::Limited { retry_after: not_until.wait_time_from(self.clock.now()) },
        }
    }

    /// Drops every key whose bucket has refilled, and returns the memory.
    pub fn cleanup(&self) {
        for limiter in self.all() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// The number of keys held, over every scope and multiplier.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.all().iter().map(|l| l.len()).sum()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn all(&self) -> Vec<Arc<Keyed<C>>> {
        self.limiters.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    fn limiter(&self, scope: Scope, multiplier: u32) -> Arc<Keyed<C>> {
        if let Some(l) = self.limiters.read().unwrap_or_else(|e| e.into_inner()).get(&(scope, multiplier)) {
            return l.clone();
        }
        let mut limiters = self.limiters.write().unwrap_or_else(|e| e.into_inner());
        limiters
            .entry((scope, multiplier))
            .or_insert_with(|| {
                let rate = match scope {
                    Scope::Burst => self.burst,
                    Scope::Sustained => self.sustained,
                };
                Arc::new(RateLimiter::dashmap_with_clock(quota(rate, multiplier), self.clock.clone()))
            })
            .clone()
    }
}

/// `rate.count * multiplier` requests at once, refilled over `rate.period`.
fn quota(rate: Rate, multiplier: u32) -> Quota {
    let size = NonZeroU32::new(rate.count.saturating_mul(multiplier)).unwrap_or(NonZeroU32::MIN);
    let every = (rate.period / size.get()).max(Duration::from_nanos(1));
    Quota::with_period(every).expect("a non-zero period").allow_burst(size)
}

impl<C> Limiter for MemoryLimiter<C>
where
    C: Clock + Clone + Send + Sync,
    C::Instant: Send + Sync,
{
    fn check<'a>(
        &'a self,
        scope: Scope,
        key: &'a str,
        multiplier: u32,
    ) -> Pin<Box<dyn Future<Output = Decision> + Send + 'a>> {
        let decision = self.check_now(scope, key, multiplier);
        Box::pin(std::future::ready(decision))
    }
}

/// Cleans `limiter` every `every` until it is dropped. Needs a Tokio
/// runtime; without one, nothing is spawned.
pub fn spawn_cleanup<C>(limiter: Weak<MemoryLimiter<C>>, every: Duration)
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: throttle counters will not be cleaned");
        return;
    };
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate
        loop {
            ticks.tick().await;
            let Some(limiter) = limiter.upgrade() else { return };
            // Retaining walks every key: keep it off the async workers.
            let _ = tokio::task::spawn_blocking(move || limiter.cleanup()).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn rate(s: &str) -> Rate {
        s.parse().unwrap()
    }

    fn limiter(clock: &FakeRelativeClock) -> MemoryLimiter<FakeRelativeClock> {
        MemoryLimiter::with_clock(rate("10/min"), rate("1000/day"), clock.clone())
    }

    fn allowed(l: &MemoryLimiter<FakeRelativeClock>, scope: Scope, key: &str, m: u32) -> usize {
        (0..100_000).take_while(|_| l.check_now(scope, key, m) == Decision::Allowed).count()
    }

    #[test]
    fn a_bucket_holds_count_times_multiplier() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        assert_eq!(allowed(&l, Scope::Burst, "ip:a", 1), 10);
        assert_eq!(allowed(&l, Scope::Burst, "user:v", 2), 20);
        assert_eq!(allowed(&l, Scope::Burst, "user:s", 5), 50);
        assert_eq!(allowed(&l, Scope::Burst, "user:x", 10), 100);
        assert_eq!(allowed(&l, Scope::Sustained, "ip:a", 1), 1000);
    }

    #[test]
    fn scopes_and_keys_count_apart() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        assert_eq!(allowed(&l, Scope::Burst, "ip:a", 1), 10);
        assert_eq!(l.check_now(Scope::Burst, "ip:b", 1), Decision::Allowed);
        assert_eq!(l.check_now(Scope::Sustained, "ip:a", 1), Decision::Allowed);
    }

    #[test]
    fn retry_after_is_the_wait_for_one_request() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        assert_eq!(allowed(&l, Scope::Burst, "ip:a", 1), 10);
        let Decision::Limited { retry_after } = l.check_now(Scope::Burst, "ip:a", 1) else { panic!("not limited") };
        assert_eq!(retry_after, Duration::from_secs(6));
        clock.advance(Duration::from_secs(6));
        assert_eq!(l.check_now(Scope::Burst, "ip:a", 1), Decision::Allowed);
        assert_ne!(l.check_now(Scope::Burst, "ip:a", 1), Decision::Allowed);
    }

    #[test]
    fn a_flood_of_distinct_keys_is_evicted_once_idle() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        for i in 0..100_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            assert_eq!(l.check_now(Scope::Burst, &format!("ip:{ip}"), 1), Decision::Allowed);
        }
        assert_eq!(l.len(), 100_000);
        // Still counting: nothing is dropped.
        l.cleanup();
        assert_eq!(l.len(), 100_000);
        // Idle past the period: every bucket is full again, every key goes.
        clock.advance(Duration::from_secs(61));
        l.cleanup();
        assert_eq!(l.len(), 0);
        assert!(l.is_empty());
    }

    #[test]
    fn a_limited_key_survives_cleanup() {
        let clock = FakeRelativeClock::default();
        let l = limiter(&clock);
        assert_eq!(allowed(&l, Scope::Burst, "ip:a", 1), 10);
        clock.advance(Duration::from_secs(30));
        l.cleanup();
        assert_eq!(l.len(), 1);
        assert_eq!(allowed(&l, Scope::Burst, "ip:a", 1), 5);
    }

    #[tokio::test]
    async fn cleanup_runs_in_the_background_and_stops_with_the_limiter() {
        let clock = FakeRelativeClock::default();
        let l = Arc::new(limiter(&clock));
        l.check_now(Scope::Burst, "ip:a", 1);
        spawn_cleanup(Arc::downgrade(&l), Duration::from_millis(10));
        clock.advance(Duration::from_secs(61));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !l.is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "the background cleanup never ran");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A cleanup pass may hold the limiter for a moment; after that the
        // task lets go of it for good.
        let weak = Arc::downgrade(&l);
        drop(l);
        while weak.strong_count() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "the cleanup task keeps the limiter alive");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
