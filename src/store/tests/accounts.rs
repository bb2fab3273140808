//! Accounts: creation and its uniqueness, look-ups, names and passwords.

use super::harness::{Db, at_once, boxed, client, event, new_session, new_user, phone_user, plus};
use crate::domain::AuditAction;
use crate::domain::recovery::{Attempt, NewCode, OtpCheck, OtpPurpose, Spent};
use crate::domain::{AuthProvider, Email, LoginId, Phone, Role};
use crate::store::{PasswordChange, UserFilter, UserTaken};

const EMAIL_TAKEN: UserTaken = UserTaken { email: true, phone: false };
const PHONE_TAKEN: UserTaken = UserTaken { email: false, phone: true };

/// Of twins signing up at once with one email, exactly one is created;
/// the others get `UserTaken` and leave no row and no event.
async fn create_user_twins_on_one_email_one_wins(db: &Db) {
    let twins: Vec<_> = (0..4).map(|_| new_user("twin@example.com")).collect();
    let outcomes = at_once(twins.iter().cloned().map(|new| {
        let store = db.store.clone();
        async move { store.create_user(&new, None, &event(AuditAction::Register, Some(new.id))).await }
    }))
    .await;
    let outcomes: Vec<_> = outcomes.into_iter().map(|o| o.expect("no store error")).collect();
    let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for lost in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(*lost, EMAIL_TAKEN);
    }
    let winner = winners[0].id;
    let login = LoginId::Email(Email::parse("twin@example.com").unwrap());
    assert_eq!(db.store.find_user_by_login(&login).await.unwrap().map(|u| u.id), Some(winner));
    for loser in twins.iter().filter(|t| t.id != winner) {
        assert!(db.store.find_user(loser.id).await.unwrap().is_none(), "a losing twin's row");
    }
    let events = db.audit("register").await;
    assert_eq!(events.len(), 1, "only the winner's event");
    assert_eq!(events[0].user_id, Some(winner.to_string()));
    assert_eq!(events[0].outcome, "success");
}
on_each_backend!(create_user_twins_on_one_email_one_wins);

/// The same race on a phone number.
async fn create_user_twins_on_one_phone_one_wins(db: &Db) {
    let outcomes = at_once((0..3).map(|_| {
        let (store, new) = (db.store.clone(), phone_user("+14155552671"));
        async move { store.create_user(&new, None, &event(AuditAction::Register, Some(new.id))).await.unwrap() }
    }))
    .await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().filter_map(|o| o.as_ref().err()).all(|t| *t == PHONE_TAKEN), "{outcomes:?}");
    assert_eq!(db.audit("register").await.len(), 1);
}
on_each_backend!(create_user_twins_on_one_phone_one_wins);

/// An email is taken whatever the case it is typed in, by a live
/// account only.
async fn an_email_is_taken_whatever_its_case(db: &Db) {
    let ana = db.user(new_user("Ana@Example.com")).await;
    let upper = Email::parse("ANA@example.COM").unwrap();
    assert_eq!(db.store.user_taken(Some(&upper), None).await.unwrap(), EMAIL_TAKEN);
    let again = db.store.create_user(&new_user("ANA@example.COM"), None, &event(AuditAction::Register, None)).await;
    assert_eq!(again.unwrap().unwrap_err(), EMAIL_TAKEN);
    let found = db.store.find_user_by_login(&LoginId::Email(upper)).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(ana.id));
    let other = Email::parse("bo@example.com").unwrap();
    let phone = Phone::parse("+14155552671").unwrap();
    assert_eq!(db.store.user_taken(Some(&other), Some(&phone)).await.unwrap(), UserTaken::default());
    assert_eq!(db.audit("register").await.len(), 1, "the refused sign-up wrote no event");
}
on_each_backend!(an_email_is_taken_whatever_its_case);

