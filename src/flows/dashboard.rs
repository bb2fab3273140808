//! The audit dashboard (contract §19): its sign-in (the login flow, with
//! the second factor of §15.2), its cookie session and CSRF tokens, and the
//! reads behind its pages. Its changes are the admin API's own flows
//! (`flows::admin`), so their rules and audit events are the same.

use chrono::{DateTime, Utc};

use super::account;
use super::auth::{self, Principal};
use super::login::{self, LoggedIn, SignedIn};
use super::mfa::{self, Answer, MfaRequired};
use crate::crypto;
use crate::domain::mfa::{MfaStatus, MfaSummary};
use crate::domain::{ClientInfo, Password, Role, SessionId, User, UserId};
use crate::error::{Error, Result};
use crate::state::Services;
use crate::store::{AuditFilter, AuditRecord, UserCount, UserFilter};

const SESSION_TAG: &str = "authgate-dashboard-session";
const CSRF_TAG: &str = "authgate-dashboard-csrf";
const LOGIN_CSRF_TAG: &str = "authgate-dashboard-login-csrf";
const SIGNED_OUT: &str = "Your dashboard session has ended. Sign in again.";

/// Where a dashboard sign-in got to.
pub enum SignIn {
    /// Signed in: the cookie that names the session, and its lifetime.
    Session { cookie: String, max_age_secs: i64 },
    /// The password was right; the account's second factor is next.
    SecondFactor(MfaRequired),
    /// The credentials were right, but the role may not use the dashboard:
    /// the session just opened is closed again.
    Forbidden,
}

/// Roles that may read the dashboard.
pub fn may_read(role: Role) -> bool {
    matches!(role, Role::Staff | Role::Admin)
}

/// Roles that may change accounts through it.
pub fn may_change(role: Role) -> bool {
    role == Role::Admin
}

/// The first step: the login flow of the API (§5, §14.1, §15.2).
pub async fn sign_in(
    svc: &Services,
    login: &str,
    password: &Password,
    proof: &super::bots::Proof,
    client: &ClientInfo,
) -> Result<SignIn> {
    match login::login(svc, login, password, proof, client).await? {
        LoggedIn::SignedIn(signed) => finish(svc, signed, client).await,
        LoggedIn::SecondFactor(required) => Ok(SignIn::SecondFactor(required)),
    }
}

/// The second step: a TOTP code (six digits) or a recovery code.
pub async fn second_factor(svc: &Services, mfa_token: &str, code: &str, client: &ClientInfo) -> Result<SignIn> {
    let code = code.trim();
    let answer =
        if crypto::otp::well_formed(code) { Answer::Code(code.into()) } else { Answer::RecoveryCode(code.into()) };
    let signed = mfa::verify(svc, mfa_token, &answer, client).await?;
    finish(svc, signed, client).await
}

async fn finish(svc: &Services, signed: SignedIn, client: &ClientInfo) -> Result<SignIn> {
    let me = auth::authenticate(svc, &signed.tokens.access).await?;
    if !may_read(me.user.role) {
        account::revoke_session(svc, &me, me.session_id, client).await?;
        return Ok(SignIn::Forbidden);
    }
    let max_age_secs = svc.config.refresh_token_ttl.as_secs() as i64;
    let expires = svc.clock.unix() + max_age_secs;
    Ok(SignIn::Session { cookie: session_cookie(svc, me.user.id, me.session_id, expires), max_age_secs })
}

fn session_cookie(svc: &Services, user: UserId, sid: SessionId, expires: i64) -> String {
    let (user, sid, expires) = (user.to_string(), sid.to_string(), expires.to_string());
    let tag = crypto::tag(svc.secret.0.as_bytes(), SESSION_TAG, &[&user, &sid, &expires]);
    format!("{user}.{sid}.{expires}.{tag}")
}

/// The signed-in user of a session cookie: its tag right, not expired, its
/// session live and its user active (the check of every signed-in request).
pub async fn viewer(svc: &Services, cookie: &str) -> Result<Principal> {
    let signed_out = || Error::Unauthorized(SIGNED_OUT);
    let parts: Vec<&str> = cookie.split('.').collect();
    let [user, sid, expires, tag] = parts[..] else { return Err(signed_out()) };
    let expected = crypto::tag(svc.secret.0.as_bytes(), SESSION_TAG, &[user, sid, expires]);
    if !crypto::ct_eq(expected.as_bytes(), tag.as_bytes()) {
        return Err(signed_out());
    }
    let live = expires.parse::<i64>().is_ok_and(|e| e > svc.clock.unix());
    let (Ok(user), Ok(sid), true) = (user.parse::<UserId>(), sid.parse::<SessionId>(), live) else {
        return Err(signed_out());
    };
    auth::session_principal(svc, user, sid).await.map_err(|_| signed_out())
}

/// Ends the dashboard's own session (audited as the user's revocation of
/// one of their sessions, §12).
pub async fn sign_out(svc: &Services, me: &Principal, client: &ClientInfo) -> Result<()> {
    account::revoke_session(svc, me, me.session_id, client).await?;
    Ok(())
}

