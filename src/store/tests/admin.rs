//! The admin API's writes (the last-admin rule, soft delete and restore)
//! and its listings, with their filters and cursor pages.

use super::harness::{Db, at_once, boxed, client, event, new_admin, new_user, phone_user};
use crate::domain::AuditAction;
use crate::domain::{AuditEvent, Outcome, Role, User, UserId, micros};
use crate::store::{AdminWrite, AuditFilter, AuditRecord, Cursor, NewUser, UserChange, UserFilter, UserTaken};

/// Every page of a listing, `size` rows at a time, each next page asked
/// for after the last row of the one before (as the admin API does).
async fn walk<T>(size: u32, fetch: impl AsyncFn(Option<Cursor>, u32) -> Vec<T>, key: impl Fn(&T) -> Cursor) -> Vec<T> {
    let (mut all, mut after) = (Vec::new(), None);
    loop {
        let mut rows = fetch(after.clone(), size).await;
        assert!(rows.len() <= size as usize + 1, "at most one row more than a page");
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        after = rows.last().map(&key);
        all.extend(rows);
        if !more {
            return all;
        }
    }
}

async fn users(db: &Db, filter: UserFilter) -> Vec<UserId> {
    let filter = UserFilter { limit: 100, ..filter };
    db.store.list_users(&filter).await.unwrap().into_iter().map(|u| u.id).collect()
}

fn user_cursor(u: &User) -> Cursor {
    Cursor { at: micros(u.created_at), id: u.id.to_string() }
}

fn audit_cursor(r: &AuditRecord) -> Cursor {
    Cursor { at: r.at, id: r.id.clone() }
}

async fn change(db: &Db, id: UserId, change: UserChange) -> AdminWrite {
    db.store.change_user(id, &change, &event(AuditAction::AdminUserUpdate, Some(id))).await.unwrap()
}

fn demote() -> UserChange {
    UserChange { role: Some(Role::Client), ..UserChange::default() }
}

/// Users pages: every user once, newest first (ties by id), however
/// many share a creation time.
async fn list_users_pages_have_no_duplicates_or_gaps(db: &Db) {
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(db.user(new_user(&format!("page{i}@example.com"))).await.id);
    }
    let t = micros(db.clock.now());
    let (tied, older) = created.split_at(5);
    let list = |ids: &[UserId]| ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ");
    db.arrange(format!("UPDATE users SET created_at = {t} WHERE id IN ({})", list(tied))).await;
    db.arrange(format!("UPDATE users SET created_at = {} WHERE id IN ({})", t - 1_000_000, list(older))).await;
    let full = db.store.list_users(&UserFilter { limit: 100, ..UserFilter::default() }).await.unwrap();
    let mut expected: Vec<(i64, String)> = full.iter().map(|u| (micros(u.created_at), u.id.to_string())).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        full.iter().map(|u| (micros(u.created_at), u.id.to_string())).collect::<Vec<_>>(),
        expected,
        "newest first, ties by id"
    );
    assert_eq!(full.len(), 7);
    for size in [1, 2, 3, 5] {
        let fetch = async |after: Option<Cursor>, limit: u32| {
            db.store.list_users(&UserFilter { after, limit, ..UserFilter::default() }).await.unwrap()
        };
        let paged = walk(size, fetch, user_cursor).await;
        let ids = |v: &[User]| v.iter().map(|u| u.id).collect::<Vec<_>>();
        assert_eq!(ids(&paged), ids(&full), "pages of {size}");
    }
}
on_each_backend!(list_users_pages_have_no_duplicates_or_gaps);

