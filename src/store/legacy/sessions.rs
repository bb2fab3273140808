use sqlx::AnyConnection;
use sqlx::Row;

use super::audit::insert_audit;
use super::login_defence::remember_network;
use super::row::Cols;
use super::users::touch_last_login;
use super::{Backend, Store, from_micros, micros, now_micros};
use crate::domain::session::{
    NewSession, RefreshState, Rotate, Rotation, Session, StoredRefresh, judge_stale, rotation_event,
};
use crate::domain::{AuditEvent, Jti, SessionId, UserId};
use crate::error::Result;

impl Store {
    /// Records a sign-in: the session, the user's `last_login`, its network
    /// (trusted for §14.1 from now on) and the audit event, in one
    /// transaction.
    pub async fn open_session(&self, s: &NewSession, event: &AuditEvent) -> Result<()> {
        let mut tx = self.write_tx().await?;
        insert_session(&mut tx, s).await?;
        touch_last_login(&mut tx, s.user_id, s.at).await?;
        remember_network(&mut tx, s, s.at).await?;
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rotates the session's refresh token from `presented_jti` to `next`,
    /// recording the presenter as the session's latest client. The decision
    /// is taken under the database's write lock, so among concurrent
    /// presenters of one token exactly one rotates; the audit event of the
    /// outcome is written in the same transaction.
    pub async fn rotate_session(&self, rotate: &Rotate) -> Result<Rotation> {
        let job = RotateJob { rotate: rotate.clone() };
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
                .bind(r.session_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        // Read the clock only once the session is locked (SQLite: the write
        // lock): a request that waited must not judge the grace by when it
        // arrived.
        let now = micros(self.clock.now());
        let rotated = sqlx::query(ROTATE)
            .bind(r.session_id.to_string())
            .bind(r.user_id.to_string())
            .bind(r.presented_jti.as_str())
            .bind(r.next.jti.as_str())
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
        insert_audit(&mut tx, &rotation_event(r, &outcome)).await?;
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
        .bind(self.clock.unix())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(Session {
                    id: id.parse().map_err(crate::error::Error::internal)?,
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
        session_id: SessionId,
        user_id: UserId,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4
              WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(session_id.to_string())
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

/// A rotation, owned, so that it can wait in `Rotations`' queue.
pub(super) struct RotateJob {
    pub rotate: Rotate,
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
pub(super) fn stored_refresh(row: &impl Cols) -> Result<StoredRefresh> {
    Ok(StoredRefresh {
        current: RefreshState {
            jti: Jti::from_claim(row.text("refresh_jti")?),
            iat: row.int("refresh_iat")?,
            exp: row.int("refresh_exp")?,
        },
        previous_jti: row.opt_text("previous_jti")?.map(Jti::from_claim),
        rotated_at: row.opt_int("rotated_at")?.unwrap_or(0),
        revoked: row.opt_int("revoked_at")?.is_some(),
        ip: row.opt_text("ip")?,
        user_agent: row.opt_text("user_agent")?,
    })
}

/// `judge_stale` on the pooled connection, revoking the session on reuse.
async fn judge_stale_on(conn: &mut AnyConnection, r: &Rotate, now: i64) -> Result<Rotation> {
    let sid = r.session_id.to_string();
    let row = sqlx::query(STORED_REFRESH).bind(&sid).bind(r.user_id.to_string()).fetch_optional(&mut *conn).await?;
    let stored = row.as_ref().map(stored_refresh).transpose()?;
    let outcome = judge_stale(stored, r, now);
    if outcome == Rotation::Reused {
        sqlx::query(REVOKE_REUSED).bind(&sid).bind(now).execute(&mut *conn).await?;
    }
    Ok(outcome)
}

pub(super) async fn insert_session(conn: &mut AnyConnection, s: &NewSession) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, refresh_jti, refresh_iat, refresh_exp, created_at, last_used_at, ip, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
    )
    .bind(s.id.to_string())
    .bind(s.user_id.to_string())
    .bind(s.refresh.jti.as_str())
    .bind(s.refresh.iat)
    .bind(s.refresh.exp)
    .bind(micros(s.at))
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
