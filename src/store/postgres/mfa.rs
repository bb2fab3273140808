//! Second factors (contract §15): TOTP enrolments, recovery codes and the
//! sign-ins waiting for their second factor.

use sqlx::PgConnection;

use super::Store;
use super::audit::insert_audit;
use super::sessions::revoke_all;
use crate::domain::mfa::{MFA_MAX_FAILURES, MFA_TOKEN_SECS, MfaStatus, MfaSummary, Totp};
use crate::domain::{AuditEvent, UserId};
use crate::error::Result;

const MAX_FAILURES: i32 = MFA_MAX_FAILURES as i32;

impl Store {
    /// The user's second factors as stored.
    pub async fn mfa_status(&self, user: UserId) -> Result<MfaStatus> {
        let r = sqlx::query!(
            r#"SELECT t.secret AS "secret?", t.confirmed_at IS NOT NULL AS "confirmed?", t.last_step AS "last_step?",
                      (SELECT count(*) FROM mfa_recovery_codes c WHERE c.user_id = $1 AND c.used_at IS NULL) AS "left!",
                      (SELECT count(*) FROM passkeys p WHERE p.user_id = $1) AS "passkeys!"
                 FROM (SELECT 1) one LEFT JOIN mfa_totp t ON t.user_id = $1"#,
            user.to_string(),
        )
        .fetch_one(&self.pool)
        .await?;
        let totp = match (r.secret, r.confirmed, r.last_step) {
            (Some(secret), Some(confirmed), Some(last_step)) => Some(Totp { secret, confirmed, last_step }),
            _ => None,
        };
        let count = |n: i64| u32::try_from(n).unwrap_or(0);
        Ok(MfaStatus { totp, recovery_codes_left: count(r.left), passkeys: count(r.passkeys) })
    }

