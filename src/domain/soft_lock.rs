//! The per-account sign-in defence of contract §14.1, as pure rules: after
//! N failures for one login id, attempts wait an escalating delay, and the
//! account itself is never locked (Kanidm's soft lock).
//!
//! A counter holds the failures in its window and the time of the latest;
//! the stores (`store::login_defence`, `throttle::login_defence`) keep the
//! counters and ask these rules for the verdict.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use super::LoginId;

/// Failures count within this window; it ends this long after the latest
/// failure, and the count starts again from zero.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// A network from which the account signed in this recently keeps its own
/// counter.
pub const TRUSTED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// One counter: the failures in its window and when the latest was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub latest: DateTime<Utc>,
}

impl Failures {
    /// The counter as it stands at `now`: empty once the window has passed
    /// without a failure.
    pub fn at(self, now: DateTime<Utc>) -> Failures {
        if since(self.latest, now) >= WINDOW { Failures::default() } else { self }
    }

    /// The counter after one more failure at `now`.
    pub fn after_failure(self, now: DateTime<Utc>) -> Failures {
        Failures { count: self.at(now).count.saturating_add(1), latest: now }
    }
}

/// What an attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Allowed,
    /// Refuse without checking it, for this long yet.
    Delayed { retry_after: Duration },
}

/// The rules for N = `AUTHGATE_LOGIN_FAILURES_BEFORE_DELAY` (0: off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftLock {
    threshold: u32,
}

impl SoftLock {
    pub fn new(failures_before_delay: u32) -> SoftLock {
        SoftLock { threshold: failures_before_delay }
    }

    pub fn is_off(self) -> bool {
        self.threshold == 0
    }

    pub fn threshold(self) -> u32 {
        self.threshold
    }

    /// D after `count` failures: none before the Nth, 1 s at the Nth,
    /// doubling with each further failure, at most [`MAX_DELAY`].
    pub fn delay(self, count: u32) -> Option<Duration> {
        if self.is_off() || count < self.threshold {
            return None;
        }
        let doublings = count - self.threshold;
        let secs = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
        Some(Duration::from_secs(secs).min(MAX_DELAY))
    }

    /// The delays from the Nth failure on, up to the first that reaches
    /// [`MAX_DELAY`] (which holds from then on): the schedule in a form a
    /// store that judges elsewhere (a Redis script) can index.
    pub fn schedule(self) -> Vec<Duration> {
        if self.is_off() {
            return Vec::new();
        }
        let mut delays = Vec::new();
        let mut count = self.threshold;
        while let Some(d) = self.delay(count) {
            delays.push(d);
            if d == MAX_DELAY {
                break;
            }
            count += 1;
        }
        delays
    }

    /// The verdict on an attempt at `now` for a counter: delayed while
    /// within D of the latest failure.
    pub fn judge(self, failures: Failures, now: DateTime<Utc>) -> Verdict {
        let live = failures.at(now);
        let Some(delay) = self.delay(live.count) else { return Verdict::Allowed };
        match delay.checked_sub(since(live.latest, now)) {
            Some(wait) if !wait.is_zero() => Verdict::Delayed { retry_after: wait },
            _ => Verdict::Allowed,
        }
    }
}

/// Sign-ins at or after this make a network trusted at `now`.
pub fn trusted_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - delta(TRUSTED_FOR)
}

/// A counter whose latest failure is before this has run out at `now`.
pub fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - delta(WINDOW)
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Time from `then` to `now`; zero when `then` is ahead (another
/// instance's clock), so a delay is never longer than D.
fn since(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).max(TimeDelta::zero()).to_std().unwrap_or_default()
}

/// The key an attempt counts under: the normalized email or phone whether
/// or not an account has it (so a delay tells nothing about existence). A
/// login that is neither is counted by a digest of its trimmed, lower-cased
/// text, so that every wrong-credentials answer behaves alike without
/// storing what was typed (at times a password, in the wrong field).
pub fn login_key(raw: &str) -> String {
    match LoginId::parse(raw) {
        Ok(LoginId::Email(e)) => format!("email:{}", e.key()),
        Ok(LoginId::Phone(p)) => format!("phone:{p}"),
        Err(_) => {
            let digest = Sha256::digest(raw.trim().to_lowercase().as_bytes());
            format!("other:{}", hex::encode(&digest[..16]))
        }
    }
}

