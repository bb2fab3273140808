//! Sessions: sign-ins, the rotation of refresh tokens, listing and
//! revoking.

use std::time::Duration;

use super::harness::{Db, at_once, client, event, new_session, new_user, refresh_state};
use crate::domain::AuditAction;
use crate::domain::session::{NewSession, Rotate, Rotation};
use crate::domain::{ClientInfo, Jti, SessionId, UserId, from_micros, micros, soft_lock};

const GRACE: Duration = Duration::from_secs(10);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// `presented` (a jti of `session`) presented by `presenter` now.
fn rotate(db: &Db, session: &NewSession, presented: &Jti, presenter: &ClientInfo) -> Rotate {
    Rotate {
        session_id: session.id,
        user_id: session.user_id,
        presented_jti: presented.clone(),
        next: refresh_state(db.clock.now(), DAY),
        grace: GRACE,
        presenter: presenter.clone(),
    }
}

/// A user signed in on a phone whose session has rotated once (`first`).
async fn rotated_once(db: &Db, email: &str) -> (crate::domain::User, ClientInfo, NewSession, Rotate) {
    let user = db.user(new_user(email)).await;
    let phone = client("203.0.113.9", "phone/1");
    let session = db.sign_in(user.id, &phone).await;
    let first = rotate(db, &session, &session.refresh.jti, &phone);
    assert_eq!(db.store.rotate_session(&first).await.unwrap(), Rotation::Rotated);
    (user, phone, session, first)
}

/// Presents the rotations at once: their outcomes, and the one rotation
/// that rotated (there must be exactly one).
async fn rotate_at_once<'r>(db: &Db, rotations: &'r [Rotate]) -> (Vec<Rotation>, &'r Rotate) {
    let outcomes = at_once(rotations.iter().cloned().map(|r| {
        let store = db.store.clone();
        async move { store.rotate_session(&r).await.unwrap() }
    }))
    .await;
    let winners: Vec<_> = rotations.iter().zip(&outcomes).filter(|(_, o)| **o == Rotation::Rotated).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0].0;
    (outcomes, winner)
}

async fn live_ids(db: &Db, user: UserId) -> Vec<SessionId> {
    db.store.list_sessions(user).await.unwrap().into_iter().map(|s| s.id).collect()
}

/// A sign-in stores the session, the user's last login and its network
/// (trusted from now on), with the event.
async fn open_session_records_the_sign_in(db: &Db) {
    let user = db.user(new_user("ida@example.com")).await;
    let phone = client("203.0.113.9", "phone/1");
    let session = db.sign_in(user.id, &phone).await;
    let stored = db.reload(user.id).await;
    assert_eq!(stored.last_login, Some(from_micros(micros(session.at))));
    let found = db.store.find_session_user(user.id, session.id).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(user.id));
    let listed = db.store.list_sessions(user.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, session.id);
    assert_eq!(listed[0].created_at, from_micros(micros(session.at)));
    assert_eq!((listed[0].ip.as_deref(), listed[0].user_agent.as_deref()), (Some("203.0.113.9"), Some("phone/1")));
    let since = soft_lock::trusted_since(db.clock.now());
    assert!(db.store.network_trusted(Some(user.id), "203.0.113.0/24", since).await.unwrap());
    let events = db.audit("login").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(events[0].user_agent.as_deref(), Some("phone/1"));
}
on_each_backend!(open_session_records_the_sign_in);