    /// Stores a pending TOTP secret, replacing a pending one; false (and
    /// nothing changed) when TOTP is active.
    pub async fn begin_totp(&self, user: UserId, secret: &str) -> Result<bool> {
        let done = sqlx::query!(
            "INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
                                               last_step = -1
             WHERE mfa_totp.confirmed_at IS NULL",
            user.to_string(),
            secret,
            self.now(),
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Activates the pending TOTP whose secret is `secret` and replaces the
    /// recovery codes, with the event, in one transaction. False when the
    /// pending secret changed or was activated meanwhile.
    pub async fn confirm_totp(
        &self,
        user: UserId,
        secret: &str,
        step: i64,
        recovery: &[String],
        event: &AuditEvent,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query!(
            "UPDATE mfa_totp SET confirmed_at = $3, last_step = $4
              WHERE user_id = $1 AND secret = $2 AND confirmed_at IS NULL",
            user.to_string(),
            secret,
            now,
            step,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        put_recovery_codes(&mut tx, user, recovery, now).await?;
        insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(true)
    }

    /// Accepts `step` of the active TOTP unless a code of it or a later
    /// step was accepted already (a replay): false then.
    pub async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
            user.to_string(),
            step,
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes TOTP and the recovery codes, with the event; false when
    /// TOTP was not active.
    pub async fn disable_totp(&self, user: UserId, event: &AuditEvent) -> Result<bool> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query!("DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL", user.to_string())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query!("DELETE FROM mfa_recovery_codes WHERE user_id = $1", user.to_string()).execute(&mut *tx).await?;
        insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(true)
    }

    /// Replaces the recovery codes, with the event; false without an
    /// active second factor (the TOTP row is locked meanwhile, so a
    /// concurrent disable cannot leave codes behind).
    pub async fn replace_recovery_codes(&self, user: UserId, recovery: &[String], event: &AuditEvent) -> Result<bool> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let active = sqlx::query_scalar!(
            "SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL FOR UPDATE",
            user.to_string()
        )
        .fetch_optional(&mut *tx)
        .await?;
        if active.is_none() {
            return Ok(false);
        }
        put_recovery_codes(&mut tx, user, recovery, now).await?;
        insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(true)
    }

    /// Spends an unused recovery code, with the event; false when it is
    /// not one (wrong, or used already).
    pub async fn use_recovery_code(&self, user: UserId, code_hash: &str, event: &AuditEvent) -> Result<bool> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query!(
            "UPDATE mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            user.to_string(),
            code_hash,
            now,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(true)
    }

    /// Records a new `mfa_token` (by its jti), alive until `expires` (unix
    /// seconds); challenges expired for five minutes or more go.
    pub async fn open_mfa_challenge(&self, jti: &str, user: UserId, expires: i64) -> Result<()> {
        sqlx::query!(
            "WITH old AS (DELETE FROM mfa_challenges WHERE expires_at < $4)
             INSERT INTO mfa_challenges (jti, user_id, expires_at) VALUES ($1, $2, $3)",
            jti,
            user.to_string(),
            expires,
            expires - 2 * MFA_TOKEN_SECS,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// True while the challenge may still be answered: not spent, not
    /// expired at `now` (unix seconds), fewer than five wrong answers.
    pub async fn mfa_challenge_live(&self, jti: &str, now: i64) -> Result<bool> {
        let live = sqlx::query_scalar!(
            "SELECT 1 FROM mfa_challenges WHERE jti = $1 AND used_at IS NULL AND expires_at > $2 AND failures < $3",
            jti,
            now,
            MAX_FAILURES,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(live.is_some())
    }

    /// Counts a wrong answer to the challenge, with the event.
    pub async fn fail_mfa_challenge(&self, jti: &str, event: &AuditEvent) -> Result<()> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        sqlx::query!("UPDATE mfa_challenges SET failures = failures + 1 WHERE jti = $1", jti).execute(&mut *tx).await?;
        insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(())
    }

    /// Spends the challenge on its one successful answer; false when it
    /// was spent, killed or expired meanwhile.
    pub async fn spend_mfa_challenge(&self, jti: &str, now: i64) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE mfa_challenges SET used_at = $4
              WHERE jti = $1 AND used_at IS NULL AND expires_at > $2 AND failures < $3",
            jti,
            now,
            MAX_FAILURES,
            self.now(),
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes every second factor of the user and revokes every session,
    /// with the event (an admin's MFA reset), in one transaction.
    pub async fn reset_mfa(&self, user: UserId, event: &AuditEvent) -> Result<u64> {
        let now = self.now();
        let id = user.to_string();
        let mut tx = self.pool.begin().await?;
        sqlx::query!("DELETE FROM mfa_totp WHERE user_id = $1", id).execute(&mut *tx).await?;
        sqlx::query!("DELETE FROM mfa_recovery_codes WHERE user_id = $1", id).execute(&mut *tx).await?;
        sqlx::query!("DELETE FROM mfa_challenges WHERE user_id = $1", id).execute(&mut *tx).await?;
        sqlx::query!("DELETE FROM passkeys WHERE user_id = $1", id).execute(&mut *tx).await?;
        sqlx::query!("DELETE FROM webauthn_ceremonies WHERE user_id = $1", id).execute(&mut *tx).await?;
        let n = revoke_all(&mut tx, user, "mfa_reset", now).await?;
        insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(n)
    }

    /// Each user's second factors, for the admin user object.
    pub async fn mfa_summaries(&self, users: &[UserId]) -> Result<Vec<(UserId, MfaSummary)>> {
        let ids: Vec<String> = users.iter().map(ToString::to_string).collect();
        let found = sqlx::query!(
            r#"SELECT u.id AS "id!",
                      EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS "totp!",
                      (SELECT count(*) FROM passkeys p WHERE p.user_id = u.id) AS "passkeys!"
                 FROM unnest($1::text[]) u(id)"#,
            &ids,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(users
            .iter()
            .map(|u| {
                let row = found.iter().find(|r| r.id == u.to_string());
                let summary =
                    row.map(|r| MfaSummary { totp: r.totp, passkeys: u32::try_from(r.passkeys).unwrap_or(0) });
                (*u, summary.unwrap_or_default())
            })
            .collect())
    }
}

/// The user's recovery codes become `hashes` (the old ones die), inside
/// the caller's transaction.
async fn put_recovery_codes(conn: &mut PgConnection, user: UserId, hashes: &[String], now: i64) -> Result<()> {
    let id = user.to_string();
    sqlx::query!("DELETE FROM mfa_recovery_codes WHERE user_id = $1", id).execute(&mut *conn).await?;
    sqlx::query!(
        "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) SELECT $1, h, $3 FROM unnest($2::text[]) h",
        id,
        hashes,
        now,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