/// The user filters: role, activity, verification, text (email, phone
/// or names, wildcards taken literally) and soft deletion.
async fn list_users_filters(db: &Db) {
    let ana = db.user(NewUser { is_verified: true, first_name: "Ana".into(), ..new_user("ana@example.com") }).await.id;
    let bob = db
        .user(NewUser {
            role: Role::Vendor,
            first_name: "Bob".into(),
            last_name: "Stone".into(),
            ..phone_user("+14155552671")
        })
        .await
        .id;
    let cy = db.user(NewUser { role: Role::Staff, ..new_user("cy@corp.example.org") }).await.id;
    let del = db.user(new_user("del@example.com")).await.id;
    let under = db.user(new_user("under_score@example.com")).await.id;
    assert!(matches!(
        change(db, cy, UserChange { is_active: Some(false), ..UserChange::default() }).await,
        AdminWrite::Done(_)
    ));
    assert!(matches!(
        db.store.soft_delete_user(del, &event(AuditAction::AdminUserDelete, Some(del))).await.unwrap(),
        AdminWrite::Done(_)
    ));
    let q = |text: &str| UserFilter { q: Some(text.into()), ..UserFilter::default() };
    assert_eq!(users(db, UserFilter::default()).await, [under, cy, bob, ana]);
    assert_eq!(users(db, UserFilter { role: Some(Role::Vendor), ..UserFilter::default() }).await, [bob]);
    assert_eq!(users(db, UserFilter { is_active: Some(false), ..UserFilter::default() }).await, [cy]);
    assert_eq!(users(db, UserFilter { is_verified: Some(true), ..UserFilter::default() }).await, [ana]);
    let unverified_clients = UserFilter { role: Some(Role::Client), is_verified: Some(false), ..UserFilter::default() };
    assert_eq!(users(db, unverified_clients).await, [under]);
    assert_eq!(users(db, UserFilter { deleted: true, ..UserFilter::default() }).await, [del]);
    assert_eq!(users(db, q("ana@")).await, [ana]);
    assert_eq!(users(db, q("5552671")).await, [bob], "the phone");
    assert_eq!(users(db, q("bob stone")).await, [bob], "the names");
    assert_eq!(users(db, q("corp.example")).await, [cy]);
    assert_eq!(users(db, q("_")).await, [under], "an underscore is not a wildcard");
    assert!(users(db, q("%")).await.is_empty(), "nor is a percent sign");
    assert_eq!(users(db, UserFilter { deleted: true, ..q("del@") }).await, [del]);
    assert!(users(db, q("del@")).await.is_empty());
}
on_each_backend!(list_users_filters);

/// An event is stored as it was recorded.
async fn record_audit_stores_the_event(db: &Db) {
    let (user, actor) = (UserId::new(), UserId::new());
    let mut e = AuditEvent::new(AuditAction::Login, Outcome::Failure, Some(user), &client("2001:db8::7", "curl/8"));
    e.actor_id = Some(actor);
    let e = e.with_detail(serde_json::json!({"reason": "invalid_credentials", "n": 2}));
    let before = micros(db.clock.now()) - 60_000_000;
    db.store.record_audit(&e).await.unwrap();
    let stored = db.audit("login").await;
    assert_eq!(stored.len(), 1);
    let r = &stored[0];
    assert_eq!((r.action.as_str(), r.outcome.as_str()), ("login", "failure"));
    assert_eq!((r.user_id.clone(), r.actor_id.clone()), (Some(user.to_string()), Some(actor.to_string())));
    assert_eq!((r.ip.as_deref(), r.user_agent.as_deref()), (Some("2001:db8::7"), Some("curl/8")));
    assert_eq!(r.detail, serde_json::json!({"reason": "invalid_credentials", "n": 2}));
    assert!(r.at > before, "stored at the time of the event");
    assert!(r.id.parse::<uuid::Uuid>().is_ok());
}
on_each_backend!(record_audit_stores_the_event);

