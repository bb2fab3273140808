use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::audit::insert_audit;
use super::{Store, micros, now_micros};
use crate::domain::{AuditEvent, UserId};
use crate::error::Result;

/// Wrong attempts after which a code is void.
pub const MAX_ATTEMPTS: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpPurpose {
    Verify,
    Reset,
}

impl OtpPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            OtpPurpose::Verify => "verify",
            OtpPurpose::Reset => "reset",
        }
    }
}

/// The live code of a user and purpose, as stored.
#[derive(Debug, Clone)]
pub struct OtpCheck {
    pub code_hash: String,
}

impl Store {
    /// Replaces the user's code for `purpose` with a new one.
    pub async fn replace_otp(
        &self,
        user_id: UserId,
        purpose: OtpPurpose,
        code_hash: &str,
        expires_at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        upsert_otp(&mut tx, user_id, purpose, code_hash, expires_at).await?;
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spends one attempt on the user's live code and returns it, or `None`
    /// when there is no live code (none, expired, or out of attempts).
    /// Counting first means a guess is paid for before it is judged.
    pub async fn take_otp_attempt(&self, user_id: UserId, purpose: OtpPurpose) -> Result<Option<OtpCheck>> {
        let row = sqlx::query(
            "UPDATE otp_codes SET attempts = attempts + 1
              WHERE user_id = $1 AND purpose = $2 AND expires_at > $3 AND attempts < $4
              RETURNING code_hash",
        )
        .bind(user_id.to_string())
        .bind(purpose.as_str())
        .bind(now_micros())
        .bind(MAX_ATTEMPTS)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.map(|r| OtpCheck { code_hash: r.get("code_hash") }))
    }

    /// Consumes the code after a correct guess and marks the user verified,
    /// with the audit event, in one transaction. False if the code was
    /// consumed or replaced meanwhile.
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
            sqlx::query("UPDATE users SET is_verified = 1, updated_at = $2 WHERE id = $1")
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

pub(super) async fn upsert_otp(
    conn: &mut SqliteConnection,
    user_id: UserId,
    purpose: OtpPurpose,
    code_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO otp_codes (user_id, purpose, code_hash, expires_at, attempts, created_at)
         VALUES ($1, $2, $3, $4, 0, $5)
         ON CONFLICT (user_id, purpose) DO UPDATE
            SET code_hash = excluded.code_hash, expires_at = excluded.expires_at,
                attempts = 0, created_at = excluded.created_at",
    )
    .bind(user_id.to_string())
    .bind(purpose.as_str())
    .bind(code_hash)
    .bind(micros(expires_at))
    .bind(now_micros())
    .execute(conn)
    .await?;
    Ok(())
}
