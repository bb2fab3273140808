//! Social sign-in (contract §16): the browser flow (start, the provider's
//! callback, the one-time code's exchange), the native flow (an ID token,
//! or a code a client redeemed with PKCE), and linking and unlinking an
//! identity from a signed-in account.
//!
//! The browser flow's state (nonce, PKCE verifier, `next`, the digest of
//! the browser's binding cookie) and its one-time codes wait in the
//! database (the ceremonies of `domain::passkey`), so any instance answers
//! any step, and each is taken by its one use.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::login::{self, INVALID_CREDENTIALS, LoggedIn};
use super::mfa;
use crate::domain::passkey::{Ceremony, CeremonyKind};
use crate::domain::social::{
    Decision, EXCHANGE_CODE_SECS, Identity, LinkOutcome, STATE_SECS, SocialCreated, SocialLink, UnlinkOutcome, decide,
    unusable_password,
};
use crate::domain::{AuditAction, AuditEvent, ClientInfo, Email, LoginId, Outcome, Role, User, UserId};
use crate::error::{Error, FieldErrors, Result};
use crate::social::{Proof, Provider, Refusal};
use crate::state::Services;
use crate::store::NewUser;

const UNKNOWN_PROVIDER: &str = "Unknown sign-in provider.";
pub const INVALID_ID_TOKEN: &str = "Invalid ID token.";
const NO_EMAIL: &str = "The provider did not share an email address.";
const EMAIL_EXISTS: &str = "An account with this email exists; sign in with your password to link it.";
const BAD_STATE: &str = "This sign-in is unknown, has expired, or was started in another browser: start again.";
const BAD_CODE: &str = "Invalid or expired code.";
const CODE_REFUSED: &str = "The provider did not accept this code.";
const NEXT_NOT_ALLOWED: &str = "This redirect URL is not allowed.";
const UNREACHABLE: &str = "The sign-in provider could not be reached. Try again later.";
const INACTIVE: &str = "This account is inactive.";
const NAME_MAX: usize = 150;

/// The provider configured under `name` (404 otherwise).
fn provider(svc: &Services, name: &str) -> Result<Arc<Provider>> {
    svc.social.get(name).ok_or(Error::NotFound(UNKNOWN_PROVIDER))
}

/// Where the provider sends the browser back: `AUTHGATE_PUBLIC_URL` and the
/// callback path under `/api/v1`.
fn redirect_uri(svc: &Services, name: &str) -> String {
    let base = match &svc.config.social.public_url {
        Some(url) => url.clone(),
        None => format!("http://{}", svc.config.bind),
    };
    format!("{base}/api/v1/auth/social/{name}/callback/")
}