/// What create_user is given is what the store gives back.
async fn create_user_stores_what_it_was_given(db: &Db) {
    let mut new = new_user("Cleo@Example.com");
    new.phone = Some(Phone::parse("+442079460958").unwrap());
    new.first_name = "Cléo".into();
    new.last_name = "Durand".into();
    new.role = Role::Vendor;
    new.is_verified = true;
    let created = db.user(new.clone()).await;
    for user in [created.clone(), db.reload(new.id).await] {
        assert_eq!(user.id, new.id);
        assert_eq!(user.email.as_ref().map(Email::as_str), Some("Cleo@example.com"));
        assert_eq!(user.phone.as_ref().map(Phone::as_str), Some("+442079460958"));
        assert_eq!(user.password_hash, new.password_hash);
        assert_eq!((user.first_name.as_str(), user.last_name.as_str()), ("Cléo", "Durand"));
        assert_eq!(user.role, Role::Vendor);
        assert_eq!(user.auth_provider, AuthProvider::Email);
        assert!(user.is_active && user.is_verified);
        assert!(user.last_login.is_none() && user.deleted_at.is_none());
    }
    let by_phone = LoginId::Phone(Phone::parse("+44 20 7946 0958").unwrap());
    assert_eq!(db.store.find_user_by_login(&by_phone).await.unwrap().map(|u| u.id), Some(new.id));
    let phone_only = db.user(phone_user("+14155552671")).await;
    assert_eq!(phone_only.auth_provider, AuthProvider::Phone);
    assert!(phone_only.email.is_none() && !phone_only.is_verified);
}
on_each_backend!(create_user_stores_what_it_was_given);

/// A first verification code goes in with the user and counts as a
/// code sent from its network.
async fn create_user_stores_and_counts_the_first_code(db: &Db) {
    let now = db.clock.now();
    let net = "203.0.113.0/24";
    let code =
        NewCode { purpose: OtpPurpose::Verify, network: net, code_hash: "first", expires_at: plus(now, 600), now };
    let new = new_user("dee@example.com");
    let user =
        db.store.create_user(&new, Some(&code), &event(AuditAction::Register, Some(new.id))).await.unwrap().unwrap();
    let attempt = db.store.take_otp_attempt(user.id, OtpPurpose::Verify, net, now).await.unwrap();
    assert_eq!(attempt, Attempt::Judge(vec![OtpCheck { code_hash: "first".into() }]));
    for hash in ["second", "third"] {
        let code = NewCode { code_hash: hash, ..code };
        db.store.replace_otp(user.id, &code, &event(AuditAction::OtpResend, Some(user.id))).await.unwrap().unwrap();
    }
    let fourth = NewCode { code_hash: "fourth", ..code };
    let refused = db.store.replace_otp(user.id, &fourth, &event(AuditAction::OtpResend, Some(user.id))).await.unwrap();
    assert_eq!(refused, Err(Spent::Network), "the first code was the network's first of three");
}
on_each_backend!(create_user_stores_and_counts_the_first_code);

/// Renaming stores both names, with the event, and the admin search
/// finds the new name.
async fn update_user_names_renames_with_its_event(db: &Db) {
    let user = db.user(new_user("eve@example.com")).await;
    db.store
        .update_user_names(user.id, "Ève", "Lambert", &event(AuditAction::ProfileUpdate, Some(user.id)))
        .await
        .unwrap();
    let stored = db.reload(user.id).await;
    assert_eq!((stored.first_name.as_str(), stored.last_name.as_str()), ("Ève", "Lambert"));
    assert!(stored.updated_at >= user.updated_at);
    assert_eq!(db.audit("profile_update").await.len(), 1);
    let search = UserFilter { q: Some("ève lam".into()), limit: 10, ..UserFilter::default() };
    let found = db.store.list_users(&search).await.unwrap();
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), [user.id]);
}
on_each_backend!(update_user_names_renames_with_its_event);

/// A re-hash replaces the hash it was computed from, and nothing else.
async fn upgrade_password_hash_is_a_compare_and_swap(db: &Db) {
    let user = db.user(new_user("fay@example.com")).await;
    let first = user.password_hash.clone();
    assert!(!db.store.upgrade_password_hash(user.id, "not-the-hash", "stronger").await.unwrap());
    assert_eq!(db.reload(user.id).await.password_hash, first);
    assert!(db.store.upgrade_password_hash(user.id, &first, "stronger").await.unwrap());
    assert_eq!(db.reload(user.id).await.password_hash, "stronger");
    assert!(!db.store.upgrade_password_hash(user.id, &first, "stale").await.unwrap(), "the old hash is gone");
    assert_eq!(db.reload(user.id).await.password_hash, "stronger");
}
on_each_backend!(upgrade_password_hash_is_a_compare_and_swap);

