//! Second factors (§15): a TOTP enrolment's life, recovery codes and the
//! challenges of a two-step sign-in, including their races.

use super::harness::{Db, at_once, client, event, new_user};
use crate::domain::AuditAction;
use crate::domain::mfa::{MFA_MAX_FAILURES, MfaStatus, MfaSummary, Totp};

fn codes(prefix: &str) -> Vec<String> {
    (0..10).map(|i| format!("{prefix}-{i}")).collect()
}

/// Pending, then confirmed with its step; a second setup cannot replace
/// an active one; a step is accepted once and never an earlier one.
async fn a_totp_enrolment_from_setup_to_replay(db: &Db) {
    let user = db.user(new_user("ada@example.com")).await.id;
    assert_eq!(db.store.mfa_status(user).await.unwrap(), MfaStatus::default());
    assert!(db.store.begin_totp(user, "FIRST").await.unwrap());
    assert!(db.store.begin_totp(user, "SECOND").await.unwrap(), "a pending one is replaced");
    let enabled = event(AuditAction::MfaEnabled, Some(user));
    assert!(!db.store.confirm_totp(user, "FIRST", 100, &codes("a"), &enabled).await.unwrap(), "replaced");
    assert!(db.store.confirm_totp(user, "SECOND", 100, &codes("a"), &enabled).await.unwrap());
    let status = db.store.mfa_status(user).await.unwrap();
    let totp = Totp { secret: "SECOND".into(), confirmed: true, last_step: 100 };
    assert_eq!(status, MfaStatus { totp: Some(totp), recovery_codes_left: 10, passkeys: 0 });
    assert!(!db.store.begin_totp(user, "THIRD").await.unwrap(), "active: no new setup");
    assert!(!db.store.accept_totp_step(user, 100).await.unwrap(), "the confirming step is spent");
    assert!(db.store.accept_totp_step(user, 101).await.unwrap());
    assert!(!db.store.accept_totp_step(user, 100).await.unwrap(), "an earlier step");
    assert_eq!(db.audit("mfa_enabled").await.len(), 1);
}
on_each_backend!(a_totp_enrolment_from_setup_to_replay);

/// Of concurrent answers with one step's code exactly one is accepted.
async fn concurrent_answers_with_one_code_accept_one(db: &Db) {
    let user = db.user(new_user("ada@example.com")).await.id;
    db.store.begin_totp(user, "S").await.unwrap();
    db.store.confirm_totp(user, "S", 1, &codes("a"), &event(AuditAction::MfaEnabled, Some(user))).await.unwrap();
    let store = db.store.clone();
    let accepted = at_once((0..8).map(|_| {
        let store = store.clone();
        async move { store.accept_totp_step(user, 2).await.unwrap() }
    }))
    .await;
    assert_eq!(accepted.iter().filter(|a| **a).count(), 1, "{accepted:?}");
}
on_each_backend!(concurrent_answers_with_one_code_accept_one);

/// A recovery code works once, also when used twice at once; new codes
/// replace the old; disabling takes them all; without TOTP none are made.
async fn recovery_codes_work_once_and_die_with_totp(db: &Db) {
    let user = db.user(new_user("ada@example.com")).await.id;
    let regenerated = event(AuditAction::RecoveryCodesRegenerated, Some(user));
    assert!(!db.store.replace_recovery_codes(user, &codes("x"), &regenerated).await.unwrap(), "no second factor");
    db.store.begin_totp(user, "S").await.unwrap();
    db.store.confirm_totp(user, "S", 1, &codes("a"), &event(AuditAction::MfaEnabled, Some(user))).await.unwrap();
    let store = db.store.clone();
    let used =
        at_once((0..4).map(|_| {
            let store = store.clone();
            async move {
                store.use_recovery_code(user, "a-3", &event(AuditAction::RecoveryCodeUsed, Some(user))).await.unwrap()
            }
        }))
        .await;
    assert_eq!(used.iter().filter(|u| **u).count(), 1);
    assert_eq!(db.audit("recovery_code_used").await.len(), 1, "one event for the one use");
    assert_eq!(db.store.mfa_status(user).await.unwrap().recovery_codes_left, 9);
    assert!(db.store.replace_recovery_codes(user, &codes("b"), &regenerated).await.unwrap());
    let used = event(AuditAction::RecoveryCodeUsed, Some(user));
    assert!(!db.store.use_recovery_code(user, "a-4", &used).await.unwrap(), "the old ones died");
    assert!(db.store.use_recovery_code(user, "b-4", &used).await.unwrap());
    assert!(db.store.disable_totp(user, &event(AuditAction::MfaDisabled, Some(user))).await.unwrap());
    assert_eq!(db.store.mfa_status(user).await.unwrap(), MfaStatus::default());
    assert!(!db.store.disable_totp(user, &event(AuditAction::MfaDisabled, Some(user))).await.unwrap());
}
on_each_backend!(recovery_codes_work_once_and_die_with_totp);

