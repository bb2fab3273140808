//! Signing in with an email or phone and a password (contract §5 login).

use serde_json::json;

use super::bots::Proof;
use super::mfa::{self, MfaRequired};
use super::tokens::{self, TokenPair};
use super::{devices, login_defence};
use crate::domain::{AuditAction, AuditEvent, ClientInfo, LoginId, Outcome, Password, User};
use crate::error::{Error, Result};
use crate::state::Services;
use crate::telemetry::{self, LoginOutcome};

pub const INVALID_CREDENTIALS: &str = "Invalid credentials.";
const UNVERIFIED: &str = "Verify your email or phone number before signing in.";

#[derive(Debug)]
pub struct SignedIn {
    pub tokens: TokenPair,
    pub user: User,
}

/// What a right password leads to: a session, or the second step of a
/// sign-in to an account with a second factor (§15.2).
#[derive(Debug)]
pub enum LoggedIn {
    SignedIn(SignedIn),
    SecondFactor(MfaRequired),
}

/// Unknown, deleted and wrong-password logins answer alike and cost one
/// hash each, so neither the body nor the timing tells which it was. A
/// login that is no email or phone at all is just another unknown account.
/// Before the password is checked, the defence of §14.1 may refuse the
/// attempt (its failures are counted by login id, known or not).
pub async fn login(
    svc: &Services,
    login: &str,
    password: &Password,
    proof: &Proof,
    client: &ClientInfo,
) -> Result<LoggedIn> {
    super::bots::guard(svc, proof, &[login], client).await?;
    let found = match LoginId::parse(login) {
        Ok(login) => svc.store.find_user_by_login(&login).await?,
        Err(_) => None,
    };
    let admitted = login_defence::admit(svc, login, found.as_ref(), client).await?;
    let Some(user) = found else {
        svc.hashing.burn(password).await?;
        failed(svc, None, Failure::UnknownAccount, client).await?;
        return Err(Error::Unauthorized(INVALID_CREDENTIALS));
    };
    let verdict = svc.hashing.verify(password, &user.password_hash).await?;
    if !verdict.matches {
        failed(svc, Some(&user), Failure::WrongPassword, client).await?;
        return Err(Error::Unauthorized(INVALID_CREDENTIALS));
    }
    if !user.is_active {
        admitted.forgive(svc).await;
        failed(svc, Some(&user), Failure::Inactive, client).await?;
        return Err(Error::Forbidden("This account is inactive."));
    }
    if svc.config.require_verified && !user.is_verified {
        admitted.forgive(svc).await;
        failed(svc, Some(&user), Failure::Unverified, client).await?;
        return Err(Error::Forbidden(UNVERIFIED));
    }
    if verdict.needs_upgrade {
        upgrade_hash(svc, &user, password);
    }
    let factors = svc.store.mfa_status(user.id).await?;
    if factors.has_second_factor() {
        // The password was no failure, but the sign-in is not over: §14.1's
        // counters reset only once the last factor has passed.
        admitted.forgive(svc).await;
        return Ok(LoggedIn::SecondFactor(mfa::challenge(svc, &user, &factors).await?));
    }
    admitted.signed_in(svc).await;
    Ok(LoggedIn::SignedIn(open_session(svc, user, client).await?))
}

/// The end of a sign-in (after the password, or the second factor): the
/// session, `last_login` and the audit event. If the account changed while
/// the sign-in was decided (a password reset, a deactivation, a new role),
/// it is decided once more on the account as it is now: the same password
/// hash and still allowed to sign in, or refused.
pub(super) async fn open_session(svc: &Services, user: User, client: &ClientInfo) -> Result<SignedIn> {
    open_session_as(svc, user, client, AuditAction::Login, &serde_json::Map::new()).await
}

