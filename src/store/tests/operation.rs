//! Operation: settings, migrations, and the store's life.

use super::harness::{Db, at_once, new_user};
use crate::store::Backend;

/// The first value stored for a key stays.
async fn setting_or_insert_keeps_the_first_value(db: &Db) {
    assert_eq!(db.store.setting_or_insert("secret_key", "first").await.unwrap(), "first");
    assert_eq!(db.store.setting_or_insert("secret_key", "second").await.unwrap(), "first");
    assert_eq!(db.store.setting_or_insert("other_key", "second").await.unwrap(), "second");
}
on_each_backend!(setting_or_insert_keeps_the_first_value);

/// Instances starting together, each with a secret of its own, agree
/// on one of them.
async fn setting_or_insert_concurrent_first_starts_agree(db: &Db) {
    let mut stores = vec![db.store.clone()];
    for _ in 0..3 {
        stores.push(db.instance().await);
    }
    for round in 0..3 {
        let key = format!("secret_{round}");
        let offered: Vec<String> = (0..8).map(|i| format!("secret-of-start-{i}")).collect();
        let stored = at_once(offered.iter().enumerate().map(|(i, value)| {
            let (store, key, value) = (stores[i % stores.len()].clone(), key.clone(), value.clone());
            async move { store.setting_or_insert(&key, &value).await.unwrap() }
        }))
        .await;
        assert!(offered.contains(&stored[0]), "{stored:?}");
        assert!(stored.iter().all(|s| *s == stored[0]), "round {round}: {stored:?}");
    }
    for store in &stores[1..] {
        store.close().await;
    }
}
on_each_backend!(setting_or_insert_concurrent_first_starts_agree);

/// Migrating a migrated database changes nothing, from this store or
/// another instance's.
async fn migrate_twice_is_a_no_op(db: &Db) {
    let user = db.user(new_user("kept@example.com")).await;
    db.store.setting_or_insert("secret_key", "kept").await.unwrap();
    db.store.migrate().await.expect("a second migration");
    let other = db.instance().await;
    other.migrate().await.expect("another instance's migration");
    other.close().await;
    assert_eq!(db.reload(user.id).await.id, user.id);
    assert_eq!(db.store.setting_or_insert("secret_key", "new").await.unwrap(), "kept");
}
on_each_backend!(migrate_twice_is_a_no_op);

async fn instances_migrating_together(backend: Backend) {
    let db = Db::unmigrated(backend).await;
    let mut stores = vec![db.store.clone()];
    for _ in 0..3 {
        stores.push(db.instance().await);
    }
    let migrated = at_once(stores.iter().cloned().map(|store| async move { store.migrate().await })).await;
    for outcome in &migrated {
        assert!(outcome.is_ok(), "{migrated:?}");
    }
    let user = db.user(new_user("after@example.com")).await;
    for store in &stores[1..] {
        assert_eq!(store.find_user(user.id).await.unwrap().map(|u| u.id), Some(user.id));
        store.close().await;
    }
    db.finish().await;
}

/// Instances starting together on an empty database all migrate it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_migrating_together_on_sqlite() {
    instances_migrating_together(Backend::Sqlite).await;
}

#[cfg(authgate_pg_tests)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_migrating_together_on_postgres() {
    instances_migrating_together(Backend::Postgres).await;
}

/// A store answers a ping until it is closed.
async fn ping_until_closed(db: &Db) {
    assert!(db.store.ping().await);
    let other = db.instance().await;
    assert!(other.ping().await);
    other.close().await;
    assert!(!other.ping().await, "a closed store does not answer");
    assert!(db.store.ping().await, "closing one store leaves the others");
}
on_each_backend!(ping_until_closed);
