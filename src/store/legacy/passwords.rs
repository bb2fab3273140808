use super::audit::insert_audit;
use super::sessions::{insert_session, revoke_all};
use super::{Store, now_micros};
use crate::domain::AuditEvent;
use crate::error::Result;
use crate::store::contract::PasswordChange;

impl Store {
    /// Replaces the password, consumes the reset code, revokes every session
    /// of the user, opens the new one and records the event, all in one
    /// transaction. False (and nothing changed) when the hash (if given) or
    /// the code changed meanwhile.
    pub async fn replace_password(&self, c: &PasswordChange<'_>, event: &AuditEvent) -> Result<bool> {
        let now = now_micros();
        let mut tx = self.write_tx().await?;
        if let Some(code_hash) = c.reset_code {
            let consumed =
                sqlx::query("DELETE FROM otp_codes WHERE user_id = $1 AND purpose = 'reset' AND code_hash = $2")
                    .bind(c.user_id.to_string())
                    .bind(code_hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if consumed != 1 {
                return Ok(false);
            }
        }
        let updated = sqlx::query(
            "UPDATE users SET password = $3, updated_at = $4 WHERE id = $1 AND ($2 IS NULL OR password = $2)",
        )
        .bind(c.user_id.to_string())
        .bind(c.old_hash)
        .bind(c.new_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(false);
        }
        revoke_all(&mut tx, c.user_id, c.reason).await?;
        // A pending SMS reset code must not outlive the password it resets.
        sqlx::query("DELETE FROM otp_codes WHERE user_id = $1 AND purpose = 'reset'")
            .bind(c.user_id.to_string())
            .execute(&mut *tx)
            .await?;
        if let Some(session) = c.new_session {
            insert_session(&mut tx, session).await?;
        }
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }
}
