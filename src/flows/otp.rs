//! Six-digit codes: account verification (contract §5 verify/resend OTP).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::bots::Proof;
use crate::crypto::otp;
use crate::delivery::Message;
use crate::domain::network::network;
use crate::domain::recovery::{Attempt, NewCode, OtpCheck, OtpPurpose, Spent};
use crate::domain::{AuditAction, AuditEvent, ClientInfo, LoginId, Outcome, User, UserId};
use crate::error::{Error, Result};
use crate::state::{AppState, Services};

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

impl IssuedCode {
    /// The code as stored for the network that asked for it.
    pub fn stored<'a>(&'a self, purpose: OtpPurpose, network: &'a str, now: DateTime<Utc>) -> NewCode<'a> {
        NewCode { purpose, network, code_hash: &self.digest, expires_at: self.expires_at, now }
    }
}

/// The client's network as recovery quotas count it (IPv4 /24, IPv6 /64),
/// or "" when the address is unknown.
pub(crate) fn network_key(client: &ClientInfo) -> String {
    client.ip.map(|ip| network(ip).to_string()).unwrap_or_default()
}

/// A guess at one of the user's codes: the code it matched, or why not
/// (`None`: wrong, or no live code; `Some`: a guess quota is spent, so it
/// was not judged), for the caller's audit event.
pub(crate) async fn judge(
    svc: &Services,
    user_id: UserId,
    purpose: OtpPurpose,
    code: &str,
    client: &ClientInfo,
) -> Result<std::result::Result<OtpCheck, Option<Spent>>> {
    let attempt = svc.store.take_otp_attempt(user_id, purpose, &network_key(client), svc.clock.now()).await?;
    let codes = match attempt {
        Attempt::Judge(codes) => codes,
        Attempt::Refused(spent) => {
            tracing::warn!(user_id = %user_id, purpose = purpose.as_str(), "code guess quota spent; not judged");
            return Ok(Err(Some(spent)));
        }
    };
    let secret = svc.secret.0.as_bytes();
    let user = user_id.to_string();
    let matched = codes
        .into_iter()
        .find(|c| otp::well_formed(code) && otp::matches(secret, &user, purpose.as_str(), code, &c.code_hash));
    Ok(matched.ok_or(None))
}

/// The audit detail of a guess that failed: wrong, or refused by a quota.
pub(crate) fn failure_detail(mut detail: Value, why: Option<Spent>) -> Value {
    if let (Some(spent), Some(map)) = (why, detail.as_object_mut()) {
        map.insert("reason".into(), json!("quota"));
        map.insert("scope".into(), json!(spent.as_str()));
    }
    detail
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
        let event = AuditEvent::new(AuditAction::OtpVerify, Outcome::Failure, found.map(|u| u.id), client);
        svc.store.record_audit(&event).await?;
        return Err(invalid());
    };
    let stored = match judge(svc, user.id, OtpPurpose::Verify, code, client).await? {
        Ok(stored) => stored,
        Err(why) => {
            let event = AuditEvent::new(AuditAction::OtpVerify, Outcome::Failure, Some(user.id), client)
                .with_detail(failure_detail(json!({}), why));
            svc.store.record_audit(&event).await?;
            return Err(invalid());
        }
    };
    let event = AuditEvent::new(AuditAction::OtpVerify, Outcome::Success, Some(user.id), client);
    if !svc.store.consume_verify_otp(user.id, &stored.code_hash, &event).await? {
        return Err(invalid());
    }
    svc.store.find_user(user.id).await?.ok_or_else(invalid)
}

/// Starts a resend and returns at once: like a reset request, the answer
/// and its timing cannot tell whether the account exists.
/// A required challenge (§20) is checked first, in the answer's time.
pub async fn request_resend(svc: &AppState, login: LoginId, proof: &Proof, client: ClientInfo) -> Result<()> {
    super::bots::guard(svc, proof, &[login.as_str()], &client).await?;
    let owned = svc.clone();
    super::after_the_answer(svc, "verification code resend", async move { resend(&owned, &login, &client).await });
    Ok(())
}

/// Replaces the code of an unverified account and sends it.
async fn resend(svc: &Services, login: &LoginId, client: &ClientInfo) -> Result<()> {
    let user = svc.store.find_user_by_login(login).await?.filter(|u| u.can_sign_in() && !u.is_verified);
    let Some(user) = user else {
        let event = AuditEvent::new(AuditAction::OtpResend, Outcome::Failure, None, client)
            .with_detail(json!({"reason": "no_unverified_account"}));
        return svc.store.record_audit(&event).await;
    };
    let now = svc.clock.now();
    let code = issue(svc, user.id, OtpPurpose::Verify, now);
    let event = AuditEvent::new(AuditAction::OtpResend, Outcome::Success, Some(user.id), client);
    let network = network_key(client);
    if let Err(spent) = svc.store.replace_otp(user.id, &code.stored(OtpPurpose::Verify, &network, now), &event).await? {
        return quota_spent(svc, &user, OtpPurpose::Verify, spent, client).await;
    }
    deliver(svc, &user, &code.plain, OtpPurpose::Verify, client).await
}

/// A quota of codes is spent (the requesting network's or the account's):
/// nothing is sent (the answer was the same anyway); the refusal is audited.
pub(crate) async fn quota_spent(
    svc: &Services,
    user: &User,
    purpose: OtpPurpose,
    spent: Spent,
    client: &ClientInfo,
) -> Result<()> {
    tracing::warn!(user_id = %user.id, purpose = purpose.as_str(), scope = spent.as_str(), "code quota spent; no code sent");
    let event = AuditEvent::new(AuditAction::OtpIssueRefused, Outcome::Failure, Some(user.id), client)
        .with_detail(json!({"purpose": purpose.as_str(), "reason": "quota", "scope": spent.as_str()}));
    svc.store.record_audit(&event).await
}
