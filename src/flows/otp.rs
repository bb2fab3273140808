//! Six-digit codes: account verification (contract §5 verify/resend OTP).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::crypto::otp;
use crate::delivery::Message;
use crate::domain::{AuditEvent, ClientInfo, LoginId, Outcome, User, UserId};
use crate::error::{Error, Result};
use crate::state::{AppState, Services};
use crate::store::OtpPurpose;

pub const LIFETIME: Duration = Duration::from_secs(5 * 60);
const INVALID_CODE: &str = "Invalid or expired code.";

/// A new code: the plain text for the person, the digest for the database.
pub struct IssuedCode {
    pub plain: String,
    pub digest: String,
    pub expires_at: DateTime<Utc>,
}

pub fn issue(svc: &Services, user_id: UserId, purpose: OtpPurpose, now: DateTime<Utc>) -> IssuedCode {
    let plain = otp::generate();
    let digest = otp::digest(svc.secret.0.as_bytes(), &user_id.to_string(), purpose.as_str(), &plain);
    IssuedCode { plain, digest, expires_at: now + LIFETIME }
}

/// Sends a code by SMS when the account has a phone, else by email.
pub async fn deliver(svc: &Services, user: &User, code: &str, purpose: OtpPurpose, client: &ClientInfo) -> Result<()> {
    let what = match purpose {
        OtpPurpose::Verify => "verification",
        OtpPurpose::Reset => "password reset",
    };
    let body = format!("Your {what} code is {code}. It expires in 5 minutes.");
    let message = match (&user.phone, &user.email) {
        (Some(phone), _) => Message::Sms { to: phone.to_string(), body },
        (None, Some(email)) => Message::Email { to: email.to_string(), subject: format!("Your {what} code"), body },
        (None, None) => return Ok(()),
    };
    super::send(svc, user.id, message, client).await
}

/// Checks a verification code; on success the account is verified.
pub async fn verify(svc: &Services, login: &LoginId, code: &str, client: &ClientInfo) -> Result<User> {
    let invalid = || Error::field("otp", INVALID_CODE);
    // An unknown or already verified account has no live code: same answer,
    // and the same write (the audit event) as a wrong guess.
    let found = svc.store.find_user_by_login(login).await?;
    let Some(user) = found.clone().filter(|u| !u.is_verified) else {
        let event = AuditEvent::new("otp_verify", Outcome::Failure, found.map(|u| u.id), client);
        svc.store.record_audit(&event).await?;
        return Err(invalid());
    };
    let stored = svc.store.take_otp_attempt(user.id, OtpPurpose::Verify).await?;
    let good = stored.filter(|s| {
        otp::well_formed(code)
            && otp::matches(svc.secret.0.as_bytes(), &user.id.to_string(), "verify", code, &s.code_hash)
    });
    let Some(stored) = good else {
        svc.store.record_audit(&AuditEvent::new("otp_verify", Outcome::Failure, Some(user.id), client)).await?;
        return Err(invalid());
    };
    let event = AuditEvent::new("otp_verify", Outcome::Success, Some(user.id), client);
    if !svc.store.consume_verify_otp(user.id, &stored.code_hash, &event).await? {
        return Err(invalid());
    }
    svc.store.find_user(user.id).await?.ok_or_else(invalid)
}

/// Starts a resend and returns at once: like a reset request, the answer
/// and its timing cannot tell whether the account exists.
pub fn request_resend(svc: &AppState, login: LoginId, client: ClientInfo) {
    let svc = svc.clone();
    super::after_the_answer("verification code resend", async move { resend(&svc, &login, &client).await });
}

/// Replaces the code of an unverified account and sends it.
async fn resend(svc: &Services, login: &LoginId, client: &ClientInfo) -> Result<()> {
    let user = svc.store.find_user_by_login(login).await?.filter(|u| u.can_sign_in() && !u.is_verified);
    let Some(user) = user else {
        let event = AuditEvent::new("otp_resend", Outcome::Failure, None, client)
            .with_detail(serde_json::json!({"reason": "no_unverified_account"}));
        return svc.store.record_audit(&event).await;
    };
    let code = issue(svc, user.id, OtpPurpose::Verify, svc.clock.now());
    let event = AuditEvent::new("otp_resend", Outcome::Success, Some(user.id), client);
    if !svc.store.replace_otp(user.id, OtpPurpose::Verify, &code.digest, code.expires_at, &event).await? {
        return quota_spent(svc, &user, OtpPurpose::Verify, client).await;
    }
    deliver(svc, &user, &code.plain, OtpPurpose::Verify, client).await
}

/// The window's quota of codes is spent: nothing is sent (the answer was
/// the same anyway); the refusal is audited.
pub(crate) async fn quota_spent(svc: &Services, user: &User, purpose: OtpPurpose, client: &ClientInfo) -> Result<()> {
    tracing::warn!(user_id = %user.id, purpose = purpose.as_str(), "code quota for the day spent; no code sent");
    let event = AuditEvent::new("otp_issue_refused", Outcome::Failure, Some(user.id), client)
        .with_detail(serde_json::json!({"purpose": purpose.as_str(), "reason": "quota"}));
    svc.store.record_audit(&event).await
}
