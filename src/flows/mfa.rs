//! Second factors (contract §15): TOTP enrolment, recovery codes, and the
//! second step of a sign-in.

use serde_json::json;

use super::login::{self, SignedIn};
use super::login_defence;
use crate::crypto::jwt::{Claims, TokenType};
use crate::crypto::{otp, totp};
use crate::domain::mfa::{MFA_TOKEN_SECS, MfaStatus};
use crate::domain::{AuditAction, AuditEvent, ClientInfo, Jti, Outcome, Password, User, UserId};
use crate::error::{Error, Result};
use crate::state::Services;

/// The issuer an authenticator app shows beside the account.
const ISSUER: &str = "authgate";
const WRONG_CODE: &str = "Invalid or expired code.";
const WRONG_PASSWORD: &str = "Your password is incorrect.";
pub const INVALID_MFA_TOKEN: &str = "The sign-in has expired or is invalid. Sign in again.";

/// What a new TOTP enrolment shows the user once.
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

pub async fn status(svc: &Services, user: &User) -> Result<MfaStatus> {
    svc.store.mfa_status(user.id).await
}

/// Starts (or restarts) a TOTP enrolment: pending until confirmed.
pub async fn setup_totp(svc: &Services, user: &User) -> Result<Enrolment> {
    let secret = totp::new_secret();
    let sealed = totp::seal_secret(svc.secret.0.as_bytes(), &user.id.to_string(), &secret);
    if !svc.store.begin_totp(user.id, &sealed).await? {
        return Err(Error::Conflict(crate::error::FieldErrors::single(
            "non_field_errors",
            "Two-factor authentication is already enabled.",
        )));
    }
    let otpauth_uri = totp::otpauth_uri(ISSUER, &account_label(user), &secret);
    let qr_svg = totp::qr_svg(&otpauth_uri);
    Ok(Enrolment { secret, otpauth_uri, qr_svg })
}

/// How an authenticator names the account: its email, else its phone.
pub(super) fn account_label(user: &User) -> String {
    match (&user.email, &user.phone) {
        (Some(email), _) => email.as_str().to_owned(),
        (None, Some(phone)) => phone.as_str().to_owned(),
        (None, None) => user.id.to_string(),
    }
}

/// Confirms the pending enrolment with its first code; answers the
/// recovery codes, shown this once.
pub async fn confirm_totp(svc: &Services, user: &User, code: &str, client: &ClientInfo) -> Result<Vec<String>> {
    let wrong = || Error::field("code", WRONG_CODE);
    let status = svc.store.mfa_status(user.id).await?;
    let pending = status
        .totp
        .filter(|t| !t.confirmed)
        .ok_or_else(|| Error::field("code", "There is no pending two-factor setup: start with totp/setup."))?;
    let secret = open_secret(svc, user.id, &pending.secret).ok_or_else(wrong)?;
    let step = totp::matching_step(&secret, code, svc.clock.unix()).ok_or_else(wrong)?;
    let codes = totp::new_recovery_codes();
    let event = AuditEvent::new(AuditAction::MfaEnabled, Outcome::Success, Some(user.id), client)
        .with_detail(json!({"method": "totp"}));
    if !svc.store.confirm_totp(user.id, &pending.secret, step, &digests(svc, user.id, &codes), &event).await? {
        return Err(wrong()); // replaced by a new setup, or confirmed meanwhile
    }
    Ok(codes)
}

/// Turns TOTP off with the password and a TOTP or recovery code; the
/// recovery codes go too.
pub async fn disable_totp(
    svc: &Services,
    user: &User,
    password: &Password,
    code: &str,
    client: &ClientInfo,
) -> Result<()> {
    check_password(svc, user, password).await?;
    let status = svc.store.mfa_status(user.id).await?;
    if !status.totp_active() {
        return Err(Error::field("code", "Two-factor authentication is not enabled."));
    }
    if !second_factor_answered(svc, user, &status, code, client).await? {
        return Err(Error::field("code", WRONG_CODE));
    }
    let event = AuditEvent::new(AuditAction::MfaDisabled, Outcome::Success, Some(user.id), client)
        .with_detail(json!({"method": "totp"}));
    svc.store.disable_totp(user.id, &event).await?;
    Ok(())
}

