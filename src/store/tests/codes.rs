//! Six-digit codes and the quotas of account recovery
//! (`domain::recovery`): codes sent, guesses judged, reset emails.

use chrono::{DateTime, Utc};

use super::harness::{Db, at_once, event, new_user, plus};
use crate::domain::AuditAction;
use crate::domain::UserId;
use crate::domain::recovery::{Attempt, CODES, GUESSES, NewCode, OtpCheck, OtpPurpose, Quota, RESET_EMAILS, Spent};

const HOME: &str = "203.0.113.0/24";
const AWAY: &str = "198.51.100.0/24";

/// A verification code from `network`, made at `now`, live for ten minutes.
fn code<'a>(network: &'a str, hash: &'a str, now: DateTime<Utc>) -> NewCode<'a> {
    NewCode { purpose: OtpPurpose::Verify, network, code_hash: hash, expires_at: plus(now, 600), now }
}

async fn send(db: &Db, user: UserId, code: &NewCode<'_>) -> Result<(), Spent> {
    db.store.replace_otp(user, code, &event(AuditAction::OtpResend, Some(user))).await.expect("no store error")
}

async fn guess(db: &Db, user: UserId, network: &str, now: DateTime<Utc>) -> Attempt {
    db.store.take_otp_attempt(user, OtpPurpose::Verify, network, now).await.expect("no store error")
}

/// Just past `quota`'s window from `t`.
fn after(t: DateTime<Utc>, quota: Quota) -> DateTime<Utc> {
    plus(t, i64::try_from(quota.window.as_secs()).unwrap() + 1)
}

fn judge(hashes: &[&str]) -> Attempt {
    Attempt::Judge(hashes.iter().map(|h| OtpCheck { code_hash: (*h).into() }).collect())
}

/// Three codes a day from one network, ten in all; a refused code
/// changes nothing and writes no event; the window slides.
async fn replace_otp_quotas_per_network_and_per_account(db: &Db) {
    let user = db.user(new_user("ada@example.com")).await.id;
    let t0 = db.clock.now();
    for i in 0..CODES.per_network {
        send(db, user, &code(HOME, &format!("home-{i}"), plus(t0, i))).await.expect("within the quota");
    }
    assert_eq!(send(db, user, &code(HOME, "home-late", plus(t0, 10))).await, Err(Spent::Network));
    assert_eq!(guess(db, user, HOME, plus(t0, 11)).await, judge(&["home-2"]), "the refused code was not stored");
    // The rest of the account's codes, one from each other network.
    for n in CODES.per_network..CODES.per_account {
        let network = format!("192.0.{n}.0/24");
        send(db, user, &code(&network, "elsewhere", plus(t0, 20 + n))).await.expect("within the quota");
    }
    assert_eq!(send(db, user, &code("2001:db8::/64", "one-more", plus(t0, 100))).await, Err(Spent::Account));
    assert_eq!(
        db.audit("otp_resend").await.len(),
        usize::try_from(CODES.per_account).unwrap(),
        "no event for a refusal"
    );
    let next_day = plus(after(t0, CODES), 101);
    send(db, user, &code(HOME, "tomorrow", next_day)).await.expect("the window has slid");
}
on_each_backend!(replace_otp_quotas_per_network_and_per_account);

/// A new code replaces only its own network's; a guess is judged
/// against its network's code and the newest.
async fn replace_otp_replaces_only_its_networks_code(db: &Db) {
    let user = db.user(new_user("bea@example.com")).await.id;
    let t0 = db.clock.now();
    send(db, user, &code(HOME, "home-1", t0)).await.unwrap();
    send(db, user, &code(AWAY, "away-1", plus(t0, 1))).await.unwrap();
    assert_eq!(guess(db, user, HOME, plus(t0, 2)).await, judge(&["away-1", "home-1"]));
    assert_eq!(guess(db, user, AWAY, plus(t0, 2)).await, judge(&["away-1"]));
    send(db, user, &code(HOME, "home-2", plus(t0, 3))).await.unwrap();
    assert_eq!(guess(db, user, HOME, plus(t0, 4)).await, judge(&["home-2"]));
    assert_eq!(guess(db, user, AWAY, plus(t0, 4)).await, judge(&["home-2", "away-1"]));
    assert_eq!(guess(db, user, "192.0.2.0/24", plus(t0, 4)).await, judge(&["home-2"]));
    assert_eq!(guess(db, user, HOME, plus(t0, 700)).await, judge(&[]), "expired codes are not judged");
}
on_each_backend!(replace_otp_replaces_only_its_networks_code);

/// Five wrong guesses from a code's own network void it; guesses from
/// elsewhere never do.
async fn take_otp_attempt_voids_a_code_after_five_guesses_from_its_network(db: &Db) {
    let user = db.user(new_user("cy@example.com")).await.id;
    let t0 = db.clock.now();
    send(db, user, &code(HOME, "home", t0)).await.unwrap();
    for _ in 0..9 {
        assert_eq!(guess(db, user, AWAY, t0).await, judge(&["home"]), "a stranger's guesses");
    }
    for n in 1..=5 {
        assert_eq!(guess(db, user, HOME, t0).await, judge(&["home"]), "guess {n}");
    }
    assert_eq!(guess(db, user, HOME, t0).await, judge(&[]), "void after five");
    assert_eq!(guess(db, user, "192.0.2.0/24", t0).await, judge(&[]), "void for everyone");
}
on_each_backend!(take_otp_attempt_voids_a_code_after_five_guesses_from_its_network);