/// A re-hash racing a password change never brings the old password
/// back: whichever runs first, the new password is what stays.
async fn upgrade_password_hash_loses_to_a_concurrent_replace(db: &Db) {
    for round in 0..8 {
        let user = db.user(new_user(&format!("race{round}@example.com"))).await;
        let old = user.password_hash.clone();
        let (store, replacing) = (db.store.clone(), db.store.clone());
        let id = user.id;
        let upgrade =
            boxed(async move { ("upgrade", store.upgrade_password_hash(id, &old, "rehash-of-old").await.unwrap()) });
        let replace = boxed(async move {
            let change = PasswordChange {
                user_id: id,
                old_hash: None,
                new_hash: "new-password",
                reason: "password_reset",
                reset_code: None,
                new_session: None,
            };
            (
                "replace",
                replacing.replace_password(&change, &event(AuditAction::PasswordReset, Some(id))).await.unwrap(),
            )
        });
        let calls = if round % 2 == 0 { [upgrade, replace] } else { [replace, upgrade] };
        let outcomes = at_once(calls).await;
        assert!(outcomes.contains(&("replace", true)), "the replace went through: {outcomes:?}");
        assert_eq!(db.reload(id).await.password_hash, "new-password", "round {round}: {outcomes:?}");
    }
    // In order: the replace first, then the re-hash of the old hash.
    let user = db.user(new_user("late@example.com")).await;
    let change = PasswordChange {
        user_id: user.id,
        old_hash: Some(&user.password_hash),
        new_hash: "changed",
        reason: "password_change",
        reset_code: None,
        new_session: None,
    };
    assert!(db.store.replace_password(&change, &event(AuditAction::PasswordChange, Some(user.id))).await.unwrap());
    assert!(!db.store.upgrade_password_hash(user.id, &user.password_hash, "rehash").await.unwrap());
    assert_eq!(db.reload(user.id).await.password_hash, "changed");
}
on_each_backend!(upgrade_password_hash_loses_to_a_concurrent_replace);

/// Stores a reset code from `network` for the user.
async fn reset_code(db: &Db, user: crate::domain::UserId, network: &str, hash: &str) {
    let now = db.clock.now();
    let code = NewCode { purpose: OtpPurpose::Reset, network, code_hash: hash, expires_at: plus(now, 600), now };
    db.store
        .replace_otp(user, &code, &event(AuditAction::OtpResend, Some(user)))
        .await
        .unwrap()
        .expect("within the quota");
}

/// A password replaced with a reset code consumes the code, revokes
/// every session and opens the caller's new one, with the event.
async fn replace_password_revokes_sessions_consumes_the_code_and_opens_the_new_session(db: &Db) {
    let user = db.user(new_user("gus@example.com")).await;
    let phone = client("203.0.113.9", "phone/1");
    let (s1, s2) = (db.sign_in(user.id, &phone).await, db.sign_in(user.id, &client("198.51.100.7", "laptop/2")).await);
    let net = "203.0.113.0/24";
    reset_code(db, user.id, net, "reset-code").await;
    let fresh = new_session(&user, &phone, db.clock.now());
    let change = PasswordChange {
        user_id: user.id,
        old_hash: None,
        new_hash: "reset-password",
        reason: "password_reset",
        reset_code: Some("reset-code"),
        new_session: Some(&fresh),
    };
    assert!(db.store.replace_password(&change, &event(AuditAction::PasswordReset, Some(user.id))).await.unwrap());
    assert_eq!(db.reload(user.id).await.password_hash, "reset-password");
    let live: Vec<_> = db.store.list_sessions(user.id).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(live, [fresh.id]);
    for old in [s1.id, s2.id] {
        assert!(db.store.find_session_user(user.id, old).await.unwrap().is_none(), "a revoked session");
    }
    assert!(db.store.find_session_user(user.id, fresh.id).await.unwrap().is_some());
    let attempt = db.store.take_otp_attempt(user.id, OtpPurpose::Reset, net, db.clock.now()).await.unwrap();
    assert_eq!(attempt, Attempt::Judge(Vec::new()), "the code is consumed");
    let again = PasswordChange { new_hash: "replayed", new_session: None, ..change };
    assert!(!db.store.replace_password(&again, &event(AuditAction::PasswordReset, Some(user.id))).await.unwrap());
    assert_eq!(db.reload(user.id).await.password_hash, "reset-password");
    assert_eq!(db.audit("password_reset").await.len(), 1, "the refused replay wrote no event");
}
on_each_backend!(replace_password_revokes_sessions_consumes_the_code_and_opens_the_new_session);