/// A challenge dies at its fifth wrong answer, at its expiry, or at its
/// one success; of concurrent successes one wins.
async fn a_challenge_lives_until_spent_killed_or_expired(db: &Db) {
    let user = db.user(new_user("ada@example.com")).await.id;
    let now = db.clock.unix();
    db.store.open_mfa_challenge("killed", user, now + 300).await.unwrap();
    let failed = event(AuditAction::MfaVerify, Some(user));
    for _ in 0..MFA_MAX_FAILURES {
        assert!(db.store.mfa_challenge_live("killed", now).await.unwrap());
        db.store.fail_mfa_challenge("killed", &failed).await.unwrap();
    }
    assert!(!db.store.mfa_challenge_live("killed", now).await.unwrap());
    assert!(!db.store.spend_mfa_challenge("killed", now).await.unwrap());

    db.store.open_mfa_challenge("expires", user, now + 300).await.unwrap();
    assert!(!db.store.mfa_challenge_live("expires", now + 300).await.unwrap());
    assert!(!db.store.spend_mfa_challenge("expires", now + 300).await.unwrap());

    db.store.open_mfa_challenge("spent", user, now + 300).await.unwrap();
    let store = db.store.clone();
    let spent = at_once((0..6).map(|_| {
        let store = store.clone();
        async move { store.spend_mfa_challenge("spent", now).await.unwrap() }
    }))
    .await;
    assert_eq!(spent.iter().filter(|s| **s).count(), 1);
    assert!(!db.store.mfa_challenge_live("spent", now).await.unwrap());
    assert!(!db.store.mfa_challenge_live("unknown", now).await.unwrap());
}
on_each_backend!(a_challenge_lives_until_spent_killed_or_expired);

/// An admin's reset removes every factor and challenge and revokes every
/// session, with its event; the summaries say who has TOTP.
async fn a_reset_removes_factors_and_sessions(db: &Db) {
    let ada = db.user(new_user("ada@example.com")).await.id;
    let bob = db.user(new_user("bob@example.com")).await.id;
    db.store.begin_totp(ada, "S").await.unwrap();
    db.store.confirm_totp(ada, "S", 1, &codes("a"), &event(AuditAction::MfaEnabled, Some(ada))).await.unwrap();
    db.sign_in(ada, &client("203.0.113.7", "phone")).await;
    db.sign_in(ada, &client("203.0.113.8", "laptop")).await;
    let summaries = db.store.mfa_summaries(&[ada, bob]).await.unwrap();
    assert_eq!(summaries, [(ada, MfaSummary { totp: true, passkeys: 0 }), (bob, MfaSummary::default())]);
    assert_eq!(db.store.reset_mfa(ada, &event(AuditAction::MfaReset, Some(ada))).await.unwrap(), 2);
    assert_eq!(db.store.mfa_status(ada).await.unwrap(), MfaStatus::default());
    assert!(db.store.list_sessions(ada).await.unwrap().is_empty());
    assert_eq!(db.audit("mfa_reset").await.len(), 1);
    assert!(db.store.mfa_summaries(&[]).await.unwrap().is_empty());
}
on_each_backend!(a_reset_removes_factors_and_sessions);