/// Ten new recovery codes; the old ones die.
pub async fn regenerate_recovery_codes(
    svc: &Services,
    user: &User,
    password: &Password,
    client: &ClientInfo,
) -> Result<Vec<String>> {
    check_password(svc, user, password).await?;
    let codes = totp::new_recovery_codes();
    let event = AuditEvent::new(AuditAction::RecoveryCodesRegenerated, Outcome::Success, Some(user.id), client);
    if !svc.store.replace_recovery_codes(user.id, &digests(svc, user.id, &codes), &event).await? {
        return Err(Error::field("non_field_errors", "Two-factor authentication is not enabled."));
    }
    Ok(codes)
}

/// `AUTHGATE_MFA_REQUIRED_ROLES` (§15.2): a user of such a role without a
/// second factor may only enrol (and read or end their sessions). Costs a
/// read only for users of those roles.
pub async fn require_enrolment(svc: &Services, user: &User) -> Result<()> {
    if !svc.config.mfa_required_roles.contains(&user.role) {
        return Ok(());
    }
    if svc.store.mfa_status(user.id).await?.has_second_factor() {
        return Ok(());
    }
    Err(Error::Forbidden("Two-factor authentication is required for your role."))
}

/// The password of a signed-in user, checked again for a sensitive change.
async fn check_password(svc: &Services, user: &User, password: &Password) -> Result<()> {
    if svc.hashing.verify(password, &user.password_hash).await?.matches {
        return Ok(());
    }
    Err(Error::field("password", WRONG_PASSWORD))
}

/// A TOTP code (accepted once per step) or an unused recovery code (spent).
async fn second_factor_answered(
    svc: &Services,
    user: &User,
    status: &MfaStatus,
    code: &str,
    client: &ClientInfo,
) -> Result<bool> {
    if totp::well_formed(code) {
        return accept_totp(svc, user.id, status, code).await;
    }
    use_recovery_code(svc, user.id, code, client).await
}

async fn accept_totp(svc: &Services, user: UserId, status: &MfaStatus, code: &str) -> Result<bool> {
    let active = status.totp.as_ref().filter(|t| t.confirmed);
    let secret = active.and_then(|t| open_secret(svc, user, &t.secret));
    match secret.and_then(|s| totp::matching_step(&s, code, svc.clock.unix())) {
        Some(step) => svc.store.accept_totp_step(user, step).await,
        None => Ok(false),
    }
}

async fn use_recovery_code(svc: &Services, user: UserId, typed: &str, client: &ClientInfo) -> Result<bool> {
    let Some(code) = totp::normalize_recovery_code(typed) else { return Ok(false) };
    let event = AuditEvent::new(AuditAction::RecoveryCodeUsed, Outcome::Success, Some(user), client);
    svc.store.use_recovery_code(user, &digest(svc, user, &code), &event).await
}

/// The TOTP secret from its stored form; `None` (logged) when it cannot
/// be opened, as after a change of `AUTHGATE_SECRET_KEY`.
fn open_secret(svc: &Services, user: UserId, stored: &str) -> Option<String> {
    let secret = totp::open_secret(svc.secret.0.as_bytes(), &user.to_string(), stored);
    if secret.is_none() {
        tracing::warn!(user_id = %user, "a stored TOTP secret does not open with this server's secret key");
    }
    secret
}

fn digest(svc: &Services, user: UserId, code: &str) -> String {
    otp::digest(svc.secret.0.as_bytes(), &user.to_string(), "recovery", code)
}

fn digests(svc: &Services, user: UserId, codes: &[String]) -> Vec<String> {
    codes.iter().map(|c| digest(svc, user, c)).collect()
}

// ------------------------------------------------------------- sign-in

/// The first step of a sign-in to an account with a second factor: what
/// the login answers instead of a token pair.
#[derive(Debug)]
pub struct MfaRequired {
    pub mfa_token: String,
    pub methods: Vec<&'static str>,
}