/// A replacement decided on a hash or a code that changed meanwhile
/// changes nothing: the password, the sessions and the code stay.
async fn replace_password_changes_nothing_when_the_hash_or_code_changed(db: &Db) {
    let user = db.user(new_user("hal@example.com")).await;
    let session = db.sign_in(user.id, &client("203.0.113.9", "app/1")).await;
    reset_code(db, user.id, "203.0.113.0/24", "the-code").await;
    let stale_hash = PasswordChange {
        user_id: user.id,
        old_hash: Some("a-hash-since-replaced"),
        new_hash: "nope",
        reason: "password_change",
        reset_code: None,
        new_session: None,
    };
    let wrong_code = PasswordChange { old_hash: None, reset_code: Some("another-code"), ..stale_hash };
    let stale_with_code =
        PasswordChange { old_hash: Some("a-hash-since-replaced"), reset_code: Some("the-code"), ..stale_hash };
    for change in [&stale_hash, &wrong_code, &stale_with_code] {
        assert!(!db.store.replace_password(change, &event(AuditAction::PasswordChange, Some(user.id))).await.unwrap());
        assert_eq!(db.reload(user.id).await.password_hash, user.password_hash);
        let live = db.store.list_sessions(user.id).await.unwrap();
        assert_eq!(live.iter().map(|s| s.id).collect::<Vec<_>>(), [session.id]);
    }
    assert!(db.audit("password_change").await.is_empty());
    let right = PasswordChange { old_hash: Some(&user.password_hash), reset_code: Some("the-code"), ..stale_hash };
    assert!(
        db.store.replace_password(&right, &event(AuditAction::PasswordChange, Some(user.id))).await.unwrap(),
        "the code outlived the refusals"
    );
    assert!(db.store.list_sessions(user.id).await.unwrap().is_empty());
    assert_eq!(db.audit("password_change").await.len(), 1);
}
on_each_backend!(replace_password_changes_nothing_when_the_hash_or_code_changed);

/// A sign-in decided on the user as read before a password reset opens
/// nothing once the reset has committed (its session would outlive the
/// reset's revocation of every session); read again, it opens.
async fn open_session_refuses_a_sign_in_decided_before_a_password_change(db: &Db) {
    let user = db.user(new_user("hal@example.com")).await;
    let phone = client("203.0.113.9", "phone/1");
    let decided = new_session(&user, &phone, db.clock.now());
    db.clock.advance(std::time::Duration::from_secs(1));
    let change = PasswordChange {
        user_id: user.id,
        old_hash: None,
        new_hash: "reset-password",
        reason: "password_reset",
        reset_code: None,
        new_session: None,
    };
    assert!(db.store.replace_password(&change, &event(AuditAction::PasswordReset, Some(user.id))).await.unwrap());

    let opened = db.store.open_session(&decided, &event(AuditAction::Login, Some(user.id))).await.unwrap();

    assert_eq!(opened, None, "the user changed since the sign-in read it");
    assert!(db.store.list_sessions(user.id).await.unwrap().is_empty());
    assert!(db.audit("login").await.is_empty(), "no event for a session not opened");
    let again = new_session(&db.reload(user.id).await, &phone, db.clock.now());
    assert!(db.store.open_session(&again, &event(AuditAction::Login, Some(user.id))).await.unwrap().is_some());
}
on_each_backend!(open_session_refuses_a_sign_in_decided_before_a_password_change);