/// Audit filters (user, action, outcome, since inclusive, until
/// exclusive) and pages with no duplicates or gaps on equal times.
async fn list_audit_filters_and_pages(db: &Db) {
    let (ana, bob) = (UserId::new(), UserId::new());
    for (action, outcome, user) in [
        (AuditAction::Login, Outcome::Success, ana),
        (AuditAction::Login, Outcome::Failure, bob),
        (AuditAction::Logout, Outcome::Success, ana),
        (AuditAction::Login, Outcome::Failure, ana),
    ] {
        db.store.record_audit(&AuditEvent::new(action, outcome, Some(user), &Default::default())).await.unwrap();
    }
    for _ in 0..6 {
        db.store
            .record_audit(&AuditEvent::new(AuditAction::Undeliverable, Outcome::Success, None, &Default::default()))
            .await
            .unwrap();
    }
    let t = micros(db.clock.now()) + 1_000_000;
    db.arrange(format!("UPDATE audit_events SET at = {t} WHERE action = 'undeliverable'")).await;
    let list = |f: AuditFilter| {
        let store = db.store.clone();
        async move { store.list_audit(&AuditFilter { limit: 100, ..f }).await.unwrap() }
    };
    let full = list(AuditFilter::default()).await;
    assert_eq!(full.len(), 10);
    let mut expected: Vec<(i64, String)> = full.iter().map(|r| (r.at, r.id.clone())).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(full.iter().map(|r| (r.at, r.id.clone())).collect::<Vec<_>>(), expected, "newest first, ties by id");
    for size in [1, 2, 4] {
        let fetch = async |after: Option<Cursor>, limit: u32| {
            db.store.list_audit(&AuditFilter { after, limit, ..AuditFilter::default() }).await.unwrap()
        };
        let paged = walk(size, fetch, audit_cursor).await;
        let ids = |v: &[AuditRecord]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&paged), ids(&full), "pages of {size}");
    }
    let of_ana = list(AuditFilter { user_id: Some(ana.to_string()), ..AuditFilter::default() }).await;
    assert_eq!(of_ana.len(), 3);
    let failed_logins =
        list(AuditFilter { action: Some("login".into()), outcome: Some("failure".into()), ..AuditFilter::default() })
            .await;
    assert_eq!(failed_logins.len(), 2);
    let logins = list(AuditFilter { action: Some("login".into()), ..AuditFilter::default() }).await;
    let (newest, oldest) = (logins[0].at, logins[2].at);
    let since =
        list(AuditFilter { action: Some("login".into()), since: Some(logins[1].at), ..AuditFilter::default() }).await;
    assert_eq!(since.iter().map(|r| &r.id).collect::<Vec<_>>(), [&logins[0].id, &logins[1].id]);
    let until =
        list(AuditFilter { action: Some("login".into()), until: Some(logins[1].at), ..AuditFilter::default() }).await;
    assert_eq!(until.iter().map(|r| &r.id).collect::<Vec<_>>(), [&logins[2].id]);
    let window = AuditFilter {
        since: Some(oldest),
        until: Some(newest + 1),
        action: Some("login".into()),
        ..AuditFilter::default()
    };
    assert_eq!(list(window).await.len(), 3);
    let short = db.store.list_audit(&AuditFilter { limit: 3, ..AuditFilter::default() }).await.unwrap();
    assert_eq!(short.len(), 4, "one more than the page");
}
on_each_backend!(list_audit_filters_and_pages);