/// The CSRF token of a signed-in session's forms.
pub fn csrf_token(svc: &Services, me: &Principal) -> String {
    crypto::tag(svc.secret.0.as_bytes(), CSRF_TAG, &[&me.session_id.to_string()])
}

/// A random value for the sign-in form's cookie (before there is a session).
pub fn login_nonce() -> String {
    crypto::random_hex32()
}

/// The CSRF token of the sign-in form, bound to its cookie's nonce.
pub fn login_csrf_token(svc: &Services, nonce: &str) -> String {
    crypto::tag(svc.secret.0.as_bytes(), LOGIN_CSRF_TAG, &[nonce])
}

/// Constant-time comparison of a submitted token with the expected one.
pub fn token_matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| crypto::ct_eq(expected.as_bytes(), g.as_bytes()))
}

/// A staff member or admin whose role requires a second factor has one
/// (§15.2), as the admin API requires.
pub async fn require_enrolment(svc: &Services, user: &User) -> Result<()> {
    mfa::require_enrolment(svc, user).await
}

// ------------------------------------------------------------- reads

pub async fn users(svc: &Services, filter: &UserFilter) -> Result<Vec<User>> {
    svc.store.list_users(filter).await
}

/// Any user, deleted ones included (404 otherwise).
pub async fn user(svc: &Services, id: UserId) -> Result<User> {
    svc.store.find_user(id).await?.ok_or(Error::NotFound("User not found."))
}

pub async fn mfa_summaries(svc: &Services, ids: &[UserId]) -> Result<Vec<(UserId, MfaSummary)>> {
    svc.store.mfa_summaries(ids).await
}

pub async fn mfa_status(svc: &Services, id: UserId) -> Result<MfaStatus> {
    svc.store.mfa_status(id).await
}

/// One page of audit events (at most `filter.limit + 1`, newest first).
pub async fn audit(svc: &Services, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
    svc.store.list_audit(filter).await
}

/// The live tail's read: events whose id sorts at or after `from`, oldest
/// first.
pub async fn audit_from_id(svc: &Services, from: &str, limit: u32) -> Result<Vec<AuditRecord>> {
    svc.store.audit_from_id(from, limit).await
}

/// The lowest UUIDv7 of the millisecond `ms`: the live tail reads from it.
pub fn id_floor(ms: i64) -> String {
    let ms = ms.max(0) as u64 & 0xffff_ffff_ffff;
    format!("{:08x}-{:04x}-0000-0000-000000000000", ms >> 16, ms & 0xffff)
}

/// The millisecond a UUIDv7 was made, if `id` is one.
pub fn id_millis(id: &str) -> Option<i64> {
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    i64::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == 12)
}

/// One hour of the overview's charts.
#[derive(Debug, Clone, Default)]
pub struct Hour {
    pub start: DateTime<Utc>,
    pub sign_ins: u64,
    pub failed_sign_ins: u64,
    pub registrations: u64,
    /// Counted by this instance since it started (not stored).
    pub throttled: u64,
    pub reuse_detections: u64,
}

/// What the overview shows: the last 24 hours, oldest first, and the users
/// per role and state.
pub struct Overview {
    pub hours: Vec<Hour>,
    pub users: Vec<UserCount>,
}

pub async fn overview(svc: &Services) -> Result<Overview> {
    const HOURS: i64 = 24;
    let now_hour = svc.clock.unix().div_euclid(3600);
    let first = now_hour - (HOURS - 1);
    let mut hours: Vec<Hour> = (first..=now_hour)
        .map(|h| Hour { start: DateTime::from_timestamp(h * 3600, 0).unwrap_or_default(), ..Hour::default() })
        .collect();
    for row in svc.store.audit_hourly(first * 3_600_000_000).await? {
        let Some(hour) = usize::try_from(row.hour - first).ok().and_then(|i| hours.get_mut(i)) else { continue };
        let n = u64::try_from(row.count).unwrap_or(0);
        match (row.action.as_str(), row.outcome.as_str()) {
            ("login", "success") => hour.sign_ins += n,
            ("login_failed", _) | ("mfa_verify", "failure") => hour.failed_sign_ins += n,
            ("register", "success") => hour.registrations += n,
            ("token_reuse", _) | ("token_reuse_suspected", _) => hour.reuse_detections += n,
            _ => {}
        }
    }
    for (h, n) in crate::telemetry::throttled_hours() {
        if let Some(hour) = usize::try_from(h - first).ok().and_then(|i| hours.get_mut(i)) {
            hour.throttled += n;
        }
    }
    Ok(Overview { hours, users: svc.store.user_counts().await? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_floor_sorts_before_every_id_of_its_millisecond_and_after_the_previous_ones() {
        let id = uuid::Uuid::now_v7().to_string();
        let ms = id_millis(&id).expect("a v7 id");
        assert!(id_floor(ms).as_str() <= id.as_str());
        assert!(id_floor(ms + 1).as_str() > id.as_str());
        assert_eq!(id_millis(&id_floor(ms)), Some(ms));
    }
}
