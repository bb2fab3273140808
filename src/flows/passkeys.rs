//! Passkeys (contract §15.3): registering one, managing one's own, signing
//! in with one (passwordless, or as the second factor of §15.2). Every
//! ceremony's state waits in the database, so any instance can finish a
//! ceremony another began; its answer takes it, so a challenge works once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::login::{self, INVALID_CREDENTIALS, LoggedIn};
use super::mfa;
use crate::crypto::otp;
use crate::crypto::passkeys::{Asserted, Assertion, Refusal};
use crate::domain::passkey::{CEREMONY_SECS, Ceremony, CeremonyKind, StoredPasskey};
use crate::domain::{AuditAction, AuditEvent, ClientInfo, LoginId, Outcome, PasskeyId, User, UserId};
use crate::error::{Error, Result};
use crate::state::Services;

const NO_REGISTRATION: &str = "No passkey registration is pending, or it expired: ask for new options.";
const NO_SIGN_IN: &str = "The passkey sign-in has expired or was used: ask for new options.";
const MALFORMED: &str = "Not a valid WebAuthn credential.";
const NOT_THIS_CEREMONY: &str = "The passkey's answer does not match this ceremony (origin, RP ID or challenge).";
const COUNTER_WENT_BACK: &str = "The passkey's signature counter went backwards: it may have been copied.";
const NOT_FOUND: &str = "Passkey not found.";

/// The creation options for a new passkey of `user`; a new request
/// replaces a pending one.
pub async fn registration_options(svc: &Services, user: &User) -> Result<Value> {
    let exclude: Vec<String> = svc.store.list_passkeys(user.id).await?.into_iter().map(|p| p.credential_id).collect();
    let (public_key, state) = svc.passkeys.start_registration(user.id, &mfa::account_label(user), &exclude)?;
    open(svc, CeremonyKind::Register, user.id.to_string(), Some(user.id), state).await?;
    Ok(public_key)
}

/// Finishes the pending registration with the authenticator's answer.
pub async fn register(
    svc: &Services,
    user: &User,
    credential: &Value,
    name: &str,
    client: &ClientInfo,
) -> Result<StoredPasskey> {
    let now = svc.clock.now();
    let ceremony = svc.store.take_ceremony(CeremonyKind::Register, &user.id.to_string(), now.timestamp()).await?;
    let ceremony = ceremony.ok_or_else(|| Error::field("credential", NO_REGISTRATION))?;
    let new = svc.passkeys.finish_registration(credential, &ceremony.state).map_err(|r| match r {
        Refusal::Malformed => Error::field("credential", MALFORMED),
        _ => Error::field("credential", NOT_THIS_CEREMONY),
    })?;
    let passkey = StoredPasskey {
        id: PasskeyId::new(),
        user_id: user.id,
        credential_id: new.credential_id,
        name: name.to_owned(),
        credential: new.credential,
        created_at: now,
        last_used_at: None,
    };
    let event = AuditEvent::new(AuditAction::PasskeyAdded, Outcome::Success, Some(user.id), client)
        .with_detail(json!({"passkey_id": passkey.id.to_string()}));
    if !svc.store.add_passkey(&passkey, &event).await? {
        return Err(Error::field("credential", "This passkey is registered already."));
    }
    Ok(passkey)
}

pub async fn list(svc: &Services, user: &User) -> Result<Vec<StoredPasskey>> {
    svc.store.list_passkeys(user.id).await
}

pub async fn rename(svc: &Services, user: &User, id: &str, name: &str) -> Result<StoredPasskey> {
    let id: PasskeyId = id.parse().map_err(|_| Error::NotFound(NOT_FOUND))?;
    svc.store.rename_passkey(user.id, id, name).await?.ok_or(Error::NotFound(NOT_FOUND))
}

pub async fn delete(svc: &Services, user: &User, id: &str, client: &ClientInfo) -> Result<()> {
    let id: PasskeyId = id.parse().map_err(|_| Error::NotFound(NOT_FOUND))?;
    let event = AuditEvent::new(AuditAction::PasskeyRemoved, Outcome::Success, Some(user.id), client)
        .with_detail(json!({"passkey_id": id.to_string()}));
    if !svc.store.delete_passkey(user.id, id, &event).await? {
        return Err(Error::NotFound(NOT_FOUND));
    }
    Ok(())
}

// ------------------------------------------------------------- sign-in

/// The options of a passwordless sign-in and the id of its ceremony.
pub struct LoginOptions {
    pub public_key: Value,
    pub ceremony: String,
}

/// Without a login id: any discoverable credential. With one: that
/// account's passkeys; an unknown account (or one without passkeys) gets
/// the same shape, listing a credential id derived from the login id, so
/// the answer does not tell whether the account exists.
pub async fn login_options(svc: &Services, login: Option<&str>) -> Result<LoginOptions> {
    let ceremony = crate::crypto::random_hex32();
    let account = match login.map(LoginId::parse) {
        Some(Ok(id)) => svc.store.find_user_by_login(&id).await?,
        _ => None,
    };
    let passkeys = match &account {
        Some(user) => svc.store.list_passkeys(user.id).await?,
        None => Vec::new(),
    };
    let (public_key, state, user) = match (login, account) {
        (Some(_), Some(user)) if !passkeys.is_empty() => {
            let credentials: Vec<String> = passkeys.into_iter().map(|p| p.credential).collect();
            let (public_key, state) = svc.passkeys.start_authentication(&credentials)?;
            (public_key, state, Some(user.id))
        }
        (Some(login), _) => {
            let (mut public_key, state) = svc.passkeys.start_discoverable()?;
            public_key["allowCredentials"] = json!([{"type": "public-key", "id": decoy_credential(svc, login)}]);
            (public_key, state, None)
        }
        (None, _) => {
            let (public_key, state) = svc.passkeys.start_discoverable()?;
            (public_key, state, None)
        }
    };
    open(svc, CeremonyKind::Login, ceremony.clone(), user, state).await?;
    Ok(LoginOptions { public_key, ceremony })
}

