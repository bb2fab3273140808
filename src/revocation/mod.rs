//! What this instance knows of revocations, in memory, so that the Bearer
//! check of a request reads no database (contract §12 "within 1 s", §17):
//! the sessions revoked recently enough that one of their access tokens may
//! still be live, and a bounded cache of the users the check returns.
//!
//! The truth is the database's `revocations` table, which the store's
//! triggers write in the transaction of every change (migrations
//! `sqlite/0007`, `postgres/0005`). The store's feed (`store/*/feed.rs`)
//! reads its new rows and hands them to `apply`; while the feed is not up
//! (starting, connection lost, memory full) `judge` answers `Ask`, and the
//! caller reads the database, as it did before this module existed. Nothing
//! here accepts a token the database would refuse, except for the moments
//! between a commit and its arrival (contract: within 1 s).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::domain::{Clock, SessionId, User, UserId, micros};

/// Sizes and times of the state; `Settings::default()` until the feed
/// starts.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a revoked session is kept: the access-token lifetime plus a
    /// margin for the clocks of other instances.
    pub keep: Duration,
    /// Revoked sessions held at most; past it, every check reads the
    /// database until what did not fit has expired.
    pub max_sessions: usize,
    /// Users cached at most (the oldest entry goes first).
    pub max_users: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { keep: Duration::from_secs(5 * 60) + CLOCK_MARGIN, max_sessions: 1_000_000, max_users: 100_000 }
    }
}

/// Added to the access-token lifetime: instances' clocks differ a little.
pub const CLOCK_MARGIN: Duration = Duration::from_secs(60);

/// One row of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// The session was revoked: its access tokens are refused from now on.
    Session { user: UserId, session: SessionId },
    /// The user changed: a cached copy is stale.
    User(UserId),
}

impl Announcement {
    /// A row of the `revocations` table; `None` for one whose ids do not
    /// parse: it names no token's session or user, so skipping it is safe.
    pub fn parse(kind: &str, user: &str, session: Option<&str>) -> Option<Announcement> {
        let user: UserId = user.parse().ok()?;
        match kind {
            "session" => Some(Announcement::Session { user, session: session?.parse().ok()? }),
            _ => Some(Announcement::User(user)),
        }
    }
}

/// What the check may conclude without the database.
#[derive(Debug)]
pub enum Verdict {
    /// The session is revoked.
    Revoked,
    /// The session is not known revoked and the user is as cached (the
    /// caller still checks that the user may sign in).
    Live(User),
    /// The caller must read the database (feed down, or user not cached).
    Ask,
}

/// The state; clones share it.
#[derive(Clone)]
pub struct Revocations(Arc<Inner>);

struct Inner {
    clock: Clock,
    up: AtomicBool,
    fallbacks: AtomicU64,
    database_checks: AtomicU64,
    rows: AtomicU64,
    state: RwLock<State>,
}

struct State {
    settings: Settings,
    /// Session → until when (unix µs by this instance's clock) it is kept.
    revoked: HashMap<SessionId, i64>,
    /// While set, a revocation did not fit in memory: every check asks the
    /// database until then.
    overflow_until: Option<i64>,
    users: HashMap<UserId, User>,
    /// Cached users, oldest first, to evict when full.
    order: VecDeque<UserId>,
    /// Moves on with every applied user change (and every fall back), so a
    /// database read that raced with a change is not cached.
    generation: u64,
}

impl Revocations {
    pub fn new(clock: Clock) -> Revocations {
        let state = State {
            settings: Settings::default(),
            revoked: HashMap::new(),
            overflow_until: None,
            users: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        };
        Revocations(Arc::new(Inner {
            clock,
            up: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
            database_checks: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            state: RwLock::new(state),
        }))
    }

    pub fn configure(&self, settings: Settings) {
        self.write().settings = settings;
    }

    /// The Bearer check's answer from memory alone.
    pub fn judge(&self, user: UserId, session: SessionId) -> Verdict {
        // A session known revoked is revoked whatever else holds.
        if self.is_up() && self.read().revoked.contains_key(&session) {
            return Verdict::Revoked;
        }
        self.judge_user(user)
    }

    /// `judge` for a token that names no session (§18's legacy tokens):
    /// the cached user, if the feed is up.
    pub fn judge_user(&self, user: UserId) -> Verdict {
        if !self.is_up() {
            return self.ask();
        }
        let state = self.read();
        if state.overflow_until.is_some_and(|until| until > self.now()) {
            drop(state);
            return self.ask();
        }
        match state.users.get(&user) {
            Some(cached) => Verdict::Live(cached.clone()),
            None => {
                drop(state);
                self.ask()
            }
        }
    }

