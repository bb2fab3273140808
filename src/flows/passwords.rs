//! Password reset (by emailed link or SMS code) and change (contract §5).

use serde_json::json;

use super::bots::Proof;
use super::otp;
use super::tokens::{self, TokenPair};
use crate::crypto::reset_token::{self, TokenSubject};
use crate::delivery::Message;
use crate::domain::password_policy::{self, Attributes};
use crate::domain::recovery::{OtpPurpose, Spent};
use crate::domain::{AuditAction, AuditEvent, ClientInfo, Email, LoginId, Outcome, Password, Phone, User, UserId};
use crate::error::{Error, FieldErrors, Result};
use crate::state::{AppState, Services};
use crate::store::PasswordChange;

/// Reset links live 24 hours (contract §5), then die by themselves.
pub const RESET_LINK_SECS: i64 = 24 * 3600;
const BAD_LINK: &str = "The reset link is invalid or has expired.";
const BAD_CODE: &str = "Invalid or expired code.";

/// Starts a reset and returns at once: the look-up, the code or link and the
/// sending all happen in the background, so the answer and its timing are
/// the same whether or not the account exists.
/// A required challenge (§20) is checked first, in the answer's time.
pub async fn request_reset(svc: &AppState, login: LoginId, proof: &Proof, client: ClientInfo) -> Result<()> {
    super::bots::guard(svc, proof, &[login.as_str()], &client).await?;
    let owned = svc.clone();
    super::after_the_answer(svc, "password reset request", async move { send_reset(&owned, &login, &client).await });
    Ok(())
}

async fn send_reset(svc: &Services, login: &LoginId, client: &ClientInfo) -> Result<()> {
    let user = svc.store.find_user_by_login(login).await?.filter(User::can_sign_in);
    let Some(user) = user else {
        let event = AuditEvent::new(AuditAction::PasswordResetRequest, Outcome::Failure, None, client)
            .with_detail(json!({"reason": "unknown_account"}));
        return svc.store.record_audit(&event).await;
    };
    let event = |channel| {
        AuditEvent::new(AuditAction::PasswordResetRequest, Outcome::Success, Some(user.id), client)
            .with_detail(json!({"channel": channel}))
    };
    let (now, network) = (svc.clock.now(), otp::network_key(client));
    match login {
        LoginId::Email(_) => {
            // To the stored address, never to the text the requester typed.
            let Some(email) = &user.email else { return Ok(()) };
            if let Err(spent) = svc.store.take_reset_email(user.id, &network, now, &event("email")).await? {
                return reset_email_spent(svc, &user, spent, client).await;
            }
            let pk = user.id.to_string();
            let token = reset_token::make(&svc.secret.0, &subject(&user, &pk), svc.config.time_zone.seconds(now));
            let link = svc
                .config
                .reset_url
                .replace("{uid}", &reset_token::uidb64(&user.id.to_string()))
                .replace("{token}", &token);
            let body = format!(
                "Someone asked to reset the password of your account.\n\nTo choose a new password, open:\n{link}\n\n\
                 The link works once and expires in 24 hours. If you did not ask for this, ignore this email."
            );
            let message = Message::Email { to: email.to_string(), subject: "Reset your password".into(), body };
            super::send(svc, user.id, message, client).await?;
        }
        LoginId::Phone(_) => {
            let code = otp::issue(svc, user.id, OtpPurpose::Reset, now);
            let stored = code.stored(OtpPurpose::Reset, &network, now);
            if let Err(spent) = svc.store.replace_otp(user.id, &stored, &event("sms")).await? {
                return otp::quota_spent(svc, &user, OtpPurpose::Reset, spent, client).await;
            }
            otp::deliver(svc, &user, &code.plain, OtpPurpose::Reset, client).await?;
        }
    }
    Ok(())
}

/// A reset email quota is spent (the requesting network's or the
/// account's): nothing is sent (the answer was the same anyway); the
/// refusal is audited.
async fn reset_email_spent(svc: &Services, user: &User, spent: Spent, client: &ClientInfo) -> Result<()> {
    tracing::warn!(user_id = %user.id, scope = spent.as_str(), "reset email quota spent; no email sent");
    let event = AuditEvent::new(AuditAction::ResetLinkRefused, Outcome::Failure, Some(user.id), client)
        .with_detail(json!({"reason": "quota", "scope": spent.as_str()}));
    svc.store.record_audit(&event).await
}