/// Of one client presenting one token many times at once, exactly one
/// rotates; the others, within the grace, get the winner's token.
async fn rotate_session_one_of_many_concurrent_presenters_rotates(db: &Db) {
    let user = db.user(new_user("jo@example.com")).await;
    let phone = client("203.0.113.9", "phone/1");
    let session = db.sign_in(user.id, &phone).await;
    let rotations: Vec<Rotate> = (0..6).map(|_| rotate(db, &session, &session.refresh.jti, &phone)).collect();
    let (outcomes, winner) = rotate_at_once(db, &rotations).await;
    let current = winner.next.clone();
    for o in outcomes.iter().filter(|o| **o != Rotation::Rotated) {
        assert_eq!(*o, Rotation::Grace(current.clone()));
    }
    let events = db.audit("token_refresh").await;
    assert_eq!(events.len(), 6, "one event per presentation");
    assert!(events.iter().all(|e| e.outcome == "success"));
    let next = rotate(db, &session, &current.jti, &phone);
    assert_eq!(
        db.store.rotate_session(&next).await.unwrap(),
        Rotation::Rotated,
        "the session holds the winner's token"
    );
}
on_each_backend!(rotate_session_one_of_many_concurrent_presenters_rotates);

/// Of clients on different networks presenting one token at once,
/// exactly one rotates; the others are suspected, and the session lives.
async fn rotate_session_concurrent_presenters_elsewhere_are_suspected(db: &Db) {
    let user = db.user(new_user("kai@example.com")).await;
    let session = db.sign_in(user.id, &client("203.0.113.9", "app/1")).await;
    let rotations: Vec<Rotate> = (0..5)
        .map(|i| rotate(db, &session, &session.refresh.jti, &client(&format!("198.51.{i}.7"), "app/1")))
        .collect();
    let (outcomes, winner) = rotate_at_once(db, &rotations).await;
    let rotated_ip = winner.presenter.ip.map(|ip| ip.to_string());
    for o in outcomes.iter().filter(|o| **o != Rotation::Rotated) {
        assert_eq!(*o, Rotation::Suspected { rotated_ip: rotated_ip.clone() });
    }
    assert_eq!(db.audit("token_reuse_suspected").await.len(), 4);
    assert_eq!(live_ids(db, user.id).await, [session.id], "a suspicion does not revoke");
    let next = rotate(db, &session, &winner.next.jti, &winner.presenter);
    assert_eq!(db.store.rotate_session(&next).await.unwrap(), Rotation::Rotated);
}
on_each_backend!(rotate_session_concurrent_presenters_elsewhere_are_suspected);

/// A rotation records its presenter as the session's latest client.
async fn rotate_session_records_the_presenter(db: &Db) {
    let user = db.user(new_user("lea@example.com")).await;
    let session = db.sign_in(user.id, &client("203.0.113.9", "phone/1")).await;
    db.clock.advance(Duration::from_secs(60));
    let laptop = client("2001:db8:1:2::5", "laptop/3");
    let r = rotate(db, &session, &session.refresh.jti, &laptop);
    assert_eq!(db.store.rotate_session(&r).await.unwrap(), Rotation::Rotated);
    let listed = db.store.list_sessions(user.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].ip.as_deref(), listed[0].user_agent.as_deref()), (Some("2001:db8:1:2::5"), Some("laptop/3")));
    assert!(listed[0].last_used_at >= listed[0].created_at + chrono::TimeDelta::seconds(60), "{listed:?}");
    let events = db.audit("token_refresh").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ip.as_deref(), Some("2001:db8:1:2::5"));
    assert_eq!(events[0].detail["session_id"], session.id.to_string());
}
on_each_backend!(rotate_session_records_the_presenter);