/// 256 random bits, base64url: states, nonces, PKCE verifiers, codes and
/// browser bindings.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Whether a browser binding (the cookie's value) is one `random_token` made.
pub fn well_formed_binding(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A browser sign-in between its start and the provider's callback.
#[derive(Serialize, Deserialize)]
struct BrowserState {
    provider: String,
    nonce: String,
    verifier: String,
    next: String,
    /// SHA-256 of the browser's binding cookie.
    browser: String,
}

/// Starts a browser sign-in bound to `browser` (the binding cookie's
/// value); answers where to send the browser.
pub async fn start(svc: &Services, name: &str, next: Option<&str>, browser: &str) -> Result<String> {
    let p = provider(svc, name)?;
    let next = next
        .filter(|n| svc.config.social.redirect_urls.iter().any(|allowed| allowed.as_str() == *n))
        .ok_or_else(|| Error::field("next", NEXT_NOT_ALLOWED))?;
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    let url = p
        .authorization_url(&svc.social.http, &redirect_uri(svc, name), &state, &nonce, &verifier)
        .await
        .map_err(|r| unreachable(name, &r))?;
    let saved =
        BrowserState { provider: p.name.clone(), nonce, verifier, next: next.to_owned(), browser: digest(browser) };
    let ceremony = Ceremony {
        kind: CeremonyKind::SocialState,
        key: state,
        user: None,
        state: serde_json::to_string(&saved).map_err(Error::internal)?,
        expires_at: svc.clock.unix() + STATE_SECS,
    };
    svc.store.open_ceremony(&ceremony).await?;
    Ok(url)
}

/// What the provider sent the browser back with.
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// The provider's callback: checks the state against the browser, redeems
/// the code, applies the account rules and answers where to send the
/// browser (`next` with a one-time code, or the provider's error).
pub async fn callback(
    svc: &Services,
    name: &str,
    back: &Callback<'_>,
    browser: Option<&str>,
    client: &ClientInfo,
) -> Result<String> {
    let p = provider(svc, name)?;
    let bad_state = || Error::field("state", BAD_STATE);
    let state = back.state.filter(|s| !s.is_empty()).ok_or_else(bad_state)?;
    let taken = svc.store.take_ceremony(CeremonyKind::SocialState, state, svc.clock.unix()).await?;
    let saved: BrowserState = taken.and_then(|c| serde_json::from_str(&c.state).ok()).ok_or_else(bad_state)?;
    if saved.provider != p.name || browser.map(digest).as_deref() != Some(saved.browser.as_str()) {
        return Err(bad_state());
    }
    if let Some(error) = back.error.filter(|e| !e.is_empty()) {
        return Ok(with_param(&saved.next, "error", error));
    }
    let code = back.code.filter(|c| !c.is_empty()).ok_or_else(|| Error::field("code", CODE_REFUSED))?;
    let proof = Proof::Code {
        code,
        code_verifier: Some(saved.verifier.as_str()),
        redirect_uri: &redirect_uri(svc, name),
        nonce: Some(saved.nonce.as_str()),
    };
    let identity = identify(svc, &p, &proof, client).await?;
    let user = account(svc, &identity, client).await?;
    let code = random_token();
    let ceremony = Ceremony {
        kind: CeremonyKind::SocialCode,
        key: digest(&code),
        user: Some(user.id),
        state: json!({"provider": p.name}).to_string(),
        expires_at: svc.clock.unix() + EXCHANGE_CODE_SECS,
    };
    svc.store.open_ceremony(&ceremony).await?;
    Ok(with_param(&saved.next, "code", &code))
}

/// The one-time code of a browser sign-in, for the pair (or §15.2's
/// second step); it works once, within 60 s.
pub async fn exchange(svc: &Services, code: &str, client: &ClientInfo) -> Result<LoggedIn> {
    let bad_code = || Error::field("code", BAD_CODE);
    let taken = svc.store.take_ceremony(CeremonyKind::SocialCode, &digest(code), svc.clock.unix()).await?;
    let taken = taken.ok_or_else(bad_code)?;
    let user_id = taken.user.ok_or_else(bad_code)?;
    let name = serde_json::from_str::<Value>(&taken.state)
        .ok()
        .and_then(|v| v["provider"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let user = svc.store.find_user(user_id).await?.ok_or(Error::Unauthorized(INVALID_CREDENTIALS))?;
    sign_in(svc, user, &name, client).await
}

/// The native (or single-page) flow: an ID token, or a code the client
/// obtained with PKCE.
pub async fn native(svc: &Services, name: &str, proof: &Proof<'_>, client: &ClientInfo) -> Result<LoggedIn> {
    let p = provider(svc, name)?;
    let identity = identify(svc, &p, proof, client).await?;
    let user = account(svc, &identity, client).await?;
    sign_in(svc, user, &p.name, client).await
}

/// Links the identity a proof stands for to the caller's account.
pub async fn link(svc: &Services, me: &User, name: &str, proof: &Proof<'_>, client: &ClientInfo) -> Result<User> {
    let p = provider(svc, name)?;
    let identity = identify(svc, &p, proof, client).await?;
    let link = SocialLink::of(&identity, me.id, svc.clock.now());
    let event = linked_event(&identity, me.id, client);
    match svc.store.link_social_identity(&link, &event).await? {
        LinkOutcome::Linked | LinkOutcome::AlreadyLinked => Ok(me.clone()),
        LinkOutcome::OtherAccount => Err(conflict("This identity is linked to another account.")),
        LinkOutcome::ProviderTaken => {
            Err(conflict("Your account is linked to another identity of this provider: unlink it first."))
        }
    }
}

/// Unlinks the caller's identity of the provider, unless the account would
/// be left with no way to sign in.
pub async fn unlink(svc: &Services, me: &User, name: &str, client: &ClientInfo) -> Result<()> {
    let p = provider(svc, name)?;
    let event = AuditEvent::new(AuditAction::SocialUnlinked, Outcome::Success, Some(me.id), client)
        .with_detail(json!({"provider": p.name}));
    match svc.store.unlink_social_identity(me.id, &p.name, &event).await? {
        UnlinkOutcome::Unlinked => Ok(()),
        UnlinkOutcome::NotLinked => Err(Error::NotFound("No identity of this provider is linked to your account.")),
        UnlinkOutcome::LastWay => Err(Error::field(
            "non_field_errors",
            "This is your account's only way to sign in: set a password or link another provider first.",
        )),
    }
}

// ------------------------------------------------------------- the rules

/// The provider's verdict on a proof; a refusal is audited and answered.
async fn identify(svc: &Services, p: &Provider, proof: &Proof<'_>, client: &ClientInfo) -> Result<Identity> {
    match p.identify(&svc.social.http, proof).await {
        Ok(identity) => Ok(identity),
        Err(refusal) => {
            let event = AuditEvent::new(AuditAction::SocialLogin, Outcome::Failure, None, client)
                .with_detail(json!({"provider": p.name, "reason": refusal.reason()}));
            svc.store.record_audit(&event).await?;
            Err(match refusal {
                Refusal::InvalidIdToken(_) => Error::Unauthorized(INVALID_ID_TOKEN),
                Refusal::CodeRefused(_) => Error::field("code", CODE_REFUSED),
                Refusal::NoIdTokens => Error::field("id_token", "This provider issues no ID tokens: send its code."),
                Refusal::Unreachable(_) => unreachable(&p.name, &refusal),
            })
        }
    }
}

fn unreachable(name: &str, refusal: &Refusal) -> Error {
    tracing::warn!(provider = name, reason = refusal.reason(), "social sign-in: the provider could not be used");
    Error::Unavailable(UNREACHABLE)
}

/// The account an identity signs in to (§16's account rules): the linked
/// one; else the verified account its verified email names, linked now;
/// else a new account. An email matching any other account is a 409.
async fn account(svc: &Services, identity: &Identity, client: &ClientInfo) -> Result<User> {
    if let Some(user) = svc.store.find_social_user(&identity.issuer, &identity.subject).await? {
        return Ok(user);
    }
    let email = identity.email.as_deref().and_then(|e| Email::parse(e).ok());
    let identity = Identity { email: email.as_ref().map(|e| e.as_str().to_owned()), ..identity.clone() };
    let by_email = match &email {
        Some(e) => svc.store.find_user_by_login(&LoginId::Email(e.clone())).await?,
        None => None,
    };
    match decide(&identity, by_email.as_ref()) {
        Decision::NoEmail => Err(Error::BadRequest(NO_EMAIL.into())),
        Decision::Conflict => Err(conflict(EMAIL_EXISTS)),
        Decision::Link(user_id) => {
            let link = SocialLink::of(&identity, user_id, svc.clock.now());
            let event = linked_event(&identity, user_id, client);
            match svc.store.link_social_identity(&link, &event).await? {
                LinkOutcome::Linked | LinkOutcome::AlreadyLinked => {
                    by_email.ok_or(Error::Unauthorized(INVALID_CREDENTIALS))
                }
                LinkOutcome::OtherAccount => linked_meanwhile(svc, &identity).await,
                LinkOutcome::ProviderTaken => Err(conflict(EMAIL_EXISTS)),
            }
        }
        Decision::Create => {
            let Some(email) = email else { return Err(Error::BadRequest(NO_EMAIL.into())) };
            let new = new_user(&identity, email);
            let link = SocialLink::of(&identity, new.id, svc.clock.now());
            let event = AuditEvent::new(AuditAction::Register, Outcome::Success, Some(new.id), client)
                .with_detail(json!({"provider": identity.provider}));
            match svc.store.create_social_user(&new, &link, &event).await? {
                SocialCreated::Created(user) => Ok(user),
                SocialCreated::EmailTaken => Err(conflict(EMAIL_EXISTS)),
                SocialCreated::IdentityTaken => linked_meanwhile(svc, &identity).await,
            }
        }
    }
}

/// The account a concurrent first sign-in of the same identity linked.
async fn linked_meanwhile(svc: &Services, identity: &Identity) -> Result<User> {
    let user = svc.store.find_social_user(&identity.issuer, &identity.subject).await?;
    user.ok_or(Error::Unauthorized(INVALID_CREDENTIALS))
}

/// A verified client account with no usable password, named as the
/// provider names its user.
fn new_user(identity: &Identity, email: Email) -> NewUser {
    let local = email.as_str().split('@').next().unwrap_or_default().to_owned();
    let first = Some(identity.given_name.trim()).filter(|n| !n.is_empty()).map_or(local, str::to_owned);
    NewUser {
        id: UserId::new(),
        email: Some(email),
        phone: None,
        password_hash: unusable_password(),
        first_name: first.chars().take(NAME_MAX).collect(),
        last_name: identity.family_name.trim().chars().take(NAME_MAX).collect(),
        role: Role::Client,
        is_verified: true,
    }
}

fn linked_event(identity: &Identity, user: UserId, client: &ClientInfo) -> AuditEvent {
    AuditEvent::new(AuditAction::SocialLinked, Outcome::Success, Some(user), client)
        .with_detail(json!({"provider": identity.provider}))
}

/// The end of a social sign-in: §15.2's second step for an account with a
/// second factor, else the session, audited `social_login`.
async fn sign_in(svc: &Services, user: User, provider: &str, client: &ClientInfo) -> Result<LoggedIn> {
    if user.deleted_at.is_some() {
        return Err(Error::Unauthorized(INVALID_CREDENTIALS));
    }
    if !user.is_active {
        return Err(Error::Forbidden(INACTIVE));
    }
    let factors = svc.store.mfa_status(user.id).await?;
    if factors.has_second_factor() {
        let event = AuditEvent::new(AuditAction::SocialLogin, Outcome::Success, Some(user.id), client)
            .with_detail(json!({"provider": provider, "second_factor": "required"}));
        svc.store.record_audit(&event).await?;
        return Ok(LoggedIn::SecondFactor(mfa::challenge(svc, &user, &factors).await?));
    }
    let mut detail = Map::new();
    detail.insert("provider".into(), json!(provider));
    let signed_in = login::open_session_as(svc, user, client, AuditAction::SocialLogin, &detail).await?;
    Ok(LoggedIn::SignedIn(signed_in))
}

fn conflict(message: &str) -> Error {
    Error::Conflict(FieldErrors::single("non_field_errors", message))
}

/// `next` with `key=value` added to its query (before any fragment).
fn with_param(next: &str, key: &str, value: &str) -> String {
    let (base, fragment) = match next.find('#') {
        Some(i) => next.split_at(i),
        None => (next, ""),
    };
    let separator = match base.find('?') {
        None => "?",
        Some(i) if i + 1 == base.len() || base.ends_with('&') => "",
        Some(_) => "&",
    };
    let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    format!("{base}{separator}{key}={value}{fragment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_goes_into_the_query_of_next() {
        assert_eq!(with_param("https://a.example/cb", "code", "x"), "https://a.example/cb?code=x");
        assert_eq!(with_param("https://a.example/cb?s=1", "code", "x"), "https://a.example/cb?s=1&code=x");
        assert_eq!(with_param("https://a.example/cb?", "code", "x"), "https://a.example/cb?code=x");
        assert_eq!(
            with_param("https://a.example/cb#top", "error", "access denied"),
            "https://a.example/cb?error=access+denied#top"
        );
    }

    #[test]
    fn tokens_are_43_characters_of_base64url() {
        let t = random_token();
        assert!(well_formed_binding(&t), "{t}");
        assert_ne!(t, random_token());
        assert!(!well_formed_binding("short"));
    }
}
