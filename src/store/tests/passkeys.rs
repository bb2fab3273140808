//! Passkeys and WebAuthn ceremonies (§15.3): a ceremony is taken once, by
//! one of concurrent answers; a signature counter only grows; passkeys are
//! their owner's.

use super::harness::{Db, at_once, event, new_user};
use crate::domain::passkey::{Ceremony, CeremonyKind, StoredPasskey};
use crate::domain::{AuditAction, PasskeyId, UserId};

fn passkey(user: UserId, credential_id: &str) -> StoredPasskey {
    StoredPasskey {
        id: PasskeyId::new(),
        user_id: user,
        credential_id: credential_id.into(),
        name: "Laptop".into(),
        credential: "{}".into(),
        created_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        last_used_at: None,
    }
}

/// Of concurrent answers to one ceremony exactly one takes it; an expired
/// one is taken by none; a new one of the same key replaces the old.
async fn a_ceremony_is_taken_once_and_not_after_it_expires(db: &Db) {
    let user = db.user(new_user("ada@example.com")).await.id;
    let open = |state: &str, expires_at| Ceremony {
        kind: CeremonyKind::Login,
        key: "c1".into(),
        user: Some(user),
        state: state.into(),
        expires_at,
    };
    db.store.open_ceremony(&open("old", 1000)).await.unwrap();
    db.store.open_ceremony(&open("new", 1000)).await.unwrap();
    let store = db.store.clone();
    let taken = at_once((0..8).map(|_| {
        let store = store.clone();
        async move { store.take_ceremony(CeremonyKind::Login, "c1", 999).await.unwrap() }
    }))
    .await;
    let taken: Vec<Ceremony> = taken.into_iter().flatten().collect();
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].state.as_str(), taken[0].user), ("new", Some(user)));
    assert!(db.store.take_ceremony(CeremonyKind::SecondFactor, "c1", 999).await.unwrap().is_none(), "another kind");

    db.store.open_ceremony(&open("late", 1000)).await.unwrap();
    assert!(db.store.take_ceremony(CeremonyKind::Login, "c1", 1000).await.unwrap().is_none(), "expired");
}
on_each_backend!(a_ceremony_is_taken_once_and_not_after_it_expires);

/// A credential id is registered once; a use must raise a non-zero
/// counter; rename and delete reach only the owner's passkeys.
async fn passkeys_belong_to_their_owner_and_their_counter_grows(db: &Db) {
    let ada = db.user(new_user("ada@example.com")).await.id;
    let bob = db.user(new_user("bob@example.com")).await.id;
    let added = event(AuditAction::PasskeyAdded, Some(ada));
    let key = passkey(ada, "cred-1");
    assert!(db.store.add_passkey(&key, &added).await.unwrap());
    assert!(!db.store.add_passkey(&passkey(bob, "cred-1"), &added).await.unwrap(), "one owner per credential");
    assert_eq!(db.store.mfa_status(ada).await.unwrap().passkeys, 1);

    assert!(db.store.use_passkey(key.id, "{\"n\":5}", 5).await.unwrap());
    assert!(!db.store.use_passkey(key.id, "{\"n\":5}", 5).await.unwrap(), "the same counter again");
    assert!(!db.store.use_passkey(key.id, "{\"n\":4}", 4).await.unwrap(), "a counter that went back");
    let found = db.store.find_passkey("cred-1").await.unwrap().expect("found");
    assert_eq!((found.credential.as_str(), found.user_id), ("{\"n\":5}", ada));
    assert!(found.last_used_at.is_some());

    assert!(db.store.rename_passkey(bob, key.id, "Mine").await.unwrap().is_none());
    assert_eq!(db.store.rename_passkey(ada, key.id, "Work").await.unwrap().expect("renamed").name, "Work");
    let removed = event(AuditAction::PasskeyRemoved, Some(ada));
    assert!(!db.store.delete_passkey(bob, key.id, &removed).await.unwrap());
    assert!(db.store.delete_passkey(ada, key.id, &removed).await.unwrap());
    assert!(db.store.list_passkeys(ada).await.unwrap().is_empty());
    assert_eq!(db.audit("passkey_added").await.len(), 1);
    assert_eq!(db.audit("passkey_removed").await.len(), 1);
}
on_each_backend!(passkeys_belong_to_their_owner_and_their_counter_grows);
