//! The sign-in defence's counters and trusted networks (contract §14.1,
//! `domain::soft_lock`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::harness::{Db, at_once, client, new_user, plus};
use crate::domain::soft_lock::{self, Charge, Failures, SoftLock, Verdict};

const LOGIN: &str = "email:ana@example.com";
const HOME: &str = "203.0.113.0/24";

fn charge(network: Option<&str>) -> Charge {
    Charge { login: LOGIN.into(), network: network.map(Into::into) }
}

async fn attempt(db: &Db, lock: SoftLock, charge: &Charge, now: DateTime<Utc>) -> Verdict {
    db.store.login_attempt(lock, charge, now).await.expect("no store error")
}

async fn failures(db: &Db) -> Failures {
    db.store.login_failures(LOGIN).await.expect("no store error")
}

fn delayed(secs: u64) -> Verdict {
    Verdict::Delayed { retry_after: Duration::from_secs(secs) }
}

/// Each allowed attempt counts a failure at once; from the Nth on,
/// attempts wait an escalating delay, and a delayed one counts nothing.
async fn login_attempt_counts_and_delays(db: &Db) {
    let lock = SoftLock::new(3);
    let t0 = db.now();
    assert_eq!(failures(db).await, Failures::default());
    for _ in 0..3 {
        assert_eq!(attempt(db, lock, &charge(None), t0).await, Verdict::Allowed);
    }
    assert_eq!(attempt(db, lock, &charge(None), t0).await, delayed(1));
    assert_eq!(failures(db).await.count, 3, "a delayed attempt is not counted");
    assert_eq!(attempt(db, lock, &charge(None), plus(t0, 1)).await, Verdict::Allowed);
    assert_eq!(attempt(db, lock, &charge(None), plus(t0, 1)).await, delayed(2));
    assert_eq!(failures(db).await, Failures { count: 4, latest: plus(t0, 1) });
    let window = i64::try_from(soft_lock::WINDOW.as_secs()).unwrap();
    assert_eq!(attempt(db, lock, &charge(None), plus(t0, 1 + window)).await, Verdict::Allowed);
    assert_eq!(failures(db).await.count, 1, "the count starts again after the window");
}
on_each_backend!(login_attempt_counts_and_delays);

/// Of many attempts at once, only as many go ahead as the rules allow.
async fn login_attempt_is_exact_under_concurrency(db: &Db) {
    let lock = SoftLock::new(3);
    let now = db.now();
    let verdicts = at_once((0..10).map(|_| {
        let store = db.store.clone();
        async move { store.login_attempt(lock, &charge(None), now).await.unwrap() }
    }))
    .await;
    assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Allowed).count(), 3, "{verdicts:?}");
    assert_eq!(failures(db).await.count, 3);
}
on_each_backend!(login_attempt_is_exact_under_concurrency);

/// A trusted network's attempts are judged by its own counter, and
/// still count on the login's; forgiving takes one back from both; a
/// reset empties every counter of the login.
async fn a_trusted_networks_counter_forgive_and_reset(db: &Db) {
    let lock = SoftLock::new(2);
    let t0 = db.now();
    for _ in 0..2 {
        assert_eq!(attempt(db, lock, &charge(None), t0).await, Verdict::Allowed);
    }
    assert_eq!(attempt(db, lock, &charge(None), t0).await, delayed(1), "strangers wait");
    let home = charge(Some(HOME));
    assert_eq!(attempt(db, lock, &home, t0).await, Verdict::Allowed, "the owner's network does not");
    assert_eq!(failures(db).await.count, 3, "and its failure counts on the login too");
    assert_eq!(attempt(db, lock, &home, t0).await, Verdict::Allowed);
    assert_eq!(attempt(db, lock, &home, t0).await, delayed(1), "until its own counter is full");
    db.store.forgive_login_attempt(&home).await.unwrap();
    assert_eq!(failures(db).await.count, 3, "forgiven on the login's counter");
    assert_eq!(attempt(db, lock, &home, t0).await, Verdict::Allowed, "and on the network's");
    db.store.reset_login_failures(LOGIN).await.unwrap();
    assert_eq!(failures(db).await, Failures::default());
    assert_eq!(attempt(db, lock, &charge(None), t0).await, Verdict::Allowed);
    assert_eq!(attempt(db, lock, &home, t0).await, Verdict::Allowed);
    assert_eq!(attempt(db, lock, &home, t0).await, Verdict::Allowed, "the network's counter was reset too");
    let other = Charge { login: "email:bo@example.com".into(), network: None };
    assert_eq!(attempt(db, lock, &other, t0).await, Verdict::Allowed, "another login's counter is its own");
}
on_each_backend!(a_trusted_networks_counter_forgive_and_reset);

/// A network is trusted for an account after a sign-in from it, since
/// the time asked, and for no one else.
async fn network_trusted_after_a_sign_in(db: &Db) {
    let user = db.user(new_user("ana@example.com")).await;
    let stranger = db.user(new_user("bo@example.com")).await;
    let before = db.clock.now();
    assert!(!db.store.network_trusted(Some(user.id), HOME, soft_lock::trusted_since(before)).await.unwrap());
    db.sign_in(user.id, &client("203.0.113.9", "phone/1")).await;
    let since = soft_lock::trusted_since(db.clock.now());
    assert!(db.store.network_trusted(Some(user.id), HOME, since).await.unwrap());
    assert!(!db.store.network_trusted(Some(user.id), "198.51.100.0/24", since).await.unwrap());
    assert!(!db.store.network_trusted(Some(stranger.id), HOME, since).await.unwrap());
    assert!(!db.store.network_trusted(None, HOME, since).await.unwrap());
    let v6 = db.sign_in(user.id, &client("2001:db8:1:2::5", "laptop/1")).await;
    assert!(db.store.network_trusted(Some(user.id), "2001:db8:1:2::/64", since).await.unwrap());
    let after = plus(v6.at, 1);
    assert!(!db.store.network_trusted(Some(user.id), HOME, after).await.unwrap(), "not since a later time");
}
on_each_backend!(network_trusted_after_a_sign_in);

/// The sweep deletes run-out counters and old trust, and only those.
async fn sweep_login_defence_deletes_what_ran_out(db: &Db) {
    let lock = SoftLock::new(3);
    let user = db.user(new_user("ana@example.com")).await;
    let t0 = db.now();
    db.sign_in(user.id, &client("203.0.113.9", "phone/1")).await;
    attempt(db, lock, &charge(Some(HOME)), t0).await;
    let recent = Charge { login: "email:recent@example.com".into(), network: None };
    attempt(db, lock, &recent, plus(t0, 100)).await;
    let swept = db.store.sweep_login_defence(plus(t0, 50), t0 - chrono::TimeDelta::seconds(1)).await.unwrap();
    assert_eq!(swept, 2, "both counters of the login (its own and its network's)");
    assert_eq!(failures(db).await, Failures::default());
    assert_eq!(db.store.login_failures("email:recent@example.com").await.unwrap().count, 1, "a recent counter stays");
    let since = soft_lock::trusted_since(db.clock.now());
    assert!(db.store.network_trusted(Some(user.id), HOME, since).await.unwrap(), "recent trust stays");
    db.clock.advance(Duration::from_secs(60));
    let swept = db.store.sweep_login_defence(t0, db.clock.now()).await.unwrap();
    assert_eq!(swept, 1, "the trust");
    assert!(!db.store.network_trusted(Some(user.id), HOME, since).await.unwrap());
}
on_each_backend!(sweep_login_defence_deletes_what_ran_out);
