//! Sessions: sign-in, the refresh rotation, listing and revocation.

use std::net::IpAddr;

use sqlx::PgConnection;

use super::audit::{AuditRow, insert_audit};
use super::{Store, parse_id};
use crate::domain::network::network;
use crate::domain::session::{
    NewSession, Opened, RefreshState, Rotate, Rotation, Session, StoredRefresh, judge_stale, rotation_event,
};
use crate::domain::{AuditEvent, Jti, SessionId, UserId, from_micros, micros};
use crate::error::Result;

impl Store {
    /// The session, the user's `last_login`, the network's trust, the
    /// (device, network) pair and the audit event in one statement; with a
    /// session limit or new-device alerts, in a transaction that first
    /// locks the user's row, so concurrent sign-ins of one user (on any
    /// instance) take turns and those at the limit leave exactly the limit.
    pub async fn open_session(&self, s: &NewSession, event: &AuditEvent) -> Result<Option<Opened>> {
        if s.max_sessions == 0 && !s.new_device_alerts {
            let mut conn = self.pool.acquire().await?;
            let Some(new_device) = open(&mut conn, s, event, self.now()).await? else {
                return Ok(None);
            };
            event.log();
            return Ok(Some(Opened { evicted: Vec::new(), new_device }));
        }
        let mut tx = self.pool.begin().await?;
        let unchanged = sqlx::query!(
            "SELECT id FROM users WHERE id = $1 AND updated_at = $2 FOR UPDATE",
            s.user_id.to_string(),
            micros(s.user_updated_at),
        )
        .fetch_optional(&mut *tx)
        .await?;
        if unchanged.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let Some(new_device) = open(&mut tx, s, event, now).await? else {
            return Ok(None);
        };
        let mut events = vec![event.clone()];
        if new_device && s.new_device_alerts {
            events.push(s.new_device_event());
            insert_audit(&mut tx, &events[1], now).await?;
        }
        let evicted = evict(&mut tx, s, now).await?;
        for id in &evicted {
            let e = s.eviction_event(*id);
            insert_audit(&mut tx, &e, now).await?;
            events.push(e);
        }
        tx.commit().await?;
        events.iter().for_each(AuditEvent::log);
        Ok(Some(Opened { evicted, new_device }))
    }