/// A rotated token back within the grace: the same client gets the
/// current token, another is refused and the session lives. After the
/// grace it is reuse: the session is revoked.
async fn rotate_session_stale_token_within_the_grace_and_after_it(db: &Db) {
    let (user, phone, session, first) = rotated_once(db, "max@example.com").await;
    db.clock.advance(Duration::from_secs(5));
    let replay = rotate(db, &session, &session.refresh.jti, &phone);
    assert_eq!(db.store.rotate_session(&replay).await.unwrap(), Rotation::Grace(first.next.clone()));
    let thief = rotate(db, &session, &session.refresh.jti, &client("198.51.100.7", "phone/1"));
    let suspected = Rotation::Suspected { rotated_ip: Some("203.0.113.9".into()) };
    assert_eq!(db.store.rotate_session(&thief).await.unwrap(), suspected);
    assert_eq!(live_ids(db, user.id).await, [session.id]);
    db.clock.advance(Duration::from_secs(6));
    let late = rotate(db, &session, &session.refresh.jti, &phone);
    assert_eq!(db.store.rotate_session(&late).await.unwrap(), Rotation::Reused);
    assert!(live_ids(db, user.id).await.is_empty(), "reuse revokes the session");
    assert!(db.store.find_session_user(user.id, session.id).await.unwrap().is_none());
    let current = rotate(db, &session, &first.next.jti, &phone);
    assert_eq!(db.store.rotate_session(&current).await.unwrap(), Rotation::Dead);
    let reuse = db.audit("token_reuse").await;
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0].outcome, "failure");
    assert_eq!(reuse[0].user_id, Some(user.id.to_string()));
    assert_eq!(db.audit("token_reuse_suspected").await.len(), 1);
}
on_each_backend!(rotate_session_stale_token_within_the_grace_and_after_it);

/// A token older than the previous one is reuse even within the grace
/// and from the client that rotated.
async fn rotate_session_an_older_ancestor_is_reuse(db: &Db) {
    let (user, phone, session, first) = rotated_once(db, "ned@example.com").await;
    let second = rotate(db, &session, &first.next.jti, &phone);
    assert_eq!(db.store.rotate_session(&second).await.unwrap(), Rotation::Rotated);
    let ancestor = rotate(db, &session, &session.refresh.jti, &phone);
    assert_eq!(db.store.rotate_session(&ancestor).await.unwrap(), Rotation::Reused);
    assert!(live_ids(db, user.id).await.is_empty());
}
on_each_backend!(rotate_session_an_older_ancestor_is_reuse);

/// An expired refresh token rotates nothing, and its session is no
/// longer listed; a session of another user or one never opened is dead.
async fn rotate_session_an_expired_or_unknown_session_is_dead(db: &Db) {
    let user = db.user(new_user("oda@example.com")).await;
    let phone = client("203.0.113.9", "phone/1");
    let mut short = new_session(&user, &phone, db.clock.now());
    short.refresh = refresh_state(db.clock.now(), Duration::from_secs(60));
    db.store.open_session(&short, &event(AuditAction::Login, Some(user.id))).await.unwrap();
    let long = db.sign_in(user.id, &phone).await;
    db.clock.advance(Duration::from_secs(61));
    let expired = rotate(db, &short, &short.refresh.jti, &phone);
    assert_eq!(db.store.rotate_session(&expired).await.unwrap(), Rotation::Dead);
    assert_eq!(live_ids(db, user.id).await, [long.id], "an expired session is not listed");
    let other = db.user(new_user("pia@example.com")).await;
    let mut wrong_user = rotate(db, &long, &long.refresh.jti, &phone);
    wrong_user.user_id = other.id;
    assert_eq!(db.store.rotate_session(&wrong_user).await.unwrap(), Rotation::Dead);
    let mut never = rotate(db, &long, &long.refresh.jti, &phone);
    never.session_id = SessionId::new();
    assert_eq!(db.store.rotate_session(&never).await.unwrap(), Rotation::Dead);
    let failed = db.audit("token_refresh").await;
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|e| e.outcome == "failure" && e.detail["reason"] == "session_ended"));
    let r = rotate(db, &long, &long.refresh.jti, &phone);
    assert_eq!(db.store.rotate_session(&r).await.unwrap(), Rotation::Rotated, "the long session lives on");
}
on_each_backend!(rotate_session_an_expired_or_unknown_session_is_dead);