/// What a reset link is bound to: Django's `_make_hash_value` inputs.
fn subject<'a>(user: &'a User, pk: &'a str) -> TokenSubject<'a> {
    TokenSubject {
        pk,
        password_hash: &user.password_hash,
        last_login: user.last_login,
        email: user.email.as_ref().map_or("", Email::as_str),
    }
}

/// Sets a new password with the emailed link's `uidb64` and `token`.
pub async fn confirm_with_link(
    svc: &Services,
    uidb64: &str,
    token: &str,
    new: &Password,
    client: &ClientInfo,
) -> Result<()> {
    let bad = || Error::field("token", BAD_LINK);
    let id = reset_token::decode_uidb64(uidb64).and_then(|s| s.parse::<UserId>().ok()).ok_or_else(bad)?;
    let user = svc.store.find_user(id).await?.filter(User::can_sign_in).ok_or_else(bad)?;
    let pk = user.id.to_string();
    let wall_now = svc.config.time_zone.seconds(svc.clock.now());
    if !reset_token::check(&svc.secret.0, &subject(&user, &pk), token, wall_now, RESET_LINK_SECS) {
        return Err(bad());
    }
    check_policy(svc, &user, new, "new_password").await?;
    let change = PasswordChange {
        user_id: user.id,
        old_hash: Some(&user.password_hash),
        new_hash: &svc.hashing.hash(new).await?,
        reason: "password_reset",
        reset_code: None,
        new_session: None,
    };
    let event = AuditEvent::new(AuditAction::PasswordReset, Outcome::Success, Some(user.id), client)
        .with_detail(json!({"via": "email"}));
    // Losing the compare-and-swap means the hash the link is bound to
    // changed after the check: this link's first use, another password
    // write, or a sign-in's re-hash. Checked again on the row as it is now,
    // the link fails in each case, as Django's fails after that write or
    // sign-in, so the answer is the same without a second read. (Unlike
    // Django, whose re-hash is done before the sign-in answers, a link sent
    // while a sign-in's re-hash is still in flight dies when it lands.)
    if !svc.store.replace_password(&change, &event).await? {
        return Err(bad());
    }
    Ok(())
}

/// Sets a new password with the SMS code.
pub async fn confirm_with_code(
    svc: &Services,
    login: &LoginId,
    code: &str,
    new: &Password,
    client: &ClientInfo,
) -> Result<()> {
    let bad = || Error::field("otp", BAD_CODE);
    let user = svc.store.find_user_by_login(login).await?.filter(User::can_sign_in);
    // The policy first, so a weak password spends no attempt; for an unknown
    // account too, so the answer does not tell whether it exists.
    let Some(user) = user else {
        let typed = match login {
            LoginId::Email(e) => Attributes { email: Some(e.as_str()), phone: None, first_name: "", last_name: "" },
            LoginId::Phone(p) => Attributes { email: None, phone: Some(p.as_str()), first_name: "", last_name: "" },
        };
        policy_errors(svc, new, &typed, "new_password").await?;
        return Err(bad());
    };
    check_policy(svc, &user, new, "new_password").await?;
    let stored = match otp::judge(svc, user.id, OtpPurpose::Reset, code, client).await? {
        Ok(stored) => stored,
        Err(why) => {
            let event = AuditEvent::new(AuditAction::PasswordReset, Outcome::Failure, Some(user.id), client)
                .with_detail(otp::failure_detail(json!({"via": "sms"}), why));
            svc.store.record_audit(&event).await?;
            return Err(bad());
        }
    };
    // The code is the credential, consumed in the write; the hash is not
    // compared, so a sign-in's re-hash of the old password meanwhile cannot
    // refuse a right code. A real password write deletes pending reset
    // codes in its own transaction, so it still wins over this one.
    let change = PasswordChange {
        user_id: user.id,
        old_hash: None,
        new_hash: &svc.hashing.hash(new).await?,
        reason: "password_reset",
        reset_code: Some(&stored.code_hash),
        new_session: None,
    };
    let event = AuditEvent::new(AuditAction::PasswordReset, Outcome::Success, Some(user.id), client)
        .with_detail(json!({"via": "sms"}));
    if !svc.store.replace_password(&change, &event).await? {
        return Err(bad());
    }
    Ok(())
}

