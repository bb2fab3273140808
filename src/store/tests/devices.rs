//! Sign-ins beyond the session limit, and the (device, network) pairs
//! remembered for new-device alerts (contract §12).

use std::time::Duration;

use super::harness::{Db, at_once, client, event, new_session, new_user, refresh_state};
use crate::domain::session::{NewSession, Opened, Rotate, Rotation};
use crate::domain::{AuditAction, ClientInfo, SessionId, UserId};

/// Opens a session of `user` for `client` now, under `max` sessions.
async fn sign_in_under(db: &Db, user: UserId, client: &ClientInfo, max: u32, alerts: bool) -> (NewSession, Opened) {
    let mut session = new_session(&db.reload(user).await, client, db.clock.now());
    (session.max_sessions, session.new_device_alerts) = (max, alerts);
    let opened = db.store.open_session(&session, &event(AuditAction::Login, Some(user))).await.unwrap().unwrap();
    (session, opened)
}

async fn live(db: &Db, user: UserId) -> Vec<SessionId> {
    let mut ids: Vec<SessionId> = db.store.list_sessions(user).await.unwrap().into_iter().map(|s| s.id).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<SessionId>) -> Vec<SessionId> {
    ids.sort();
    ids
}

/// Beyond the limit the session used least recently goes (a refresh counts
/// as use), with a `session_evicted` event, and it can no longer rotate.
async fn open_session_evicts_the_least_recently_used_beyond_the_limit(db: &Db) {
    let user = db.user(new_user("eve@example.com")).await.id;
    let phone = client("203.0.113.9", "phone/1");
    let mut opened = Vec::new();
    for _ in 0..3 {
        opened.push(sign_in_under(db, user, &phone, 3, false).await.0);
        db.clock.advance(Duration::from_secs(1));
    }
    let (a, b, c) = (&opened[0], &opened[1], &opened[2]);
    let use_a = Rotate {
        session_id: a.id,
        user_id: user,
        presented_jti: a.refresh.jti.clone(),
        next: refresh_state(db.clock.now(), Duration::from_secs(3600)),
        grace: Duration::ZERO,
        presenter: phone.clone(),
    };
    assert_eq!(db.store.rotate_session(&use_a).await.unwrap(), Rotation::Rotated);
    db.clock.advance(Duration::from_secs(1));

    let (d, result) = sign_in_under(db, user, &phone, 3, false).await;

    assert_eq!(result.evicted, [b.id], "b was used least recently");
    assert_eq!(live(db, user).await, sorted(vec![a.id, c.id, d.id]));
    assert!(db.store.find_session_user(user, b.id).await.unwrap().is_none(), "b's access tokens are refused");
    let again = Rotate { session_id: b.id, presented_jti: b.refresh.jti.clone(), ..use_a.clone() };
    assert_eq!(db.store.rotate_session(&again).await.unwrap(), Rotation::Dead);
    let events = db.audit("session_evicted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id, Some(user.to_string()));
    assert_eq!(events[0].detail["session_id"], b.id.to_string());
    assert_eq!(events[0].detail["by_session_id"], d.id.to_string());
}
on_each_backend!(open_session_evicts_the_least_recently_used_beyond_the_limit);

/// Without a limit nothing is evicted.
async fn open_session_without_a_limit_evicts_nothing(db: &Db) {
    let user = db.user(new_user("nil@example.com")).await.id;
    for _ in 0..5 {
        let (_, opened) = sign_in_under(db, user, &client("203.0.113.9", "phone/1"), 0, false).await;
        assert!(opened.evicted.is_empty());
    }
    assert_eq!(live(db, user).await.len(), 5);
    assert!(db.audit("session_evicted").await.is_empty());
}
on_each_backend!(open_session_without_a_limit_evicts_nothing);

/// Many sign-ins of one user at once, at the limit, leave exactly the
/// limit, round after round; every eviction is reported once and audited.
async fn concurrent_sign_ins_at_the_limit_leave_exactly_the_limit(db: &Db) {
    let user = db.user(new_user("con@example.com")).await;
    let mut reported = Vec::new();
    for round in 0..4 {
        let results = at_once((0..8).map(|i| {
            let store = db.store.clone();
            let mut session = new_session(&user, &client("203.0.113.9", &format!("app/{i}")), db.clock.now());
            session.max_sessions = 3;
            let id = user.id;
            async move { store.open_session(&session, &event(AuditAction::Login, Some(id))).await.unwrap().unwrap() }
        }))
        .await;
        reported.extend(results.into_iter().flat_map(|o| o.evicted));
        assert_eq!(live(db, user.id).await.len(), 3, "round {round}");
        db.clock.advance(Duration::from_secs(1));
    }
    let distinct: std::collections::HashSet<_> = reported.iter().collect();
    assert_eq!((reported.len(), distinct.len()), (4 * 8 - 3, 4 * 8 - 3), "each eviction once");
    assert_eq!(db.audit("session_evicted").await.len(), 4 * 8 - 3);
}
on_each_backend!(concurrent_sign_ins_at_the_limit_leave_exactly_the_limit);

/// The first sign-in is no new device; a new label or a new network is;
/// a known pair is not. `new_device` is audited only with alerts on.
async fn open_session_tells_a_new_device_pair(db: &Db) {
    let user = db.user(new_user("dev@example.com")).await.id;
    let home = client("203.0.113.9", "Firefox 133 on Linux");
    let new = |c: &ClientInfo, alerts: bool| {
        let c = c.clone();
        async move { sign_in_under(db, user, &c, 0, alerts).await.1.new_device }
    };

    assert!(!new(&home, true).await, "the first sign-in");
    assert!(!new(&client("203.0.113.200", "Firefox 133 on Linux"), true).await, "the same /24");
    assert!(new(&client("198.51.100.7", "Firefox 133 on Linux"), true).await, "a new network");
    assert!(new(&client("203.0.113.9", "Safari 17 on iPhone"), false).await, "a new device, alerts off");
    assert!(!new(&client("203.0.113.9", "Safari 17 on iPhone"), true).await, "now known");
    assert!(new(&ClientInfo::default(), false).await, "no address and no agent: a pair of its own");

    let events = db.audit("new_device").await;
    assert_eq!(events.len(), 1, "only with alerts on: {events:?}");
    assert_eq!(events[0].detail["device"], "Firefox 133 on Linux");
    assert_eq!(events[0].detail["location_hint"], "198.51.100.0/24");
    assert_eq!(events[0].user_id, Some(user.to_string()));
}
on_each_backend!(open_session_tells_a_new_device_pair);
