//! Codes and recovery quotas; the rules are `domain::recovery`'s. A quota
//! check and the change it allows run in one transaction under a per-user
//! advisory lock: the check is its own statement (its snapshot is taken
//! once the lock is held), the change one more.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::Store;
use super::audit::AuditRow;
use crate::domain::recovery::{
    Attempt, CODES, GUESSES, KEEP, LiveCode, NewCode, OtpPurpose, Quota, RESET_EMAIL, RESET_EMAILS, Spent,
    judged_against,
};
use crate::domain::{AuditEvent, UserId, micros};
use crate::error::Result;

impl Store {
    pub async fn replace_otp(
        &self,
        user: UserId,
        code: &NewCode<'_>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<(), Spent>> {
        let uid = user.to_string();
        let now = micros(code.now);
        let mut tx = self.pool.begin().await?;
        Store::lock_for(&mut tx, &recovery_lock(user)).await?;
        if let Some(spent) = spent(&mut tx, &uid, code.purpose.code_sent(), code.network, &CODES, code.now).await? {
            return Ok(Err(spent));
        }
        let a = AuditRow::of(event, self.now());
        sqlx::query!(
            "WITH stored AS (
                 INSERT INTO otp_codes (user_id, purpose, network, code_hash, expires_at, attempts, created_at)
                 VALUES ($1, $2, $3, $4, $5, 0, $6)
                 ON CONFLICT (user_id, purpose, network) DO UPDATE
                    SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0,
                        created_at = excluded.created_at
             ), forgotten AS (
                 DELETE FROM recovery_events WHERE user_id = $1 AND at <= $8
             ), counted AS (
                 INSERT INTO recovery_events (user_id, kind, network, at) VALUES ($1, $7, $3, $6)
             )
             INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
             VALUES ($9, $10, $11, $12, $13, $14, $15, $16, $17)",
            uid,
            code.purpose.as_str(),
            code.network,
            code.code_hash,
            micros(code.expires_at),
            now,
            code.purpose.code_sent(),
            now - keep(),
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        event.log();
        Ok(Ok(()))
    }

    /// Counts the guess (and spends an attempt of the network's own code)
    /// and reads the live codes in one statement. Its CTEs' changes are not
    /// visible to its own SELECT, so the guesser's code is read with the
    /// attempt it has just spent added.
    pub async fn take_otp_attempt(
        &self,
        user: UserId,
        purpose: OtpPurpose,
        network: &str,
        now: DateTime<Utc>,
    ) -> Result<Attempt> {
        let uid = user.to_string();
        let mut tx = self.pool.begin().await?;
        Store::lock_for(&mut tx, &recovery_lock(user)).await?;
        if let Some(spent) = spent(&mut tx, &uid, purpose.guess(), network, &GUESSES, now).await? {
            return Ok(Attempt::Refused(spent));
        }
        let live = sqlx::query_as!(
            LiveCode,
            r#"WITH forgotten AS (
                   DELETE FROM recovery_events WHERE user_id = $1 AND at <= $6
               ), counted AS (
                   INSERT INTO recovery_events (user_id, kind, network, at) VALUES ($1, $5, $3, $4)
               ), attempted AS (
                   UPDATE otp_codes SET attempts = attempts + 1 WHERE user_id = $1 AND purpose = $2 AND network = $3
               )
               SELECT code_hash, network, attempts + CASE WHEN network = $3 THEN 1 ELSE 0 END AS "attempts!"
                 FROM otp_codes
                WHERE user_id = $1 AND purpose = $2 AND expires_at > $4
                ORDER BY created_at DESC, network DESC"#,
            uid,
            purpose.as_str(),
            network,
            micros(now),
            purpose.guess(),
            micros(now) - keep(),
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Attempt::Judge(judged_against(live, network)))
    }

    pub async fn take_reset_email(
        &self,
        user: UserId,
        network: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<(), Spent>> {
        let uid = user.to_string();
        let mut tx = self.pool.begin().await?;
        Store::lock_for(&mut tx, &recovery_lock(user)).await?;
        if let Some(spent) = spent(&mut tx, &uid, RESET_EMAIL, network, &RESET_EMAILS, now).await? {
            return Ok(Err(spent));
        }
        let a = AuditRow::of(event, self.now());
        sqlx::query!(
            "WITH forgotten AS (
                 DELETE FROM recovery_events WHERE user_id = $1 AND at <= $4
             ), counted AS (
                 INSERT INTO recovery_events (user_id, kind, network, at) VALUES ($1, $5, $2, $3)
             )
             INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
             VALUES ($6, $7, $8, $9, $10, $11, $12, $13, $14)",
            uid,
            network,
            micros(now),
            micros(now) - keep(),
            RESET_EMAIL,
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        event.log();
        Ok(Ok(()))
    }

    /// One statement: the code goes with the user's other verification
    /// codes, the user is marked verified and the event recorded, only if
    /// the code was still there (the event's insert counts as the answer).
    pub async fn consume_verify_otp(&self, user: UserId, code_hash: &str, event: &AuditEvent) -> Result<bool> {
        let now = self.now();
        let a = AuditRow::of(event, now);
        let done = sqlx::query!(
            "WITH consumed AS (
                 DELETE FROM otp_codes WHERE user_id = $1 AND purpose = 'verify' AND code_hash = $2 RETURNING user_id
             ), others AS (
                 DELETE FROM otp_codes
                  WHERE user_id = $1 AND purpose = 'verify' AND code_hash <> $2 AND EXISTS (SELECT 1 FROM consumed)
             ), verified AS (
                 UPDATE users SET is_verified = TRUE, updated_at = $3
                  WHERE id = $1 AND EXISTS (SELECT 1 FROM consumed)
             )
             INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
             SELECT $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE EXISTS (SELECT 1 FROM consumed)",
            user.to_string(),
            code_hash,
            now,
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
}

/// The advisory lock that serializes a user's quota checks and writes.
fn recovery_lock(user: UserId) -> String {
    format!("authgate.recovery.{user}")
}

/// Events this many microseconds old are forgotten.
fn keep() -> i64 {
    i64::try_from(KEEP.as_micros()).unwrap_or(i64::MAX)
}

/// Which quota, if any, forbids one more `kind` event for the user from
/// `network` at `now`.
async fn spent(
    conn: &mut PgConnection,
    uid: &str,
    kind: &str,
    network: &str,
    quota: &Quota,
    now: DateTime<Utc>,
) -> Result<Option<Spent>> {
    let since = micros(now) - i64::try_from(quota.window.as_micros()).unwrap_or(i64::MAX);
    let row = sqlx::query!(
        r#"SELECT COUNT(*) AS "account!", COUNT(*) FILTER (WHERE network = $3) AS "network!"
             FROM recovery_events WHERE user_id = $1 AND kind = $2 AND at > $4"#,
        uid,
        kind,
        network,
        since,
    )
    .fetch_one(conn)
    .await?;
    Ok(if row.network >= quota.per_network {
        Some(Spent::Network)
    } else if row.account >= quota.per_account {
        Some(Spent::Account)
    } else {
        None
    })
}
