//! Time, as the service reads it. Production reads the system clock; tests
//! move a clock forward instead of sleeping until something expires.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The system clock, plus an offset that only a test clock can move.
#[derive(Clone, Default)]
pub struct Clock {
    /// Microseconds added to the system time; `None` for the system clock.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { offset: None }
    }

    /// A clock that starts at the system time and moves on with it, and
    /// that `advance` moves forward. Clones share the offset.
    pub fn manual() -> Clock {
        Clock { offset: Some(Arc::new(AtomicI64::new(0))) }
    }

    /// A manual clock that starts at `t`, past or future, and moves on
    /// with the system time from there (a test on data made earlier).
    pub fn manual_at(t: DateTime<Utc>) -> Clock {
        let offset = (t - Utc::now()).num_microseconds().unwrap_or(0);
        Clock { offset: Some(Arc::new(AtomicI64::new(offset))) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match &self.offset {
            Some(offset) => now + TimeDelta::microseconds(offset.load(Ordering::Relaxed)),
            None => now,
        }
    }

    /// Unix seconds, as JWT claims count time.
    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, by: Duration) {
        let offset = self.offset.as_ref().expect("only a manual clock can be moved");
        offset.fetch_add(i64::try_from(by.as_micros()).unwrap_or(i64::MAX), Ordering::Relaxed);
    }
}

/// Microseconds since the Unix epoch: how the database keeps times.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time `micros` stored.
pub fn from_micros(us: i64) -> DateTime<Utc> {
    use chrono::TimeZone;
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.offset {
            None => f.write_str("Clock(system)"),
            Some(o) => write!(f, "Clock(manual, +{}µs)", o.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_forward_and_its_clones_follow() {
        let clock = Clock::manual();
        let twin = clock.clone();
        let before = clock.now();
        twin.advance(Duration::from_secs(3600));
        let moved = clock.now() - before;
        assert!(moved >= TimeDelta::seconds(3600) && moved < TimeDelta::seconds(3660), "{moved}");
    }

    #[test]
    fn the_system_clock_is_the_system_time() {
        let d = Clock::system().now() - Utc::now();
        assert!(d.abs() < TimeDelta::seconds(1));
    }
}