/// `open_session`, audited as `action` with `detail` added to the event's.
pub(super) async fn open_session_as(
    svc: &Services,
    user: User,
    client: &ClientInfo,
    action: AuditAction,
    detail: &serde_json::Map<String, serde_json::Value>,
) -> Result<SignedIn> {
    let how = (action, detail);
    if let Some(signed_in) = try_open_session(svc, &user, client, how).await? {
        return Ok(signed_in);
    }
    let now = svc.store.find_user(user.id).await?.filter(|now| {
        now.password_hash == user.password_hash
            && now.can_sign_in()
            && (now.is_verified || !svc.config.require_verified)
    });
    let Some(now) = now else {
        return Err(Error::Unauthorized(INVALID_CREDENTIALS));
    };
    try_open_session(svc, &now, client, how).await?.ok_or(Error::Unauthorized(INVALID_CREDENTIALS))
}

/// Opens the session unless the user's row changed since `user` was read.
async fn try_open_session(
    svc: &Services,
    user: &User,
    client: &ClientInfo,
    (action, detail): (AuditAction, &serde_json::Map<String, serde_json::Value>),
) -> Result<Option<SignedIn>> {
    let now = svc.clock.now();
    let (session, tokens) = tokens::new_session(svc, user, client, now);
    let mut detail = detail.clone();
    detail.insert("session_id".into(), json!(session.id.to_string()));
    let event = AuditEvent::new(action, Outcome::Success, Some(user.id), client).with_detail(detail.into());
    let Some(opened) = svc.store.open_session(&session, &event).await? else {
        return Ok(None);
    };
    if !opened.evicted.is_empty() {
        tracing::info!(user_id = %user.id, evicted = opened.evicted.len(), "sessions beyond the limit revoked");
    }
    if opened.new_device && svc.config.new_device_alerts {
        devices::alert_new_device(svc, user, &session, client).await;
    }
    let user = User { last_login: Some(now), ..user.clone() };
    telemetry::login(LoginOutcome::Success);
    Ok(Some(SignedIn { tokens, user }))
}

/// Why a sign-in failed. The audit event (read by admins) says which; the
/// metric (which must stay private but might not) does not tell an unknown
/// account from a wrong password.
#[derive(Debug, Clone, Copy)]
enum Failure {
    UnknownAccount,
    WrongPassword,
    Inactive,
    Unverified,
}

impl Failure {
    fn reason(self) -> &'static str {
        match self {
            Failure::UnknownAccount => "unknown_account",
            Failure::WrongPassword => "wrong_password",
            Failure::Inactive => "inactive",
            Failure::Unverified => "unverified",
        }
    }

    fn metric(self) -> LoginOutcome {
        match self {
            Failure::UnknownAccount | Failure::WrongPassword => LoginOutcome::InvalidCredentials,
            Failure::Inactive => LoginOutcome::Inactive,
            Failure::Unverified => LoginOutcome::Unverified,
        }
    }
}

async fn failed(svc: &Services, user: Option<&User>, why: Failure, client: &ClientInfo) -> Result<()> {
    telemetry::login(why.metric());
    if matches!(why, Failure::UnknownAccount | Failure::WrongPassword) {
        super::bots::failed_sign_in(svc, client).await?;
    }
    let event = AuditEvent::new(AuditAction::LoginFailed, Outcome::Failure, user.map(|u| u.id), client)
        .with_detail(json!({"reason": why.reason()}));
    svc.store.record_audit(&event).await
}

/// Re-hashes an old-format or weaker hash with the configured hasher, off
/// the answer's path; a failure only means it is tried at the next login.
/// The write is a compare-and-swap on the hash that was verified, so it
/// loses quietly to any password write that came first; flows that check
/// a password and lose their own compare-and-swap to this re-hash check
/// again against it (flows/passwords.rs).
fn upgrade_hash(svc: &Services, user: &User, password: &Password) {
    let (store, hashing, password) = (svc.store.clone(), svc.hashing.clone(), password.clone());
    let (id, old) = (user.id, user.password_hash.clone());
    svc.tasks.spawn(async move {
        let result = async {
            let new = hashing.hash(&password).await?;
            store.upgrade_password_hash(id, &old, &new).await
        }
        .await;
        match result {
            Ok(true) => tracing::info!(user_id = %id, "password hash upgraded to the configured hasher"),
            Ok(false) => {
                tracing::info!(user_id = %id, "password hash upgrade skipped: the hash changed meanwhile")
            }
            Err(e) => tracing::warn!(user_id = %id, error = %e, "password hash upgrade failed"),
        }
    });
}