/// What an attempt is judged by and counted under: the login id's counter,
/// and with `network` (a trusted network, IPv4 /24 or IPv6 /64, as text)
/// that network's own counter for the login id, which then is the one
/// judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub login: String,
    pub network: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn at(secs: f64) -> DateTime<Utc> {
        t0() + TimeDelta::microseconds((secs * 1e6) as i64)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn failures(count: u32, latest: f64) -> Failures {
        Failures { count, latest: at(latest) }
    }

    #[test]
    fn the_delay_is_one_second_at_the_nth_failure_and_doubles_up_to_fifteen_minutes() {
        let lock = SoftLock::new(5);
        let delays: Vec<Option<Duration>> = (0..=16).map(|n| lock.delay(n)).collect();
        let expected = [None, None, None, None, None]
            .into_iter()
            .chain([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900].map(|s| Some(secs(s))))
            .collect::<Vec<_>>();
        assert_eq!(delays, expected);
        assert_eq!(lock.delay(u32::MAX), Some(MAX_DELAY));
        assert_eq!(SoftLock::new(1).delay(1), Some(secs(1)));
        assert_eq!(SoftLock::new(1000).delay(1009), Some(secs(512)));
    }

    #[test]
    fn zero_turns_the_defence_off() {
        let lock = SoftLock::new(0);
        assert!(lock.is_off());
        assert_eq!(lock.delay(1_000_000), None);
        assert_eq!(lock.judge(failures(1_000, 0.0), at(0.0)), Verdict::Allowed);
        assert!(lock.schedule().is_empty());
    }

    #[test]
    fn the_schedule_lists_each_delay_until_the_cap() {
        let expected: Vec<Duration> = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900].map(secs).to_vec();
        assert_eq!(SoftLock::new(5).schedule(), expected);
        assert_eq!(SoftLock::new(1).schedule(), expected);
    }

    #[test]
    fn an_attempt_within_d_of_the_latest_failure_waits_the_rest_of_d() {
        let lock = SoftLock::new(5);
        assert_eq!(lock.judge(failures(4, 0.0), at(0.0)), Verdict::Allowed);
        assert_eq!(lock.judge(failures(5, 0.0), at(0.0)), Verdict::Delayed { retry_after: secs(1) });
        assert_eq!(
            lock.judge(failures(5, 0.0), at(0.25)),
            Verdict::Delayed { retry_after: Duration::from_millis(750) }
        );
        assert_eq!(lock.judge(failures(5, 0.0), at(1.0)), Verdict::Allowed);
        assert_eq!(lock.judge(failures(7, 10.0), at(12.0)), Verdict::Delayed { retry_after: secs(2) });
        assert_eq!(lock.judge(failures(7, 10.0), at(14.0)), Verdict::Allowed);
        assert_eq!(
            lock.judge(failures(40, 0.0), at(899.5)),
            Verdict::Delayed { retry_after: Duration::from_millis(500) }
        );
    }

    #[test]
    fn the_count_starts_again_fifteen_minutes_after_the_latest_failure() {
        let f = failures(14, 0.0);
        assert_eq!(f.at(at(899.999)), f);
        assert_eq!(f.at(at(900.0)), Failures::default());
        assert_eq!(f.after_failure(at(899.0)), failures(15, 899.0));
        assert_eq!(f.after_failure(at(900.0)), failures(1, 900.0));
        assert_eq!(Failures::default().after_failure(at(3.0)), failures(1, 3.0));
    }

    #[test]
    fn a_latest_failure_ahead_of_this_clock_delays_no_longer_than_d() {
        let lock = SoftLock::new(5);
        assert_eq!(lock.judge(failures(6, 60.0), at(0.0)), Verdict::Delayed { retry_after: secs(2) });
    }

    #[test]
    fn keys_are_the_normalized_login_whether_or_not_an_account_has_it() {
        assert_eq!(login_key("Ana@Example.COM"), "email:ana@example.com");
        assert_eq!(login_key(" ana@example.com "), login_key("ANA@EXAMPLE.COM"));
        assert_eq!(login_key("+1 (415) 555-2671"), "phone:+14155552671");
        assert_eq!(login_key("+1-415-555-2671"), login_key("+14155552671"));
        let other = login_key(" Not-An-Address ");
        assert_eq!(other, login_key("not-an-address"));
        assert_ne!(other, login_key("not-an-other-address"));
        assert!(!other.contains("address"), "{other}");
        assert_eq!(login_key(&format!("\0{}\0", "x".repeat(10_000))).len(), "other:".len() + 32);
    }
}
