use std::time::Duration;

use chrono::Utc;

use super::*;
use crate::domain::{AuthProvider, Role};

fn user(id: UserId, role: Role) -> User {
    User {
        id,
        email: None,
        phone: None,
        password_hash: String::new(),
        first_name: "Ana".into(),
        last_name: String::new(),
        role,
        auth_provider: AuthProvider::Email,
        is_active: true,
        is_verified: false,
        last_login: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        deleted_at: None,
    }
}

fn ids() -> (UserId, SessionId) {
    (uuid::Uuid::now_v7().to_string().parse().unwrap(), uuid::Uuid::now_v7().to_string().parse().unwrap())
}

fn up(clock: &Clock) -> Revocations {
    let r = Revocations::new(clock.clone());
    r.feed_up();
    r
}

#[test]
fn nothing_is_answered_from_memory_until_the_feed_is_up() {
    let r = Revocations::new(Clock::manual());
    let (u, s) = ids();
    r.remember(&user(u, Role::Client), r.generation());
    assert!(matches!(r.judge(u, s), Verdict::Ask));
    r.apply(&[Announcement::Session { user: u, session: s }]);
    assert!(matches!(r.judge(u, s), Verdict::Ask), "a feed that is not up answers nothing, revoked or not");
}

#[test]
fn a_revoked_session_is_refused_until_its_tokens_expired() {
    let clock = Clock::manual();
    let r = up(&clock);
    let (u, s) = ids();
    r.remember(&user(u, Role::Client), r.generation());
    r.apply(&[Announcement::Session { user: u, session: s }]);
    assert!(matches!(r.judge(u, s), Verdict::Revoked));
    clock.advance(Settings::default().keep - Duration::from_secs(1));
    r.prune();
    assert!(matches!(r.judge(u, s), Verdict::Revoked), "kept for the whole access lifetime");
    clock.advance(Duration::from_secs(2));
    r.prune();
    assert!(matches!(r.judge(u, s), Verdict::Live(_)), "dropped once every token of it expired");
}

#[test]
fn a_user_change_evicts_the_cached_user_and_a_racing_read_is_not_cached() {
    let r = up(&Clock::manual());
    let (u, s) = ids();
    let before = r.generation();
    r.apply(&[Announcement::User(u)]); // committed while the read ran
    r.remember(&user(u, Role::Client), before);
    assert!(matches!(r.judge(u, s), Verdict::Ask), "a read older than a change is not cached");
    r.remember(&user(u, Role::Client), r.generation());
    assert!(matches!(r.judge(u, s), Verdict::Live(ref got) if got.role == Role::Client));
    r.apply(&[Announcement::User(u)]);
    assert!(matches!(r.judge(u, s), Verdict::Ask));
}

#[test]
fn when_memory_is_full_every_check_asks_the_database_until_the_overflow_expired() {
    let clock = Clock::manual();
    let r = up(&clock);
    r.configure(Settings { max_sessions: 2, ..Settings::default() });
    let (u, s) = ids();
    r.remember(&user(u, Role::Client), r.generation());
    let rows: Vec<Announcement> = (0..3).map(|_| Announcement::Session { user: u, session: ids().1 }).collect();
    r.apply(&rows);
    assert!(matches!(r.judge(u, s), Verdict::Ask), "a revocation that did not fit may be any session");
    assert!(!r.stats().up);
    clock.advance(Settings::default().keep + Duration::from_secs(1));
    r.prune();
    assert!(matches!(r.judge(u, s), Verdict::Live(_)));
}

#[test]
fn the_user_cache_is_bounded() {
    let r = up(&Clock::manual());
    r.configure(Settings { max_users: 3, ..Settings::default() });
    let users: Vec<UserId> = (0..5).map(|_| ids().0).collect();
    for u in &users {
        r.remember(&user(*u, Role::Client), r.generation());
    }
    assert_eq!(r.stats().cached_users, 3);
    assert!(matches!(r.judge(users[0], ids().1), Verdict::Ask), "the oldest went first");
    assert!(matches!(r.judge(users[4], ids().1), Verdict::Live(_)));
}

#[test]
fn an_interruption_forgets_the_cached_users_and_counts_a_fall_back() {
    let r = up(&Clock::manual());
    let (u, s) = ids();
    r.remember(&user(u, Role::Client), r.generation());
    r.feed_down(&"connection lost");
    r.feed_down(&"still lost");
    assert_eq!(r.stats().fallbacks, 1, "one interruption, counted once");
    r.feed_up();
    assert!(matches!(r.judge(u, s), Verdict::Ask));
}
