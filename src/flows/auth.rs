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

/// `authenticate`, keeping the token's claims.
pub(crate) async fn check_access(svc: &Services, token: &str) -> Result<(Claims, Principal)> {
    let claims =
        svc.keys.verify(token, TokenType::Access, svc.clock.unix()).map_err(|_| Error::Unauthorized(INVALID_TOKEN))?;
    let user_id: UserId = claims.user_id.parse().map_err(|_| Error::Unauthorized(INVALID_TOKEN))?;
    // Every token authgate issues names its session; one without could not
    // be revoked, so it is refused.
    let sid: SessionId =
        claims.sid.as_deref().and_then(|s| s.parse().ok()).ok_or(Error::Unauthorized(INVALID_TOKEN))?;
    let user = live_session_user(svc, user_id, sid).await?;
    let user = user.filter(User::can_sign_in).ok_or(Error::Unauthorized(INVALID_TOKEN))?;
    Ok((claims, Principal { user, session_id: sid }))
}

/// The user's current row (any state: the caller decides): from memory
/// while the revocation feed vouches for it, else read (and remembered).
pub(super) async fn current_user(svc: &Services, user: UserId) -> Result<Option<User>> {
    let memory = svc.store.revocations();
    if let Some(user) = memory.cached_user(user) {
        return Ok(Some(user));
    }
    let generation = memory.generation();
    let found = svc.store.find_user(user).await?;
    if let Some(found) = &found {
        memory.remember(found, generation);
    }
    Ok(found)
}

/// The user of a session that is not revoked (active or not: the caller
/// decides). The one place the liveness of a signed-in request is judged.
/// While the revocation feed is up this reads no database: a revoked
/// session, and the user's current row, are in memory (`revocation`); a
/// user not cached yet costs one read, which fills the cache. While the feed
/// is down every check reads the database, as revocation takes effect there
/// at once.
async fn live_session_user(svc: &Services, user: UserId, sid: SessionId) -> Result<Option<User>> {
    let memory = svc.store.revocations();
    match memory.judge(user, sid) {
        Verdict::Revoked => Ok(None),
        Verdict::Live(user) => Ok(Some(user)),
        Verdict::Ask => {
            let generation = memory.generation();
            let found = svc.store.find_session_user(user, sid).await?;
            if let Some(found) = &found {
                memory.remember(found, generation);
            }
            Ok(found)
        }
    }
}