    /// A current token rotates in one statement, whose CTE also writes the
    /// audit event (the common case), shared with the rotations waiting
    /// beside it (`rotations`: one statement and one commit for the batch;
    /// alone, the same statement for one, if the batch failed). Any other token is
    /// judged by `judge_stale` on the session row locked `FOR UPDATE`, with
    /// the clock read once the lock is held. Concurrent presenters of one
    /// token queue on the row: the first rotates, the others find it moved
    /// on and are judged as stale.
    pub async fn rotate_session(&self, r: &Rotate) -> Result<Rotation> {
        match self.rotations.rotate(r).await {
            Some(true) => return Ok(Rotation::Rotated),
            Some(false) => return self.judge_stale_token(r).await,
            None => {}
        }
        let now = self.now();
        let event = rotation_event(r, &Rotation::Rotated);
        let a = AuditRow::of(&event, now);
        let rotated = sqlx::query!(
            "WITH rotated AS (
                 UPDATE sessions
                    SET previous_jti = refresh_jti, refresh_jti = $4, refresh_iat = $5, refresh_exp = $6,
                        rotated_at = $7, last_used_at = $7, ip = $9, user_agent = $10
                  WHERE id = $1 AND user_id = $2 AND refresh_jti = $3 AND revoked_at IS NULL AND refresh_exp > $8
                 RETURNING id
             )
             INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
             SELECT $11, $12, $13, $14, $15, $16, $17, $18, $19 FROM rotated",
            r.session_id.to_string(),
            r.user_id.to_string(),
            r.presented_jti.as_str(),
            r.next.jti.as_str(),
            r.next.iat,
            r.next.exp,
            now,
            now / 1_000_000,
            r.presenter.ip.map(|ip| ip.to_string()),
            r.presenter.user_agent.as_deref(),
            a.id,
            a.at,
            a.action,
            a.outcome,
            a.user_id,
            a.actor_id,
            a.ip,
            a.user_agent,
            a.detail,
        )
        .execute(&self.pool)
        .await?;
        if rotated.rows_affected() == 1 {
            event.log();
            return Ok(Rotation::Rotated);
        }
        self.judge_stale_token(r).await
    }

    /// The presented token was not current: judged under the row lock.
    async fn judge_stale_token(&self, r: &Rotate) -> Result<Rotation> {
        let sid = r.session_id.to_string();
        let mut tx = self.pool.begin().await?;
        let stored = sqlx::query!(
            "SELECT refresh_jti, refresh_iat, refresh_exp, previous_jti, rotated_at, revoked_at, ip, user_agent
               FROM sessions WHERE id = $1 AND user_id = $2 FOR UPDATE",
            sid,
            r.user_id.to_string(),
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| StoredRefresh {
            current: RefreshState { jti: Jti::from_claim(row.refresh_jti), iat: row.refresh_iat, exp: row.refresh_exp },
            previous_jti: row.previous_jti.map(Jti::from_claim),
            rotated_at: row.rotated_at.unwrap_or(0),
            revoked: row.revoked_at.is_some(),
            ip: row.ip,
            user_agent: row.user_agent,
        });
        // Only now, the row locked: a request that waited must not judge
        // the grace by when it arrived.
        let now = self.now();
        let outcome = judge_stale(stored, r, now);
        if outcome == Rotation::Reused {
            sqlx::query!("UPDATE sessions SET revoked_at = $2, revoked_reason = 'reuse' WHERE id = $1", sid, now)
                .execute(&mut *tx)
                .await?;
        }
        let event = rotation_event(r, &outcome);
        insert_audit(&mut tx, &event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(outcome)
    }

    pub async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>> {
        let rows = sqlx::query!(
            "SELECT id, created_at, last_used_at, ip, user_agent FROM sessions
              WHERE user_id = $1 AND revoked_at IS NULL AND refresh_exp > $2
              ORDER BY created_at DESC, id DESC",
            user.to_string(),
            self.now() / 1_000_000,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Session {
                    id: parse_id(&r.id)?,
                    created_at: from_micros(r.created_at),
                    last_used_at: from_micros(r.last_used_at),
                    ip: r.ip,
                    user_agent: r.user_agent,
                })
            })
            .collect()
    }

    /// One statement: the revocation, and its event only if it revoked.
    pub async fn revoke_session(
        &self,
        session: SessionId,
        user: UserId,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<bool> {
        let now = self.now();
        let a = AuditRow::of(event, now);
        let done = sqlx::query!(
            "WITH revoked AS (
                 UPDATE sessions SET revoked_at = $3, revoked_reason = $4
                  WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL
                 RETURNING id
             )
             INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
             SELECT $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM revoked",
            session.to_string(),
            user.to_string(),
            now,
            reason,
            a.id,
            a.at,
            a.action,
            a.outcome,
            a.user_id,
            a.actor_id,
            a.ip,
            a.user_agent,
            a.detail,
        )
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        if done {
            event.log();
        }
        Ok(done)
    }

    pub async fn revoke_all_sessions(&self, user: UserId, reason: &str, event: &AuditEvent) -> Result<u64> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let n = revoke_all(&mut tx, user, reason, now).await?;
        insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(n)
    }
}