/// A stable credential id for a login id that has no passkey.
fn decoy_credential(svc: &Services, login: &str) -> String {
    let digest = otp::digest(svc.secret.0.as_bytes(), "", "passkey-decoy", &login.trim().to_lowercase());
    URL_SAFE_NO_PAD.encode(hex::decode(digest).unwrap_or_default())
}

/// Finishes a passwordless sign-in. A passkey with user verification is
/// both factors; without it, an account with TOTP answers `mfa_required`.
pub async fn login(svc: &Services, ceremony: &str, credential: &Value, client: &ClientInfo) -> Result<LoggedIn> {
    let assertion = Assertion::parse(credential).map_err(|_| Error::field("credential", MALFORMED))?;
    let now = svc.clock.unix();
    let ceremony = svc.store.take_ceremony(CeremonyKind::Login, ceremony, now).await?;
    let ceremony = ceremony.ok_or_else(|| Error::field("ceremony", NO_SIGN_IN))?;
    let stored = svc.store.find_passkey(&assertion.credential_id()).await?;
    let owner = ceremony.user.or_else(|| assertion.user_handle());
    let stored = stored.filter(|p| Some(p.user_id) == owner).ok_or(Error::Unauthorized(INVALID_CREDENTIALS))?;
    let user = svc.store.find_user(stored.user_id).await?.filter(|u| u.deleted_at.is_none());
    let user = user.ok_or(Error::Unauthorized(INVALID_CREDENTIALS))?;
    let asserted = match check_assertion(svc, &assertion, &ceremony.state, &stored, client).await? {
        Ok(asserted) => asserted,
        Err(Refusal::Rejected) => return Err(Error::Unauthorized(INVALID_CREDENTIALS)),
        Err(refusal) => return Err(refused("credential", refusal)),
    };
    if !user.is_active {
        return Err(Error::Forbidden("This account is inactive."));
    }
    let factors = svc.store.mfa_status(user.id).await?;
    if !asserted.user_verified && factors.totp_active() {
        return Ok(LoggedIn::SecondFactor(mfa::challenge(svc, &user, &factors).await?));
    }
    Ok(LoggedIn::SignedIn(login::open_session(svc, user, client).await?))
}

/// The request options of a passkey as second factor, for the sign-in
/// waiting on the `mfa_token` whose jti is `jti`.
pub async fn second_factor_options(svc: &Services, user: &User, jti: &str) -> Result<Value> {
    let credentials: Vec<String> = svc.store.list_passkeys(user.id).await?.into_iter().map(|p| p.credential).collect();
    if credentials.is_empty() {
        return Err(Error::field("non_field_errors", "This account has no passkey."));
    }
    let (public_key, state) = svc.passkeys.start_authentication(&credentials)?;
    open(svc, CeremonyKind::SecondFactor, jti.to_owned(), Some(user.id), state).await?;
    Ok(public_key)
}

/// Whether `credential` rightly answers the second-factor ceremony of the
/// `mfa_token` whose jti is `jti` (taking it, right or wrong).
pub async fn second_factor(
    svc: &Services,
    user: UserId,
    jti: &str,
    credential: &Value,
    client: &ClientInfo,
) -> Result<bool> {
    let ceremony = svc.store.take_ceremony(CeremonyKind::SecondFactor, jti, svc.clock.unix()).await?;
    let (Some(ceremony), Ok(assertion)) = (ceremony, Assertion::parse(credential)) else { return Ok(false) };
    let stored = svc.store.find_passkey(&assertion.credential_id()).await?;
    let Some(stored) = stored.filter(|p| p.user_id == user && ceremony.user == Some(user)) else { return Ok(false) };
    Ok(check_assertion(svc, &assertion, &ceremony.state, &stored, client).await?.is_ok())
}

/// Checks an assertion with the ceremony's state and records the use (the
/// new counter); a counter that went backwards is audited.
async fn check_assertion(
    svc: &Services,
    assertion: &Assertion,
    state: &str,
    stored: &StoredPasskey,
    client: &ClientInfo,
) -> Result<std::result::Result<Asserted, Refusal>> {
    let checked = svc.passkeys.finish_authentication(assertion, state, &stored.credential);
    let checked = match checked {
        Ok(a) if svc.store.use_passkey(stored.id, &a.credential, a.counter).await? => Ok(a),
        Ok(_) => Err(Refusal::CounterWentBack), // another use got a higher counter meanwhile
        Err(refusal) => Err(refusal),
    };
    if checked.as_ref().err() == Some(&Refusal::CounterWentBack) {
        let event = AuditEvent::new(AuditAction::PasskeyCounterError, Outcome::Failure, Some(stored.user_id), client)
            .with_detail(json!({"passkey_id": stored.id.to_string()}));
        svc.store.record_audit(&event).await?;
    }
    Ok(checked)
}

/// The 400 of a refused answer, on `field`.
fn refused(field: &str, refusal: Refusal) -> Error {
    match refusal {
        Refusal::Malformed => Error::field(field, MALFORMED),
        Refusal::CounterWentBack => Error::field(field, COUNTER_WENT_BACK),
        Refusal::Rejected | Refusal::Invalid => Error::field(field, NOT_THIS_CEREMONY),
    }
}

async fn open(svc: &Services, kind: CeremonyKind, key: String, user: Option<UserId>, state: String) -> Result<()> {
    let expires_at = svc.clock.unix() + CEREMONY_SECS;
    svc.store.open_ceremony(&Ceremony { kind, key, user, state, expires_at }).await
}