/// Opens the challenge of an account whose password was right: an
/// `mfa_token` good for five minutes and one successful answer.
pub async fn challenge(svc: &Services, user: &User, status: &MfaStatus) -> Result<MfaRequired> {
    let now = svc.clock.unix();
    let jti = Jti::random().to_string();
    let claims = Claims {
        token_type: TokenType::Mfa,
        exp: now + MFA_TOKEN_SECS,
        iat: now,
        jti,
        user_id: user.id.to_string(),
        role: String::new(),
        sid: None,
        nbf: None,
    };
    svc.store.open_mfa_challenge(&claims.jti, user.id, claims.exp).await?;
    Ok(MfaRequired { mfa_token: svc.keys.sign(&claims), methods: status.methods() })
}

/// The answer to a challenge.
pub enum Answer {
    Code(String),
    RecoveryCode(String),
    /// A WebAuthn assertion (§15.3), as the browser gave it.
    Webauthn(serde_json::Value),
}

impl Answer {
    fn field(&self) -> &'static str {
        match self {
            Answer::Code(_) => "code",
            Answer::RecoveryCode(_) => "recovery_code",
            Answer::Webauthn(_) => "webauthn",
        }
    }

    fn wrong(&self) -> &'static str {
        match self {
            Answer::Webauthn(_) => "The passkey's answer is not valid for this sign-in: ask for new options.",
            _ => WRONG_CODE,
        }
    }
}

/// The user and jti of a live `mfa_token`; 401 for anything else.
async fn live_challenge(svc: &Services, mfa_token: &str) -> Result<(User, String)> {
    let dead = || Error::Unauthorized(INVALID_MFA_TOKEN);
    let now = svc.clock.unix();
    let claims = svc.keys.verify(mfa_token, TokenType::Mfa, now).map_err(|_| dead())?;
    let user_id: UserId = claims.user_id.parse().map_err(|_| dead())?;
    if !svc.store.mfa_challenge_live(&claims.jti, now).await? {
        return Err(dead());
    }
    let user = svc.store.find_user(user_id).await?.filter(User::can_sign_in).ok_or_else(dead)?;
    Ok((user, claims.jti))
}

/// The request options of a passkey as the second factor of the sign-in
/// waiting on `mfa_token`.
pub async fn webauthn_options(svc: &Services, mfa_token: &str) -> Result<serde_json::Value> {
    let (user, jti) = live_challenge(svc, mfa_token).await?;
    super::passkeys::second_factor_options(svc, &user, &jti).await
}

/// The second step: a right answer to a live challenge opens the session,
/// as a login does; a wrong one counts against the challenge (the fifth
/// kills it).
pub async fn verify(svc: &Services, mfa_token: &str, answer: &Answer, client: &ClientInfo) -> Result<SignedIn> {
    let dead = || Error::Unauthorized(INVALID_MFA_TOKEN);
    let (user, jti) = live_challenge(svc, mfa_token).await?;
    let defence = login_defence::admit_second_factor(svc, &user, client).await?;
    let status = svc.store.mfa_status(user.id).await?;
    let right = match answer {
        Answer::Code(code) => accept_totp(svc, user.id, &status, code).await?,
        Answer::RecoveryCode(code) => use_recovery_code(svc, user.id, code, client).await?,
        Answer::Webauthn(credential) => super::passkeys::second_factor(svc, user.id, &jti, credential, client).await?,
    };
    let event = |outcome| {
        AuditEvent::new(AuditAction::MfaVerify, outcome, Some(user.id), client)
            .with_detail(json!({"method": answer.field()}))
    };
    if !right {
        svc.store.fail_mfa_challenge(&jti, &event(Outcome::Failure)).await?;
        return Err(Error::field(answer.field(), answer.wrong()));
    }
    if !svc.store.spend_mfa_challenge(&jti, svc.clock.unix()).await? {
        return Err(dead());
    }
    svc.store.record_audit(&event(Outcome::Success)).await?;
    defence.signed_in(svc).await;
    login::open_session(svc, user, client).await
}