/// The sign-in's one statement: the session, `last_login`, the trusted
/// network, the (device, network) pair and the event. True when the pair is
/// new for a user who had signed in before (every CTE reads the snapshot
/// from before the statement, so `prior` does not see `added`). `None`,
/// nothing written, when the user's row is no longer as the sign-in read
/// it: `signed_in` takes the row's lock, and a writer that held it makes
/// PostgreSQL recheck `updated_at` on the row as committed.
async fn open(conn: &mut PgConnection, s: &NewSession, event: &AuditEvent, now: i64) -> Result<Option<bool>> {
    let trusted = s.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()).map(|ip| network(ip).to_string());
    let a = AuditRow::of(event, now);
    let row = sqlx::query!(
        r#"WITH signed_in AS (
               UPDATE users SET last_login = $6 WHERE id = $2 AND updated_at = $21
               RETURNING id
           ), opened AS (
               INSERT INTO sessions (id, user_id, refresh_jti, refresh_iat, refresh_exp, created_at, last_used_at,
                                     ip, user_agent)
               SELECT $1, $2, $3, $4, $5, $6, $6, $7, $8 FROM signed_in
           ), trusted AS (
               INSERT INTO trusted_networks (user_id, network, last_success_at)
               SELECT $2, $9, $6 FROM signed_in WHERE $9::text IS NOT NULL
               ON CONFLICT (user_id, network) DO UPDATE SET last_success_at = excluded.last_success_at
           ), prior AS (
               SELECT EXISTS (SELECT 1 FROM known_devices WHERE user_id = $2) AS seen
           ), added AS (
               INSERT INTO known_devices (user_id, device, network, first_seen_at)
               SELECT $2, $19, $20, $6 FROM signed_in
               ON CONFLICT (user_id, device, network) DO NOTHING
               RETURNING 1
           ), logged AS (
               INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
               SELECT $10, $11, $12, $13, $14, $15, $16, $17, $18 FROM signed_in
           )
           SELECT EXISTS (SELECT 1 FROM signed_in) AS "opened!",
                  EXISTS (SELECT 1 FROM added) AND (SELECT seen FROM prior) AS "new_device!""#,
        s.id.to_string(),
        s.user_id.to_string(),
        s.refresh.jti.as_str(),
        s.refresh.iat,
        s.refresh.exp,
        micros(s.at),
        s.ip.as_deref(),
        s.user_agent.as_deref(),
        trusted,
        a.id,
        a.at,
        a.action,
        a.outcome,
        a.user_id,
        a.actor_id,
        a.ip,
        a.user_agent,
        a.detail,
        s.device,
        s.network(),
        micros(s.user_updated_at),
    )
    .fetch_one(conn)
    .await?;
    Ok(row.opened.then_some(row.new_device))
}

/// Revokes the user's least recently used live sessions beyond
/// `s.max_sessions` (`s` itself stays), inside the caller's transaction;
/// returns them, least recently used first.
async fn evict(conn: &mut PgConnection, s: &NewSession, now: i64) -> Result<Vec<SessionId>> {
    if s.max_sessions == 0 {
        return Ok(Vec::new());
    }
    let ids = sqlx::query_scalar!(
        "WITH evicted AS (
             UPDATE sessions SET revoked_at = $4, revoked_reason = 'evicted'
              WHERE revoked_at IS NULL AND id IN (
                  SELECT id FROM sessions
                   WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL AND refresh_exp > $5
                   ORDER BY last_used_at DESC, id DESC
                  OFFSET $3)
             RETURNING id, last_used_at
         )
         SELECT id AS \"id!\" FROM evicted ORDER BY last_used_at, id",
        s.user_id.to_string(),
        s.id.to_string(),
        i64::from(s.max_sessions) - 1,
        now,
        now / 1_000_000,
    )
    .fetch_all(conn)
    .await?;
    ids.iter().map(|id| parse_id(id)).collect()
}

/// Inserts a session (inside the caller's transaction).
pub(super) async fn insert_session(conn: &mut PgConnection, s: &NewSession) -> Result<()> {
    sqlx::query!(
        "INSERT INTO sessions (id, user_id, refresh_jti, refresh_iat, refresh_exp, created_at, last_used_at, ip, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
        s.id.to_string(),
        s.user_id.to_string(),
        s.refresh.jti.as_str(),
        s.refresh.iat,
        s.refresh.exp,
        micros(s.at),
        s.ip.as_deref(),
        s.user_agent.as_deref(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes every live session of a user (inside the caller's transaction).
pub(super) async fn revoke_all(conn: &mut PgConnection, user: UserId, reason: &str, now: i64) -> Result<u64> {
    let done = sqlx::query!(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL",
        user.to_string(),
        now,
        reason,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
