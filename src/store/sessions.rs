use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::Row;

use super::audit::insert_audit;
use super::login_defence::remember_network;
use super::row::Cols;
use super::users::touch_last_login;
use super::{Backend, Store, from_micros, micros, now_micros};
use crate::domain::{AuditEvent, UserId};
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
    /// The token was rotated moments ago (within the grace): here is the
    /// session's current token, to be handed out again unchanged.
    Grace(RefreshState),
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

    /// Rotates the session's refresh token from `presented_jti` to `next`.
    /// The decision is taken under the database's write lock, so among
    /// concurrent presenters of one token exactly one rotates; `events`
    /// names the audit event of the outcome, written in the same
    /// transaction.
    pub async fn rotate_session(
        &self,
        session_id: &str,
        user_id: UserId,
        presented_jti: &str,
        next: &RefreshState,
        grace: Duration,
        events: impl Fn(&Rotation) -> Option<AuditEvent> + Send + Sync + 'static,
    ) -> Result<Rotation> {
        let job = RotateJob {
            session_id: session_id.to_string(),
            user_id,
            presented_jti: presented_jti.to_string(),
            next: next.clone(),
            grace,
            events: Box::new(events),
        };
        if let Some(direct) = &self.direct {
            return self.rotations.submit(self, direct, job).await;
        }
        let mut conn = self.writer.acquire().await?;
        self.rotate_on(&mut conn, &job).await
    }

    /// One rotation in a transaction of its own on a writer connection.
    pub(super) async fn rotate_on(&self, conn: &mut AnyConnection, job: &RotateJob) -> Result<Rotation> {
        let mut tx = self.write_tx_on(conn).await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM sessions WHERE id = $1 FOR UPDATE")
                .bind(&job.session_id)
                .execute(&mut *tx)
                .await?;
        }
        // Read the clock only once the session is locked (SQLite: the write
        // lock): a request that waited must not judge the grace by when it
        // arrived.
        let now = now_micros();
        let rotated = sqlx::query(ROTATE)
            .bind(&job.session_id)
            .bind(job.user_id.to_string())
            .bind(&job.presented_jti)
            .bind(&job.next.jti)
            .bind(job.next.iat)
            .bind(job.next.exp)
            .bind(now)
            .bind(now / 1_000_000)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        let outcome = if rotated { Rotation::Rotated } else { judge_stale_on(&mut tx, job, now).await? };
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

/// A rotation, owned, so that it can wait in `Rotations`' queue.
pub(super) struct RotateJob {
    pub session_id: String,
    pub user_id: UserId,
    pub presented_jti: String,
    pub next: RefreshState,
    pub grace: Duration,
    pub events: Box<RotationEvents>,
}

/// Moves the session from the presented token to the next, if the presented
/// one is current: `$1` session, `$2` user, `$3` presented jti, `$4..$6` the
/// next token's jti, iat and exp, `$7` now (µs), `$8` now (s).
pub(super) const ROTATE: &str = "UPDATE sessions
    SET previous_jti = refresh_jti, refresh_jti = $4, refresh_iat = $5, refresh_exp = $6,
        rotated_at = $7, last_used_at = $7
  WHERE id = $1 AND user_id = $2 AND refresh_jti = $3 AND revoked_at IS NULL AND refresh_exp > $8";

/// What a session holds, for judging a token that was not current.
pub(super) const STORED_REFRESH: &str =
    "SELECT refresh_jti, refresh_iat, refresh_exp, previous_jti, rotated_at, revoked_at
   FROM sessions WHERE id = $1 AND user_id = $2";

pub(super) const REVOKE_REUSED: &str = "UPDATE sessions SET revoked_at = $2, revoked_reason = 'reuse' WHERE id = $1";

/// A session's refresh state as `STORED_REFRESH` reads it.
pub(super) struct StoredRefresh {
    current: RefreshState,
    previous_jti: Option<String>,
    rotated_at: i64,
    revoked: bool,
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
        })
    }
}

/// The presented token is not the session's current one: a grace replay,
/// a reuse (the caller then revokes the session), or a dead session.
pub(super) fn judge_stale(stored: Option<StoredRefresh>, presented_jti: &str, grace: Duration, now: i64) -> Rotation {
    let Some(stored) = stored.filter(|s| !s.revoked) else { return Rotation::Dead };
    if stored.current.jti == presented_jti {
        return Rotation::Dead; // current, so it failed on expiry
    }
    let grace_us = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
    if stored.previous_jti.as_deref() == Some(presented_jti) && now < stored.rotated_at.saturating_add(grace_us) {
        return Rotation::Grace(stored.current);
    }
    Rotation::Reused
}

/// `judge_stale` on the pooled connection, revoking the session on reuse.
async fn judge_stale_on(conn: &mut AnyConnection, job: &RotateJob, now: i64) -> Result<Rotation> {
    let row = sqlx::query(STORED_REFRESH)
        .bind(&job.session_id)
        .bind(job.user_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let stored = row.as_ref().map(StoredRefresh::from_row).transpose()?;
    let outcome = judge_stale(stored, &job.presented_jti, job.grace, now);
    if outcome == Rotation::Reused {
        sqlx::query(REVOKE_REUSED).bind(&job.session_id).bind(now).execute(&mut *conn).await?;
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
