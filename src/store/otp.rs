use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::Row;

use super::audit::insert_audit;
use super::{Store, micros, now_micros};
use crate::domain::{AuditEvent, UserId};
use crate::error::Result;

/// Wrong attempts after which a code is void.
pub const MAX_ATTEMPTS: i64 = 5;
/// Guesses and codes allowed per user and purpose in one window, across
/// every code issued in it.
pub const MAX_FAILURES_PER_WINDOW: i64 = 10;
pub const MAX_CODES_PER_WINDOW: i64 = 10;
const WINDOW_MICROS: i64 = 24 * 3600 * 1_000_000;

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
    /// Replaces the user's code for `purpose` with a new one, unless the
    /// window's quota of codes is spent (then false, and nothing changes).
    pub async fn replace_otp(
        &self,
        user_id: UserId,
        purpose: OtpPurpose,
        code_hash: &str,
        expires_at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        if !upsert_otp(&mut tx, user_id, purpose, code_hash, expires_at).await? {
            return Ok(false);
        }
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Spends one attempt on the user's live code and returns it, or `None`
    /// when there is no live code (none, expired, or out of attempts).
    /// Counting first means a guess is paid for before it is judged.
    pub async fn take_otp_attempt(&self, user_id: UserId, purpose: OtpPurpose) -> Result<Option<OtpCheck>> {
        let row = sqlx::query(
            "UPDATE otp_codes SET attempts = attempts + 1, failures = failures + 1
              WHERE user_id = $1 AND purpose = $2 AND expires_at > $3 AND attempts < $4 AND failures < $5
              RETURNING code_hash",
        )
        .bind(user_id.to_string())
        .bind(purpose.as_str())
        .bind(now_micros())
        .bind(MAX_ATTEMPTS)
        .bind(MAX_FAILURES_PER_WINDOW)
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

/// Stores a new code for the user and purpose, carrying the window's
/// counters over from the code it replaces. False when the window's quota
/// of codes is spent.
pub(super) async fn upsert_otp(
    conn: &mut AnyConnection,
    user_id: UserId,
    purpose: OtpPurpose,
    code_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    let now = now_micros();
    let done = sqlx::query(
        "INSERT INTO otp_codes (user_id, purpose, code_hash, expires_at, attempts, created_at, failures, issued, window_start)
         VALUES ($1, $2, $3, $4, 0, $5, 0, 1, $5)
         ON CONFLICT (user_id, purpose) DO UPDATE
            SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0,
                created_at = excluded.created_at,
                failures = CASE WHEN otp_codes.window_start > $6 THEN otp_codes.failures ELSE 0 END,
                issued = CASE WHEN otp_codes.window_start > $6 THEN otp_codes.issued + 1 ELSE 1 END,
                window_start = CASE WHEN otp_codes.window_start > $6 THEN otp_codes.window_start ELSE $5 END
          WHERE otp_codes.window_start <= $6 OR otp_codes.issued < $7",
    )
    .bind(user_id.to_string())
    .bind(purpose.as_str())
    .bind(code_hash)
    .bind(micros(expires_at))
    .bind(now)
    .bind(now - WINDOW_MICROS)
    .bind(MAX_CODES_PER_WINDOW)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
