//! Who is calling: the user behind a Bearer access token. The one check of
//! every signed-in request (and of `authgate::Verifier`).

use crate::crypto::jwt::{Claims, TokenType};
use crate::domain::{SessionId, User, UserId};
use crate::error::{Error, Result};
use crate::revocation::Verdict;
use crate::state::Services;

pub const INVALID_TOKEN: &str = "Token is invalid or expired.";

/// A signed-in caller: the user (active, not deleted) and the session of the
/// access token they presented.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub session_id: SessionId,
}

/// Checks an access token and that its user and session are still live.
/// The Bearer extractor, introspection and `authgate::Verifier` all check
/// through here.
pub async fn authenticate(svc: &Services, token: &str) -> Result<Principal> {
    check_access(svc, token).await.map(|(_, principal)| principal)
}

/// The caller of a session named some other way than by an access token
/// (the dashboard's cookie, §19): the same liveness check as `authenticate`.
pub async fn session_principal(svc: &Services, user_id: UserId, sid: SessionId) -> Result<Principal> {
    let user = live_session_user(svc, user_id, sid).await?;
    let user = user.filter(User::can_sign_in).ok_or(Error::Unauthorized(INVALID_TOKEN))?;
    Ok(Principal { user, session_id: sid })
}

/// `authenticate`, keeping the token's claims.
pub(crate) async fn check_access(svc: &Services, token: &str) -> Result<(Claims, Principal)> {
    let now = svc.clock.unix();
    // Every token authgate issues names its session; one without is the
    // Django original's, accepted only within the legacy window.
    let claims = match svc.keys.verify(token, TokenType::Access, now) {
        Ok(claims) if claims.sid.is_some() => claims,
        _ => return legacy_access(svc, token, now).await,
    };
    let user_id: UserId = claims.user_id.parse().map_err(|_| Error::Unauthorized(INVALID_TOKEN))?;
    let sid: SessionId =
        claims.sid.as_deref().and_then(|s| s.parse().ok()).ok_or(Error::Unauthorized(INVALID_TOKEN))?;
    let user = live_session_user(svc, user_id, sid).await?;
    let user = user.filter(User::can_sign_in).ok_or(Error::Unauthorized(INVALID_TOKEN))?;
    Ok((claims, Principal { user, session_id: sid }))
}

/// An access token the Django original minted (contract §18): signed with
/// the secret, no `sid`, accepted until the legacy window ends while its
/// user is active and not deleted (a deactivation reaches it through the
/// same user cache as any token) and unchanged since the token was issued
/// (a password change or reset here ends it, as it ends every session). It
/// names no session: the principal's is the nil id, which no session has.
async fn legacy_access(svc: &Services, token: &str, now: i64) -> Result<(Claims, Principal)> {
    let invalid = || Error::Unauthorized(INVALID_TOKEN);
    let claims = legacy_claims(svc, token, TokenType::Access, now).await?.ok_or_else(invalid)?;
    let user_id: UserId = claims.user_id.parse().map_err(|_| invalid())?;
    let user = current_user(svc, user_id).await?;
    let user = user.filter(|u| u.can_sign_in() && u.updated_at.timestamp() <= claims.iat).ok_or_else(invalid)?;
    Ok((claims, Principal { user, session_id: SessionId::from_uuid(uuid::Uuid::nil()) }))
}

/// The claims of a legacy token of `kind` (§18) while the window is open.
/// A closed default window is looked for again now and then (an import
/// may have opened it since), only for tokens that would pass otherwise.
pub(super) async fn legacy_claims(svc: &Services, token: &str, kind: TokenType, now: i64) -> Result<Option<Claims>> {
    let Some(claims) = svc.legacy.verify(token, kind, now) else { return Ok(None) };
    if !svc.legacy.open(now) && svc.legacy.due(now) {
        svc.legacy.set(svc.store.legacy_tokens_until().await?);
    }
    Ok(svc.legacy.open(now).then_some(claims))
}

/// The user's current row (any state: the caller decides): from memory
/// while the revocation feed vouches for it, else read (and remembered).
pub(super) async fn current_user(svc: &Services, user: UserId) -> Result<Option<User>> {
    let verdict = svc.store.revocations().judge_user(user);
    cached_or_read(svc, verdict, || svc.store.find_user(user)).await
}

/// The user of a session that is not revoked (active or not: the caller
/// decides). The one place the liveness of a signed-in request is judged.
/// While the revocation feed is up this reads no database: a revoked
/// session, and the user's current row, are in memory (`revocation`); a
/// user not cached yet costs one read, which fills the cache. While the feed
/// is down every check reads the database, as revocation takes effect there
/// at once.
async fn live_session_user(svc: &Services, user: UserId, sid: SessionId) -> Result<Option<User>> {
    let verdict = svc.store.revocations().judge(user, sid);
    cached_or_read(svc, verdict, || svc.store.find_session_user(user, sid)).await
}

/// The memory's verdict, or the database's answer (`read`), which fills
/// the cache.
async fn cached_or_read<F>(svc: &Services, verdict: Verdict, read: impl FnOnce() -> F) -> Result<Option<User>>
where
    F: std::future::Future<Output = Result<Option<User>>>,
{
    match verdict {
        Verdict::Revoked => Ok(None),
        Verdict::Live(user) => Ok(Some(user)),
        Verdict::Ask => {
            let memory = svc.store.revocations();
            let generation = memory.generation();
            let found = read().await?;
            if let Some(found) = &found {
                memory.remember(found, generation);
            }
            Ok(found)
        }
    }
}