/// Ten guesses a day from one network, fifty in all.
async fn take_otp_attempt_quotas_per_network_and_per_account(db: &Db) {
    let user = db.user(new_user("dax@example.com")).await.id;
    let t0 = db.clock.now();
    for _ in 0..GUESSES.per_network {
        assert!(matches!(guess(db, user, HOME, t0).await, Attempt::Judge(_)));
    }
    assert_eq!(guess(db, user, HOME, t0).await, Attempt::Refused(Spent::Network));
    // The rest of the account's guesses, one from each other network.
    for n in GUESSES.per_network..GUESSES.per_account {
        assert!(matches!(guess(db, user, &format!("192.0.{n}.0/24"), t0).await, Attempt::Judge(_)));
    }
    assert_eq!(guess(db, user, AWAY, t0).await, Attempt::Refused(Spent::Account));
    let reset = db.store.take_otp_attempt(user, OtpPurpose::Reset, AWAY, t0).await.unwrap();
    assert!(matches!(reset, Attempt::Judge(_)), "each purpose has its own quota");
    let next_day = after(t0, GUESSES);
    assert!(matches!(guess(db, user, HOME, next_day).await, Attempt::Judge(_)), "the window has slid");
}
on_each_backend!(take_otp_attempt_quotas_per_network_and_per_account);

/// Quotas hold exactly under concurrency: of many codes and guesses
/// from one network at once, only the quota's count goes through.
async fn recovery_quotas_hold_under_concurrency(db: &Db) {
    let user = db.user(new_user("eli@example.com")).await.id;
    let now = db.clock.now();
    let sent = at_once((0..8).map(|i| {
        let store = db.store.clone();
        async move {
            let hash = format!("code-{i}");
            let code = NewCode {
                purpose: OtpPurpose::Reset,
                network: HOME,
                code_hash: &hash,
                expires_at: plus(now, 600),
                now,
            };
            store.replace_otp(user, &code, &event(AuditAction::OtpResend, Some(user))).await.unwrap()
        }
    }))
    .await;
    assert_eq!(sent.iter().filter(|s| s.is_ok()).count(), usize::try_from(CODES.per_network).unwrap(), "{sent:?}");
    assert_eq!(db.audit("otp_resend").await.len(), usize::try_from(CODES.per_network).unwrap());
    let guesses = at_once((0..16).map(|_| {
        let store = db.store.clone();
        async move { store.take_otp_attempt(user, OtpPurpose::Verify, AWAY, now).await.unwrap() }
    }))
    .await;
    let judged = guesses.iter().filter(|g| matches!(g, Attempt::Judge(_))).count();
    assert_eq!(judged, usize::try_from(GUESSES.per_network).unwrap(), "{guesses:?}");
}
on_each_backend!(recovery_quotas_hold_under_concurrency);

/// Two reset emails an hour from one network, three in all; a refusal
/// writes no event.
async fn take_reset_email_quotas(db: &Db) {
    let user = db.user(new_user("fin@example.com")).await.id;
    let t0 = db.clock.now();
    let take = |network: &'static str, at: DateTime<Utc>| {
        let store = db.store.clone();
        let event = event(AuditAction::PasswordResetRequest, Some(user));
        async move { store.take_reset_email(user, network, at, &event).await.unwrap() }
    };
    for _ in 0..RESET_EMAILS.per_network {
        take(HOME, t0).await.expect("within the quota");
    }
    assert_eq!(take(HOME, t0).await, Err(Spent::Network));
    take(AWAY, t0).await.expect("the account's third");
    assert_eq!(take("192.0.2.0/24", t0).await, Err(Spent::Account));
    assert_eq!(db.audit("password_reset_request").await.len(), usize::try_from(RESET_EMAILS.per_account).unwrap());
    let later = after(t0, RESET_EMAILS);
    take(HOME, later).await.expect("the window has slid");
}
on_each_backend!(take_reset_email_quotas);

/// A correct code is consumed once: of two consumers at once one wins;
/// every verification code goes, the user is verified, one event.
async fn consume_verify_otp_once(db: &Db) {
    let user = db.user(new_user("gil@example.com")).await.id;
    let t0 = db.clock.now();
    send(db, user, &code(HOME, "home", t0)).await.unwrap();
    send(db, user, &code(AWAY, "away", plus(t0, 1))).await.unwrap();
    let reset = NewCode { purpose: OtpPurpose::Reset, ..code(HOME, "reset", t0) };
    send(db, user, &reset).await.unwrap();
    assert!(!db.store.consume_verify_otp(user, "wrong", &event(AuditAction::OtpVerify, Some(user))).await.unwrap());
    assert!(!db.reload(user).await.is_verified);
    let consumed =
        at_once(
            (0..2).map(|_| {
                let store = db.store.clone();
                async move {
                    store.consume_verify_otp(user, "home", &event(AuditAction::OtpVerify, Some(user))).await.unwrap()
                }
            }),
        )
        .await;
    assert_eq!(consumed.iter().filter(|c| **c).count(), 1, "{consumed:?}");
    assert!(db.reload(user).await.is_verified);
    assert_eq!(db.audit("otp_verify").await.len(), 1);
    assert_eq!(guess(db, user, AWAY, plus(t0, 2)).await, judge(&[]), "every verification code went");
    let reset_guess = db.store.take_otp_attempt(user, OtpPurpose::Reset, HOME, plus(t0, 2)).await.unwrap();
    assert_eq!(reset_guess, judge(&["reset"]), "a reset code is not a verification code");
    assert!(!db.store.consume_verify_otp(user, "away", &event(AuditAction::OtpVerify, Some(user))).await.unwrap());
}
on_each_backend!(consume_verify_otp_once);