    fn ask(&self) -> Verdict {
        self.0.database_checks.fetch_add(1, Ordering::Relaxed);
        Verdict::Ask
    }

    /// Read before a database read whose user `remember` may cache.
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// Caches a user read from the database, unless a change was applied
    /// since `generation` (the read may predate it) or the feed is down.
    pub fn remember(&self, user: &User, generation: u64) {
        if !self.is_up() {
            return;
        }
        let mut state = self.write();
        if state.generation != generation {
            return;
        }
        if state.users.insert(user.id, user.clone()).is_none() {
            state.order.push_back(user.id);
        }
        while state.users.len() > state.settings.max_users {
            let Some(oldest) = state.order.pop_front() else { break };
            state.users.remove(&oldest);
        }
    }

    /// Applies rows of the feed (again, harmlessly, if seen before).
    pub fn apply(&self, rows: &[Announcement]) {
        if rows.is_empty() {
            return;
        }
        self.0.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
        let now = self.now();
        let mut state = self.write();
        let until = now + duration_micros(state.settings.keep);
        let mut users_changed = false;
        for row in rows {
            match row {
                Announcement::Session { session, .. } => {
                    if state.revoked.len() >= state.settings.max_sessions && !state.revoked.contains_key(session) {
                        // Memory is full: this revocation is not kept, so no
                        // check may trust memory until its tokens expired.
                        if state.overflow_until.is_none_or(|u| u < now) {
                            tracing::warn!(
                                held = state.revoked.len(),
                                "revocation feed: too many revoked sessions to hold in memory; Bearer checks read \
                                 the database until they expire"
                            );
                        }
                        state.overflow_until = Some(until);
                    } else {
                        state.revoked.insert(*session, until);
                    }
                }
                Announcement::User(user) => {
                    state.users.remove(user);
                    users_changed = true;
                }
            }
        }
        if users_changed {
            state.generation += 1;
            // The order queue may name users no longer cached: trim it when
            // it grows well past the cache.
            if state.order.len() > 2 * state.settings.max_users.max(1) {
                let State { users, order, .. } = &mut *state;
                order.retain(|id| users.contains_key(id));
            }
        }
    }

    /// Drops the revoked sessions whose tokens have all expired.
    pub fn prune(&self) {
        let now = self.now();
        let mut state = self.write();
        state.revoked.retain(|_, until| *until > now);
        if state.overflow_until.is_some_and(|u| u <= now) {
            state.overflow_until = None;
        }
    }

    /// The feed has caught up (at start, or after an interruption): memory
    /// may answer again.
    pub fn feed_up(&self) {
        if !self.0.up.swap(true, Ordering::AcqRel) {
            tracing::info!("revocation feed: caught up; Bearer checks read memory");
        }
    }

    /// The feed stopped (`cause`): every check reads the database until
    /// `feed_up`. Said once per interruption.
    pub fn feed_down(&self, cause: &dyn std::fmt::Display) {
        if self.0.up.swap(false, Ordering::AcqRel) {
            self.0.fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                cause = %cause,
                "revocation feed interrupted: Bearer checks read the database until it has caught up"
            );
            // Users cached before the interruption may have changed unseen.
            let mut state = self.write();
            state.users.clear();
            state.order.clear();
            state.generation += 1;
        }
    }

    pub fn is_up(&self) -> bool {
        self.0.up.load(Ordering::Acquire)
    }

    /// For `/metrics`.
    pub fn stats(&self) -> Stats {
        let state = self.read();
        Stats {
            up: self.is_up() && state.overflow_until.is_none(),
            fallbacks: self.0.fallbacks.load(Ordering::Relaxed),
            database_checks: self.0.database_checks.load(Ordering::Relaxed),
            rows: self.0.rows.load(Ordering::Relaxed),
            revoked_sessions: state.revoked.len(),
            cached_users: state.users.len(),
        }
    }

    fn now(&self) -> i64 {
        micros(self.0.clock.now())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.0.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.0.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The state's numbers, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// The feed is caught up and memory answers Bearer checks.
    pub up: bool,
    /// How many times the feed was interrupted.
    pub fallbacks: u64,
    /// Bearer checks memory could not answer (feed down, user not cached).
    pub database_checks: u64,
    /// Rows of the feed applied (a row read by both the writer and the
    /// poll of a SQLite process counts twice).
    pub rows: u64,
    pub revoked_sessions: usize,
    pub cached_users: usize,
}

fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
