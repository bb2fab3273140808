use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::Row;

use super::audit::insert_audit;
use super::login_defence::remember_network;
use super::row::Cols;
use super::users::touch_last_login;
use super::{Backend, Store, from_micros, micros, now_micros};
use crate::domain::network::network;
use crate::domain::{AuditEvent, ClientInfo, Clock, UserId};
use crate::error::Result;

/// The claims that pin a refresh token: with them the same token can be
/// signed again, byte for byte, without storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshState {
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user_id: UserId,
    pub refresh: RefreshState,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A device sign-in, as listed to its owner.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// This caller won the rotation; the session now holds `next`.
    Rotated,
    /// The token was rotated moments ago (within the grace) by this same
    /// client: here is the session's current token, to be handed out again
    /// unchanged.
    Grace(RefreshState),
    /// The token was rotated moments ago by another client (another user
    /// agent or network): refused, and the session lives on. `rotated_ip`
    /// is the address of the client that rotated it.
    Suspected { rotated_ip: Option<String> },
    /// A retired token came back: the session has been revoked.
    Reused,
    /// No such live session (revoked, expired, or never existed).
    Dead,
}

impl Store {
    /// Records a sign-in: the session, the user's `last_login`, its network
    /// (trusted for §14.1 from now on) and the audit event, in one
    /// transaction.
    pub async fn open_session(&self, s: &NewSession, at: DateTime<Utc>, event: &AuditEvent) -> Result<()> {
        let mut tx = self.write_tx().await?;
        insert_session(&mut tx, s, at).await?;
        touch_last_login(&mut tx, s.user_id, at).await?;
        remember_network(&mut tx, s, at).await?;
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rotates the session's refresh token from `presented_jti` to `next`,
    /// recording the presenter as the session's latest client. The decision
    /// is taken under the database's write lock, so among concurrent
    /// presenters of one token exactly one rotates; `events` names the audit
    /// event of the outcome, written in the same transaction.
    pub async fn rotate_session(
        &self,
        rotate: Rotate,
        events: impl Fn(&Rotation) -> Option<AuditEvent> + Send + Sync + 'static,
    ) -> Result<Rotation> {
        let job = RotateJob { rotate, events: Box::new(events) };
        if let Some(direct) = &self.direct {
            return self.rotations.submit(self, direct, job).await;
        }
        let mut conn = self.writer.acquire().await?;
        self.rotate_on(&mut conn, &job).await
    }

    /// One rotation in a transaction of its own on a writer connection.
    pub(super) async fn rotate_on(&self, conn: &mut AnyConnection, job: &RotateJob) -> Result<Rotation> {
        let r = &job.rotate;
        let mut tx = self.write_tx_on(conn).await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM sessions WHERE id = $1 FOR UPDATE")
                .bind(&r.session_id)
                .execute(&mut *tx)
                .await?;
        }
        // Read the clock only once the session is locked (SQLite: the write
        // lock): a request that waited must not judge the grace by when it
        // arrived.
        let now = micros(r.clock.now());
        let rotated = sqlx::query(ROTATE)
            .bind(&r.session_id)
            .bind(r.user_id.to_string())
            .bind(&r.presented_jti)
            .bind(&r.next.jti)
            .bind(r.next.iat)
            .bind(r.next.exp)
            .bind(now)
            .bind(now / 1_000_000)
            .bind(r.presenter.ip.map(|ip| ip.to_string()))
            .bind(r.presenter.user_agent.as_deref())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        let outcome = if rotated { Rotation::Rotated } else { judge_stale_on(&mut tx, r, now).await? };
        if let Some(event) = (job.events)(&outcome) {
            insert_audit(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// The user's live sessions (not revoked, refresh token not expired),
    /// newest first.
    pub async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>> {
        let rows = sqlx::query(
            "SELECT id, created_at, last_used_at, ip, user_agent FROM sessions
              WHERE user_id = $1 AND revoked_at IS NULL AND refresh_exp > $2
              ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id.to_string())
        .bind(now_micros() / 1_000_000)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Session {
                    id: r.try_get("id")?,
                    created_at: from_micros(r.try_get("created_at")?),
                    last_used_at: from_micros(r.try_get("last_used_at")?),
                    ip: r.try_get("ip")?,
                    user_agent: r.try_get("user_agent")?,
                })
            })
            .collect()
    }