/// An admin's change applies the fields given and leaves the others;
/// deactivating revokes every session; a missing or deleted user is not
/// found.
async fn change_user_applies_changes(db: &Db) {
    let user = db.user(new_user("ivy@example.com")).await;
    let session = db.sign_in(user.id, &client("203.0.113.9", "phone/1")).await;
    let renamed = UserChange {
        first_name: Some("Ivy".into()),
        role: Some(Role::Staff),
        is_verified: Some(true),
        ..UserChange::default()
    };
    let AdminWrite::Done(changed) = change(db, user.id, renamed).await else { panic!("the change is done") };
    assert_eq!((changed.first_name.as_str(), changed.last_name.as_str(), changed.role), ("Ivy", "", Role::Staff));
    assert!(changed.is_verified && changed.is_active);
    assert_eq!(db.reload(user.id).await.role, Role::Staff);
    assert_eq!(users(db, UserFilter { q: Some("ivy".into()), ..UserFilter::default() }).await, [user.id]);
    assert!(db.store.find_session_user(user.id, session.id).await.unwrap().is_some(), "a change keeps sessions");
    let off = UserChange { is_active: Some(false), ..UserChange::default() };
    let AdminWrite::Done(inactive) = change(db, user.id, off).await else { panic!("deactivated") };
    assert!(!inactive.is_active && inactive.role == Role::Staff);
    assert!(db.store.find_session_user(user.id, session.id).await.unwrap().is_none(), "deactivation revokes");
    assert!(db.store.list_sessions(user.id).await.unwrap().is_empty());
    assert_eq!(db.audit("admin_user_update").await.len(), 2);
    assert!(matches!(change(db, UserId::new(), demote()).await, AdminWrite::NotFound));
    db.store.soft_delete_user(user.id, &event(AuditAction::AdminUserDelete, Some(user.id))).await.unwrap();
    assert!(matches!(change(db, user.id, demote()).await, AdminWrite::NotFound), "a deleted user");
    assert_eq!(db.audit("admin_user_update").await.len(), 2, "no event without a change");
}
on_each_backend!(change_user_applies_changes);

/// The last active admin can be neither demoted, deactivated nor
/// deleted; another change of theirs goes through.
async fn the_last_admin_stays(db: &Db) {
    let admin = db.user(new_admin("root@example.com")).await.id;
    assert!(matches!(change(db, admin, demote()).await, AdminWrite::LastAdmin));
    let off = UserChange { is_active: Some(false), ..UserChange::default() };
    assert!(matches!(change(db, admin, off).await, AdminWrite::LastAdmin));
    let deleted = db.store.soft_delete_user(admin, &event(AuditAction::AdminUserDelete, Some(admin))).await.unwrap();
    assert!(matches!(deleted, AdminWrite::LastAdmin));
    let stored = db.reload(admin).await;
    assert!(stored.role == Role::Admin && stored.is_active && stored.deleted_at.is_none());
    assert!(db.audit("admin_user_update").await.is_empty() && db.audit("admin_user_delete").await.is_empty());
    let renamed = UserChange { first_name: Some("Root".into()), ..UserChange::default() };
    assert!(matches!(change(db, admin, renamed).await, AdminWrite::Done(_)));
    let second = db.user(new_admin("second@example.com")).await.id;
    assert!(matches!(change(db, admin, demote()).await, AdminWrite::Done(_)), "with another admin");
    assert!(matches!(change(db, second, demote()).await, AdminWrite::LastAdmin));
}
on_each_backend!(the_last_admin_stays);

/// Two admins demoting (or deleting) each other at once: one is
/// refused, and one admin remains, round after round.
async fn admins_demoting_each_other_at_once_leave_one(db: &Db) {
    let mut survivor = db.user(new_admin("admin0@example.com")).await.id;
    for round in 1..=6 {
        let other = db.user(new_admin(&format!("admin{round}@example.com"))).await.id;
        let (s1, s2) = (db.store.clone(), db.store.clone());
        let first = survivor;
        let outcomes = at_once([
            boxed(async move {
                s1.change_user(other, &demote(), &event(AuditAction::AdminUserUpdate, Some(other))).await.unwrap()
            }),
            boxed(async move {
                if round % 2 == 0 {
                    s2.soft_delete_user(first, &event(AuditAction::AdminUserDelete, Some(first))).await.unwrap()
                } else {
                    s2.change_user(first, &demote(), &event(AuditAction::AdminUserUpdate, Some(first))).await.unwrap()
                }
            }),
        ])
        .await;
        let done = outcomes.iter().filter(|o| matches!(o, AdminWrite::Done(_))).count();
        let refused = outcomes.iter().filter(|o| matches!(o, AdminWrite::LastAdmin)).count();
        assert_eq!((done, refused), (1, 1), "round {round}: {outcomes:?}");
        let admins =
            users(db, UserFilter { role: Some(Role::Admin), is_active: Some(true), ..UserFilter::default() }).await;
        assert_eq!(admins.len(), 1, "round {round}");
        survivor = admins[0];
    }
}
on_each_backend!(admins_demoting_each_other_at_once_leave_one);

