//! The one tracker of background work: what a request leaves running after
//! its answer (a hash upgrade, a reset request's lookup and message), the
//! sign-in defence's sweeps and the delivery queue's sends. Shutdown closes
//! it and waits, bounded, until that work is done.
//!
//! A small own version of `tokio_util::task::TaskTracker`: that needs
//! tokio-util's `rt` feature, which would rebuild every crate above
//! tokio-util for forty lines.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    running: AtomicUsize,
    closed: AtomicBool,
    /// Shutdown has begun (`drain`).
    draining: AtomicBool,
    idle: Notify,
}

/// Held by each task while it runs; the last one out wakes the waiters.
struct Running(Arc<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Tasks {
    /// Runs `work` on the runtime, counted until it ends (or panics).
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.inner.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(Arc::clone(&self.inner));
        tokio::spawn(async move {
            let _running = running;
            work.await;
        });
    }

    /// How many tasks are running now.
    pub fn len(&self) -> usize {
        self.inner.running.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the end of the service: `wait` may now return. Work spawned
    /// later (a message a draining request still hands over) is still
    /// counted and still waited for.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.idle.notify_waiters();
    }

    /// Marks the start of shutdown, before the requests in flight are
    /// waited for: answers that would stream on until the client leaves
    /// (the dashboard's live tail) end, so they do not hold shutdown up.
    pub fn drain(&self) {
        self.inner.draining.store(true, Ordering::Release);
        self.inner.idle.notify_waiters();
    }

    /// Returns once shutdown has begun (`drain`, or `close`).
    pub async fn draining(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.draining.load(Ordering::Acquire) || self.inner.closed.load(Ordering::Acquire) {
                return;
            }
            idle.await;
        }
    }

    /// Returns once the tracker is closed: for work that runs until then
    /// (the revocation feed).
    pub async fn closing(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.closed.load(Ordering::Acquire) {
                return;
            }
            idle.await;
        }
    }

    /// Returns once the tracker is closed and nothing runs.
    pub async fn wait(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a wake-up between the check
            // and the await is not lost.
            idle.as_mut().enable();
            if self.inner.closed.load(Ordering::Acquire) && self.is_empty() {
                return;
            }
            idle.await;
        }
    }
}

/// A chore (a sweep of run-out rows) that falls due at most once per
/// interval of the service's clock on each instance: the caller that gets
/// `true` from [`Every::due`] does it, the others go on.
pub struct Every {
    every_us: i64,
    /// Unix microseconds from which the chore is due again.
    next: AtomicI64,
}

impl Every {
    /// Due at once, then every `every`.
    pub fn new(every: Duration) -> Every {
        Every { every_us: i64::try_from(every.as_micros()).unwrap_or(i64::MAX), next: AtomicI64::new(0) }
    }

    pub fn due(&self, now: DateTime<Utc>) -> bool {
        let (now_us, due) = (now.timestamp_micros(), self.next.load(Ordering::Relaxed));
        now_us >= due
            && self
                .next
                .compare_exchange(due, now_us.saturating_add(self.every_us), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_chore_falls_due_once_per_interval() {
        let every = Every::new(Duration::from_secs(300));
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(every.due(t0), "due at once");
        assert!(!every.due(t0));
        assert!(!every.due(t0 + chrono::TimeDelta::seconds(299)));
        assert!(every.due(t0 + chrono::TimeDelta::seconds(300)));
        assert!(!every.due(t0 + chrono::TimeDelta::seconds(301)));
    }

    #[tokio::test]
    async fn wait_returns_once_closed_and_every_task_ended() {
        // Arrange
        let tasks = Tasks::default();
        let (go, gate) = tokio::sync::oneshot::channel::<()>();
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        tasks.spawn(async move {
            let _ = gate.await;
            flag.store(true, Ordering::Release);
        });

        // Act
        tasks.close();
        let early = tokio::time::timeout(Duration::from_millis(50), tasks.wait()).await;
        go.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await.expect("wait returns");

        // Assert
        assert!(early.is_err(), "wait returned while a task ran");
        assert!(done.load(Ordering::Acquire));
        assert!(tasks.is_empty());
    }

    #[tokio::test]
    async fn a_panicking_task_still_counts_as_ended() {
        let tasks = Tasks::default();
        tasks.spawn(async { panic!("on purpose") });
        tasks.close();
        tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await.expect("wait returns");
        assert!(tasks.is_empty());
    }
}