/// The live sessions of a user, newest first: not revoked, not another
/// user's.
async fn list_sessions_lists_live_sessions_newest_first(db: &Db) {
    let user = db.user(new_user("quin@example.com")).await;
    let other = db.user(new_user("ray@example.com")).await;
    let phone = client("203.0.113.9", "phone/1");
    let mut opened = Vec::new();
    for _ in 0..3 {
        opened.push(db.sign_in(user.id, &phone).await.id);
        db.clock.advance(Duration::from_secs(60));
    }
    db.sign_in(other.id, &phone).await;
    assert!(
        db.store
            .revoke_session(opened[1], user.id, "logout", &event(AuditAction::Logout, Some(user.id)))
            .await
            .unwrap()
    );
    assert_eq!(live_ids(db, user.id).await, [opened[2], opened[0]]);
    assert_eq!(live_ids(db, other.id).await.len(), 1);
}
on_each_backend!(list_sessions_lists_live_sessions_newest_first);

/// Revoking one session needs its owner and a live session, and only
/// then writes the event; revoking all counts the live ones.
async fn revoke_session_and_revoke_all_sessions(db: &Db) {
    let user = db.user(new_user("sam@example.com")).await;
    let other = db.user(new_user("tia@example.com")).await;
    let phone = client("203.0.113.9", "phone/1");
    let sessions: Vec<SessionId> =
        [db.sign_in(user.id, &phone).await, db.sign_in(user.id, &phone).await, db.sign_in(user.id, &phone).await]
            .iter()
            .map(|s| s.id)
            .collect();
    let revoke = |sid, owner: UserId| {
        let store = db.store.clone();
        async move { store.revoke_session(sid, owner, "logout", &event(AuditAction::Logout, Some(owner))).await.unwrap() }
    };
    assert!(!revoke(sessions[0], other.id).await, "not the owner");
    assert!(db.audit("logout").await.is_empty());
    assert!(revoke(sessions[0], user.id).await);
    assert!(!revoke(sessions[0], user.id).await, "already revoked");
    assert!(!revoke(SessionId::new(), user.id).await, "never opened");
    assert_eq!(db.audit("logout").await.len(), 1);
    assert!(db.store.find_session_user(user.id, sessions[0]).await.unwrap().is_none());
    let n = db
        .store
        .revoke_all_sessions(user.id, "logout_all", &event(AuditAction::LogoutAll, Some(user.id)))
        .await
        .unwrap();
    assert_eq!(n, 2, "the live ones");
    assert!(live_ids(db, user.id).await.is_empty());
    for sid in &sessions {
        assert!(db.store.find_session_user(user.id, *sid).await.unwrap().is_none());
    }
    assert_eq!(db.audit("logout_all").await.len(), 1);
    let r = rotate(db, &new_session(&user, &phone, db.clock.now()), &Jti::random(), &phone);
    assert_eq!(db.store.rotate_session(&r).await.unwrap(), Rotation::Dead);
}
on_each_backend!(revoke_session_and_revoke_all_sessions);

/// Many sessions rotating at once (on PostgreSQL, batched into shared
/// statements) each rotate, with one event each, and each session holds
/// its own presenter's new token.
async fn rotate_session_many_sessions_at_once_each_rotate(db: &Db) {
    let user = db.user(new_user("pia@example.com")).await;
    let mut rotations = Vec::new();
    for i in 0..24 {
        let device = client("203.0.113.9", &format!("device/{i}"));
        let session = db.sign_in(user.id, &device).await;
        rotations.push(rotate(db, &session, &session.refresh.jti, &device));
    }

    let outcomes = at_once(rotations.iter().cloned().map(|r| {
        let store = db.store.clone();
        async move { store.rotate_session(&r).await.unwrap() }
    }))
    .await;

    assert!(outcomes.iter().all(|o| *o == Rotation::Rotated), "{outcomes:?}");
    assert_eq!(db.audit("token_refresh").await.len(), 24);
    for r in &rotations {
        let again = Rotate { next: refresh_state(db.clock.now(), DAY), ..r.clone() };
        let moved_on = Rotate { presented_jti: r.next.jti.clone(), ..again };
        assert_eq!(db.store.rotate_session(&moved_on).await.unwrap(), Rotation::Rotated, "the new token is current");
    }
}
on_each_backend!(rotate_session_many_sessions_at_once_each_rotate);