/// Changes the signed-in user's password; every session ends and a new one
/// starts, whose tokens are returned.
pub async fn change(
    svc: &Services,
    user: &User,
    current: &Password,
    new: &Password,
    client: &ClientInfo,
) -> Result<TokenPair> {
    if !svc.hashing.verify(current, &user.password_hash).await?.matches {
        return Err(wrong_current(svc, user, "wrong_current_password", client).await?);
    }
    if current.expose() == new.expose() {
        return Err(Error::field("new_password", "The new password must be different from the current password."));
    }
    check_policy(svc, user, new, "new_password").await?;
    let new_hash = svc.hashing.hash(new).await?;
    let event = AuditEvent::new(AuditAction::PasswordChange, Outcome::Success, Some(user.id), client);
    let mut user = user.clone();
    for _ in 0..WRITE_ATTEMPTS {
        let (session, pair) = tokens::new_session(svc, &user, client, svc.clock.now());
        let change = PasswordChange {
            user_id: user.id,
            old_hash: Some(&user.password_hash),
            new_hash: &new_hash,
            reason: "password_change",
            reset_code: None,
            new_session: Some(&session),
        };
        if svc.store.replace_password(&change, &event).await? {
            return Ok(pair);
        }
        // The hash changed after the check (issue 22): a sign-in's re-hash
        // of this same password, or a real change. Check again against the
        // hash as it is now; only a real change makes the password wrong.
        let fresh = svc.store.find_user(user.id).await?.filter(User::can_sign_in);
        let fresh = fresh.ok_or(Error::Unauthorized(tokens::INVALID_TOKEN))?;
        if !svc.hashing.verify(current, &fresh.password_hash).await?.matches {
            return Err(wrong_current(svc, &fresh, "changed_meanwhile", client).await?);
        }
        user = fresh;
    }
    Err(Error::Unavailable(BUSY))
}

/// How many times a flow whose compare-and-swap on the hash lost checks
/// again and retries. A loss to a re-hash is rare; twice in a row only
/// happens with instances configured with different hashers taking turns
/// at re-hashing one account.
const WRITE_ATTEMPTS: usize = 3;
const BUSY: &str = "The password is being updated by another request. Try again.";

/// The current password given is not the account's: audited, and the 400.
async fn wrong_current(svc: &Services, user: &User, reason: &str, client: &ClientInfo) -> Result<Error> {
    let event = AuditEvent::new(AuditAction::PasswordChange, Outcome::Failure, Some(user.id), client)
        .with_detail(json!({"reason": reason}));
    svc.store.record_audit(&event).await?;
    Ok(Error::field("current_password", "Your current password is incorrect."))
}

async fn check_policy(svc: &Services, user: &User, password: &Password, field: &str) -> Result<()> {
    let attrs = Attributes {
        email: user.email.as_ref().map(Email::as_str),
        phone: user.phone.as_ref().map(Phone::as_str),
        first_name: &user.first_name,
        last_name: &user.last_name,
    };
    policy_errors(svc, password, &attrs, field).await
}

async fn policy_errors(svc: &Services, password: &Password, attrs: &Attributes<'_>, field: &str) -> Result<()> {
    password_errors(svc, password, attrs, field).await.into_result()
}

/// The refusal of a password found in a breach (contract §20).
const BREACHED: &str = "This password has appeared in a data breach and cannot be used.";

/// Every message of the password policy for `password`, on `field`; when
/// it has none, the breach check's. A password the policy already refuses
/// is not looked up: that costs a call to the range API for nothing.
pub(super) async fn password_errors(
    svc: &Services,
    password: &Password,
    attrs: &Attributes<'_>,
    field: &str,
) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let messages = password_policy::check(password.expose(), svc.config.password_min_length, attrs);
    if messages.is_empty() && svc.defence.breached.is_breached(password).await {
        errors.add(field, BREACHED);
    }
    for message in messages {
        errors.add(field, message);
    }
    errors
}
