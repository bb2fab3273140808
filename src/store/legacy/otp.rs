//! Codes and recovery quotas in the database; the rules are
//! `domain::recovery`'s. Quota checks and the change they allow run in one
//! write transaction, serialized per user.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::Row;

use super::audit::insert_audit;
use super::row::Cols;
use super::{Store, micros, now_micros};
use crate::domain::recovery::{
    Attempt, CODES, GUESSES, KEEP, LiveCode, NewCode, OtpPurpose, Quota, RESET_EMAIL, RESET_EMAILS, Spent,
    judged_against,
};
use crate::domain::{AuditEvent, UserId};
use crate::error::Result;

impl Store {
    /// Stores a new code for the requesting network (replacing only that
    /// network's), counts it and records the event, unless a code quota is
    /// spent (then nothing changes).
    pub async fn replace_otp(
        &self,
        user_id: UserId,
        code: &NewCode<'_>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<(), Spent>> {
        let mut tx = self.write_tx().await?;
        self.lock_for(&mut tx, &recovery_lock(user_id)).await?;
        if let Some(spent) = spent(&mut tx, user_id, code.purpose.code_sent(), code.network, &CODES, code.now).await? {
            return Ok(Err(spent));
        }
        upsert_otp(&mut tx, user_id, code).await?;
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Counts a guess from `network` and returns the codes it is judged
    /// against: the network's own live code, whose attempts it spends, and
    /// the newest live code (the one the owner most likely holds), whose
    /// attempts it does not. Counting first means a guess is paid for
    /// before it is judged.
    pub async fn take_otp_attempt(
        &self,
        user_id: UserId,
        purpose: OtpPurpose,
        network: &str,
        now: DateTime<Utc>,
    ) -> Result<Attempt> {
        let mut tx = self.write_tx().await?;
        self.lock_for(&mut tx, &recovery_lock(user_id)).await?;
        if let Some(spent) = spent(&mut tx, user_id, purpose.guess(), network, &GUESSES, now).await? {
            return Ok(Attempt::Refused(spent));
        }
        record(&mut tx, user_id, purpose.guess(), network, now).await?;
        sqlx::query(
            "UPDATE otp_codes SET attempts = attempts + 1 WHERE user_id = $1 AND purpose = $2 AND network = $3",
        )
        .bind(user_id.to_string())
        .bind(purpose.as_str())
        .bind(network)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(
            "SELECT code_hash, network, attempts FROM otp_codes
              WHERE user_id = $1 AND purpose = $2 AND expires_at > $3
              ORDER BY created_at DESC, network DESC",
        )
        .bind(user_id.to_string())
        .bind(purpose.as_str())
        .bind(micros(now))
        .fetch_all(&mut *tx)
        .await?;
        let live = rows
            .iter()
            .map(|r| {
                Ok(LiveCode {
                    code_hash: r.text("code_hash")?,
                    network: r.text("network")?,
                    attempts: r.int("attempts")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(Attempt::Judge(judged_against(live, network)))
    }

    /// Counts a reset email to the user and records the event, unless a
    /// reset email quota is spent (then nothing changes).
    pub async fn take_reset_email(
        &self,
        user_id: UserId,
        network: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<(), Spent>> {
        let mut tx = self.write_tx().await?;
        self.lock_for(&mut tx, &recovery_lock(user_id)).await?;
        if let Some(spent) = spent(&mut tx, user_id, RESET_EMAIL, network, &RESET_EMAILS, now).await? {
            return Ok(Err(spent));
        }
        record(&mut tx, user_id, RESET_EMAIL, network, now).await?;
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Consumes a verification code after a correct guess, with every other
    /// verification code of the user, and marks the user verified, with the
    /// audit event, in one transaction. False if the code was consumed or
    /// replaced meanwhile.
    pub async fn consume_verify_otp(&self, user_id: UserId, code_hash: &str, event: &AuditEvent) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query("DELETE FROM otp_codes WHERE user_id = $1 AND purpose = 'verify' AND code_hash = $2")
            .bind(user_id.to_string())
            .bind(code_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if gone {
            sqlx::query("DELETE FROM otp_codes WHERE user_id = $1 AND purpose = 'verify'")
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE users SET is_verified = TRUE, updated_at = $2 WHERE id = $1")
                .bind(user_id.to_string())
                .bind(now_micros())
                .execute(&mut *tx)
                .await?;
            insert_audit(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(gone)
    }
}

/// Quota checks and the writes they allow are serialized per user: SQLite's
/// write transactions are serial already; PostgreSQL takes this lock.
fn recovery_lock(user_id: UserId) -> String {
    format!("authgate.recovery.{user_id}")
}

/// Which quota, if any, forbids one more `kind` event for the user from
/// `network` at `now`.
async fn spent(
    conn: &mut AnyConnection,
    user_id: UserId,
    kind: &str,
    network: &str,
    quota: &Quota,
    now: DateTime<Utc>,
) -> Result<Option<Spent>> {
    let since = micros(now) - i64::try_from(quota.window.as_micros()).unwrap_or(i64::MAX);
    let row = sqlx::query(
        "SELECT COUNT(*) AS account, COALESCE(SUM(CASE WHEN network = $3 THEN 1 ELSE 0 END), 0) AS network
           FROM recovery_events WHERE user_id = $1 AND kind = $2 AND at > $4",
    )
    .bind(user_id.to_string())
    .bind(kind)
    .bind(network)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let (account, from_network): (i64, i64) = (row.try_get("account")?, row.try_get("network")?);
    Ok(if from_network >= quota.per_network {
        Some(Spent::Network)
    } else if account >= quota.per_account {
        Some(Spent::Account)
    } else {
        None
    })
}

/// Counts one `kind` event, and forgets the user's events too old to count.
async fn record(
    conn: &mut AnyConnection,
    user_id: UserId,
    kind: &str,
    network: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let at = micros(now);
    let keep = i64::try_from(KEEP.as_micros()).unwrap_or(i64::MAX);
    sqlx::query("DELETE FROM recovery_events WHERE user_id = $1 AND at <= $2")
        .bind(user_id.to_string())
        .bind(at - keep)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO recovery_events (user_id, kind, network, at) VALUES ($1, $2, $3, $4)")
        .bind(user_id.to_string())
        .bind(kind)
        .bind(network)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Stores a new code for the user, purpose and network, replacing that
/// network's previous one, and counts it.
pub(super) async fn upsert_otp(conn: &mut AnyConnection, user_id: UserId, code: &NewCode<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO otp_codes (user_id, purpose, network, code_hash, expires_at, attempts, created_at)
         VALUES ($1, $2, $3, $4, $5, 0, $6)
         ON CONFLICT (user_id, purpose, network) DO UPDATE
            SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0,
                created_at = excluded.created_at",
    )
    .bind(user_id.to_string())
    .bind(code.purpose.as_str())
    .bind(code.network)
    .bind(code.code_hash)
    .bind(micros(code.expires_at))
    .bind(micros(code.now))
    .execute(&mut *conn)
    .await?;
    record(conn, user_id, code.purpose.code_sent(), code.network, code.now).await
}