/// A soft-deleted user keeps its row, loses its sessions and its
/// login; its email can be taken again, and then it cannot be restored
/// until the email is free.
async fn soft_delete_and_restore_with_a_taken_email(db: &Db) {
    let old = db.user(new_user("zoe@example.com")).await;
    let session = db.sign_in(old.id, &client("203.0.113.9", "phone/1")).await;
    let AdminWrite::Done(deleted) =
        db.store.soft_delete_user(old.id, &event(AuditAction::AdminUserDelete, Some(old.id))).await.unwrap()
    else {
        panic!("deleted")
    };
    assert!(deleted.deleted_at.is_some());
    assert!(db.reload(old.id).await.deleted_at.is_some());
    assert!(db.store.find_session_user(old.id, session.id).await.unwrap().is_none());
    let email = crate::domain::Email::parse("zoe@example.com").unwrap();
    assert!(db.store.find_user_by_login(&crate::domain::LoginId::Email(email.clone())).await.unwrap().is_none());
    assert_eq!(db.store.user_taken(Some(&email), None).await.unwrap(), UserTaken::default());
    assert!(matches!(
        db.store.soft_delete_user(old.id, &event(AuditAction::AdminUserDelete, Some(old.id))).await.unwrap(),
        AdminWrite::NotFound
    ));
    let new = db.user(new_user("ZOE@example.com")).await;
    let restore = |id: UserId| {
        let store = db.store.clone();
        async move { store.restore_user(id, &event(AuditAction::AdminUserRestore, Some(id))).await.unwrap() }
    };
    let taken = restore(old.id).await;
    assert!(matches!(taken, AdminWrite::Taken(UserTaken { email: true, phone: false })), "{taken:?}");
    assert!(db.reload(old.id).await.deleted_at.is_some(), "still deleted");
    assert!(db.audit("admin_user_restore").await.is_empty());
    assert!(matches!(restore(new.id).await, AdminWrite::NotDeleted));
    assert!(matches!(restore(UserId::new()).await, AdminWrite::NotFound));
    db.store.soft_delete_user(new.id, &event(AuditAction::AdminUserDelete, Some(new.id))).await.unwrap();
    let AdminWrite::Done(back) = restore(old.id).await else { panic!("restored") };
    assert!(back.deleted_at.is_none());
    let found = db.store.find_user_by_login(&crate::domain::LoginId::Email(email)).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(old.id));
    assert!(db.store.list_sessions(old.id).await.unwrap().is_empty(), "restoring brings no session back");
    assert_eq!(db.audit("admin_user_restore").await.len(), 1);
}
on_each_backend!(soft_delete_and_restore_with_a_taken_email);

/// Of concurrent restores of one user, one wins.
async fn concurrent_restores_one_wins(db: &Db) {
    let user = db.user(new_user("amy@example.com")).await.id;
    db.store.soft_delete_user(user, &event(AuditAction::AdminUserDelete, Some(user))).await.unwrap();
    let outcomes = at_once((0..4).map(|_| {
        let store = db.store.clone();
        async move { store.restore_user(user, &event(AuditAction::AdminUserRestore, Some(user))).await.unwrap() }
    }))
    .await;
    assert_eq!(outcomes.iter().filter(|o| matches!(o, AdminWrite::Done(_))).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, AdminWrite::Done(_) | AdminWrite::NotDeleted)), "{outcomes:?}");
    assert_eq!(db.audit("admin_user_restore").await.len(), 1);
}
on_each_backend!(concurrent_restores_one_wins);