    /// Revokes every live session of the user; returns how many.
    pub async fn revoke_all_sessions(&self, user_id: UserId, reason: &str, event: &AuditEvent) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let n = revoke_all(&mut tx, user_id, reason).await?;
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Revokes one session of `user_id`; false when there was no live one.
    pub async fn revoke_session(
        &self,
        session_id: &str,
        user_id: UserId,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4
              WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(session_id)
        .bind(user_id.to_string())
        .bind(now_micros())
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            insert_audit(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(done)
    }
}

/// Names the audit event of a rotation's outcome, if any.
pub(super) type RotationEvents = dyn Fn(&Rotation) -> Option<AuditEvent> + Send + Sync;

/// A refresh token presented for rotation.
#[derive(Debug, Clone)]
pub struct Rotate {
    pub session_id: String,
    pub user_id: UserId,
    pub presented_jti: String,
    pub next: RefreshState,
    pub grace: Duration,
    /// Who presented it: on rotation the session's latest client (§12),
    /// and within the grace the only client answered (§4).
    pub presenter: ClientInfo,
    /// Read once the session is locked.
    pub clock: Clock,
}

/// A rotation, owned, so that it can wait in `Rotations`' queue.
pub(super) struct RotateJob {
    pub rotate: Rotate,
    pub events: Box<RotationEvents>,
}

/// Moves the session from the presented token to the next, if the presented
/// one is current, and records the presenter as its latest client: `$1`
/// session, `$2` user, `$3` presented jti, `$4..$6` the next token's jti,
/// iat and exp, `$7` now (µs), `$8` now (s), `$9` the presenter's IP, `$10`
/// its user agent.
pub(super) const ROTATE: &str = "UPDATE sessions
    SET previous_jti = refresh_jti, refresh_jti = $4, refresh_iat = $5, refresh_exp = $6,
        rotated_at = $7, last_used_at = $7, ip = $9, user_agent = $10
  WHERE id = $1 AND user_id = $2 AND refresh_jti = $3 AND revoked_at IS NULL AND refresh_exp > $8";

/// What a session holds, for judging a token that was not current.
pub(super) const STORED_REFRESH: &str =
    "SELECT refresh_jti, refresh_iat, refresh_exp, previous_jti, rotated_at, revoked_at, ip, user_agent
   FROM sessions WHERE id = $1 AND user_id = $2";

pub(super) const REVOKE_REUSED: &str = "UPDATE sessions SET revoked_at = $2, revoked_reason = 'reuse' WHERE id = $1";

/// A session's refresh state as `STORED_REFRESH` reads it.
pub(super) struct StoredRefresh {
    current: RefreshState,
    previous_jti: Option<String>,
    rotated_at: i64,
    revoked: bool,
    /// The latest client: the one that rotated, once the session has been
    /// refreshed.
    ip: Option<String>,
    user_agent: Option<String>,
}

impl StoredRefresh {
    pub(super) fn from_row(row: &impl Cols) -> Result<StoredRefresh> {
        Ok(StoredRefresh {
            current: RefreshState {
                jti: row.text("refresh_jti")?,
                iat: row.int("refresh_iat")?,
                exp: row.int("refresh_exp")?,
            },
            previous_jti: row.opt_text("previous_jti")?,
            rotated_at: row.opt_int("rotated_at")?.unwrap_or(0),
            revoked: row.opt_int("revoked_at")?.is_some(),
            ip: row.opt_text("ip")?,
            user_agent: row.opt_text("user_agent")?,
        })
    }
}

/// The presented token is not the session's current one: a grace replay
/// by the client that rotated, a replay within the grace by anyone else
/// (refused, the session lives on), a reuse (the caller then revokes the
/// session), or a dead session.
pub(super) fn judge_stale(
    stored: Option<StoredRefresh>,
    presented_jti: &str,
    presenter: &ClientInfo,
    grace: Duration,
    now: i64,
) -> Rotation {
    let Some(stored) = stored.filter(|s| !s.revoked) else { return Rotation::Dead };
    if stored.current.jti == presented_jti {
        return Rotation::Dead; // current, so it failed on expiry
    }
    let grace_us = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
    if stored.previous_jti.as_deref() != Some(presented_jti) || now >= stored.rotated_at.saturating_add(grace_us) {
        return Rotation::Reused;
    }
    if same_client(&stored, presenter) {
        Rotation::Grace(stored.current)
    } else {
        Rotation::Suspected { rotated_ip: stored.ip }
    }
}

/// The presenter is the client that rotated: the same user agent from the
/// same network (IPv4 /24, IPv6 /64), so a retried request or a second tab
/// is answered and a thief elsewhere is not.
fn same_client(stored: &StoredRefresh, presenter: &ClientInfo) -> bool {
    let stored_network = stored.ip.as_deref().map(|ip| ip.parse().ok().map(network));
    let presenter_network = presenter.ip.map(|ip| Some(network(ip)));
    stored.user_agent == presenter.user_agent && stored_network == presenter_network
}

/// `judge_stale` on the pooled connection, revoking the session on reuse.
async fn judge_stale_on(conn: &mut AnyConnection, r: &Rotate, now: i64) -> Result<Rotation> {
    let row =
        sqlx::query(STORED_REFRESH).bind(&r.session_id).bind(r.user_id.to_string()).fetch_optional(&mut *conn).await?;
    let stored = row.as_ref().map(StoredRefresh::from_row).transpose()?;
    let outcome = judge_stale(stored, &r.presented_jti, &r.presenter, r.grace, now);
    if outcome == Rotation::Reused {
        sqlx::query(REVOKE_REUSED).bind(&r.session_id).bind(now).execute(&mut *conn).await?;
    }
    Ok(outcome)
}

pub(super) async fn insert_session(conn: &mut AnyConnection, s: &NewSession, at: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, refresh_jti, refresh_iat, refresh_exp, created_at, last_used_at, ip, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
    )
    .bind(&s.id)
    .bind(s.user_id.to_string())
    .bind(&s.refresh.jti)
    .bind(s.refresh.iat)
    .bind(s.refresh.exp)
    .bind(micros(at))
    .bind(s.ip.as_deref())
    .bind(s.user_agent.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes every live session of a user (inside the caller's transaction).
pub(super) async fn revoke_all(conn: &mut AnyConnection, user_id: UserId, reason: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id.to_string())
    .bind(now_micros())
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);
    const ROTATED_AT: i64 = 1_000_000_000;

    fn client(ip: &str, agent: &str) -> ClientInfo {
        ClientInfo { ip: Some(ip.parse().unwrap()), user_agent: Some(agent.to_string()) }
    }

    /// A session rotated from `old` to `new` at `ROTATED_AT` by `by`.
    fn rotated_by(by: &ClientInfo) -> Option<StoredRefresh> {
        Some(StoredRefresh {
            current: RefreshState { jti: "new".into(), iat: 1, exp: 2 },
            previous_jti: Some("old".into()),
            rotated_at: ROTATED_AT,
            revoked: false,
            ip: by.ip.map(|ip| ip.to_string()),
            user_agent: by.user_agent.clone(),
        })
    }

    fn judge(by: &ClientInfo, presenter: &ClientInfo, after_us: i64) -> Rotation {
        judge_stale(rotated_by(by), "old", presenter, GRACE, ROTATED_AT + after_us)
    }

    #[test]
    fn the_client_that_rotated_gets_the_current_token_within_the_grace() {
        let owner = client("203.0.113.9", "app/1.0");
        let current = RefreshState { jti: "new".into(), iat: 1, exp: 2 };
        assert_eq!(judge(&owner, &owner, 9_999_999), Rotation::Grace(current.clone()));
        let same_24 = client("203.0.113.200", "app/1.0");
        assert_eq!(judge(&owner, &same_24, 1), Rotation::Grace(current.clone()), "same IPv4 /24");
        let (v6, same_64) = (client("2001:db8:1:2::1", "app/1.0"), client("2001:db8:1:2:ffff::9", "app/1.0"));
        assert_eq!(judge(&v6, &same_64, 1), Rotation::Grace(current.clone()), "same IPv6 /64");
        let anonymous = ClientInfo::default();
        assert_eq!(judge(&anonymous, &anonymous, 1), Rotation::Grace(current), "no address, no agent, alike");
    }

    #[test]
    fn another_network_or_agent_within_the_grace_is_suspected_and_names_the_rotating_address() {
        let owner = client("203.0.113.9", "app/1.0");
        for other in [
            client("198.51.100.9", "app/1.0"),
            client("203.0.114.9", "app/1.0"),
            client("203.0.113.9", "curl/8.0"),
            ClientInfo { ip: owner.ip, user_agent: None },
            ClientInfo { ip: None, user_agent: owner.user_agent.clone() },
        ] {
            assert_eq!(
                judge(&owner, &other, 1),
                Rotation::Suspected { rotated_ip: Some("203.0.113.9".into()) },
                "{other:?}"
            );
        }
        let (v6, other_64) = (client("2001:db8:1:2::1", "app/1.0"), client("2001:db8:1:3::1", "app/1.0"));
        assert!(matches!(judge(&v6, &other_64, 1), Rotation::Suspected { .. }), "another IPv6 /64");
    }

    #[test]
    fn after_the_grace_anyone_presenting_the_rotated_token_is_reuse() {
        let owner = client("203.0.113.9", "app/1.0");
        assert_eq!(judge(&owner, &owner, 10_000_000), Rotation::Reused);
        assert_eq!(judge(&owner, &client("198.51.100.9", "x"), 10_000_000), Rotation::Reused);
    }

    #[test]
    fn an_older_ancestor_is_reuse_even_within_the_grace_and_from_the_same_client() {
        let owner = client("203.0.113.9", "app/1.0");
        assert_eq!(judge_stale(rotated_by(&owner), "older", &owner, GRACE, ROTATED_AT + 1), Rotation::Reused);
    }

    #[test]
    fn a_revoked_or_missing_session_or_an_expired_current_token_is_dead() {
        let owner = client("203.0.113.9", "app/1.0");
        let mut revoked = rotated_by(&owner);
        revoked.as_mut().unwrap().revoked = true;
        assert_eq!(judge_stale(revoked, "old", &owner, GRACE, ROTATED_AT + 1), Rotation::Dead);
        assert_eq!(judge_stale(None, "old", &owner, GRACE, ROTATED_AT + 1), Rotation::Dead);
        assert_eq!(judge_stale(rotated_by(&owner), "new", &owner, GRACE, ROTATED_AT + 1), Rotation::Dead);
    }

    #[test]
    fn with_zero_grace_even_the_rotating_client_is_reuse() {
        let owner = client("203.0.113.9", "app/1.0");
        assert_eq!(judge_stale(rotated_by(&owner), "old", &owner, Duration::ZERO, ROTATED_AT), Rotation::Reused);
    }
}
