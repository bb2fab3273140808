//! Second factors (contract §15): TOTP enrolments, recovery codes and the
//! sign-ins waiting for their second factor.

use rusqlite::{OptionalExtension, params};

use super::sessions::revoke_all;
use super::writer::{row, rows};
use super::{Store, Tx};
use crate::domain::mfa::{MFA_MAX_FAILURES, MFA_TOKEN_SECS, MfaStatus, MfaSummary, Totp};
use crate::domain::{AuditEvent, UserId, micros};
use crate::error::Result;

impl Store {
    /// The user's second factors as stored.
    pub async fn mfa_status(&self, user: UserId) -> Result<MfaStatus> {
        let id = user.to_string();
        self.read(move |conn| {
            let totp = row(
                conn,
                "SELECT secret, confirmed_at IS NOT NULL, last_step FROM mfa_totp WHERE user_id = ?1",
                [&id],
                |r| Ok(Totp { secret: r.get(0)?, confirmed: r.get(1)?, last_step: r.get(2)? }),
            )?;
            let left: u32 = conn
                .prepare_cached("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ?1 AND used_at IS NULL")?
                .query_row([&id], |r| r.get(0))?;
            let passkeys: u32 = conn
                .prepare_cached("SELECT count(*) FROM passkeys WHERE user_id = ?1")?
                .query_row([&id], |r| r.get(0))?;
            Ok(MfaStatus { totp, recovery_codes_left: left, passkeys })
        })
        .await
    }

    /// Stores a pending TOTP secret, replacing a pending one; false (and
    /// nothing changed) when TOTP is active.
    pub async fn begin_totp(&self, user: UserId, secret: &str) -> Result<bool> {
        let (id, secret) = (user.to_string(), secret.to_owned());
        self.write(move |tx| {
            let n = tx.exec(
                "INSERT INTO mfa_totp (user_id, secret, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
                                                   last_step = -1
                 WHERE mfa_totp.confirmed_at IS NULL",
                params![id, secret, micros(tx.now())],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Activates the pending TOTP whose secret is `secret`, with `step` as
    /// its last accepted step, and replaces the recovery codes, with the
    /// event. False when the pending secret changed or was activated.
    pub async fn confirm_totp(
        &self,
        user: UserId,
        secret: &str,
        step: i64,
        recovery: &[String],
        event: &AuditEvent,
    ) -> Result<bool> {
        let (id, secret, recovery, event) = (user.to_string(), secret.to_owned(), recovery.to_vec(), event.clone());
        self.write(move |tx| {
            let n = tx.exec(
                "UPDATE mfa_totp SET confirmed_at = ?3, last_step = ?4
                  WHERE user_id = ?1 AND secret = ?2 AND confirmed_at IS NULL",
                params![id, secret, micros(tx.now()), step],
            )?;
            if n == 0 {
                return Ok(false);
            }
            put_recovery_codes(tx, &id, &recovery)?;
            tx.audit(event)?;
            Ok(true)
        })
        .await
    }

    /// Accepts `step` of the active TOTP unless a code of it or a later
    /// step was accepted already (a replay): false then.
    pub async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        let id = user.to_string();
        self.write(move |tx| {
            let n = tx.exec(
                "UPDATE mfa_totp SET last_step = ?2
                  WHERE user_id = ?1 AND confirmed_at IS NOT NULL AND last_step < ?2",
                params![id, step],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Removes TOTP and the recovery codes, with the event; false when
    /// TOTP was not active.
    pub async fn disable_totp(&self, user: UserId, event: &AuditEvent) -> Result<bool> {
        let (id, event) = (user.to_string(), event.clone());
        self.write(move |tx| {
            let n = tx.exec("DELETE FROM mfa_totp WHERE user_id = ?1 AND confirmed_at IS NOT NULL", [&id])?;
            if n == 0 {
                return Ok(false);
            }
            tx.exec("DELETE FROM mfa_recovery_codes WHERE user_id = ?1", [&id])?;
            tx.audit(event)?;
            Ok(true)
        })
        .await
    }

    /// Replaces the recovery codes, with the event; false without an
    /// active second factor.
    pub async fn replace_recovery_codes(&self, user: UserId, recovery: &[String], event: &AuditEvent) -> Result<bool> {
        let (id, recovery, event) = (user.to_string(), recovery.to_vec(), event.clone());
        self.write(move |tx| {
            let active: Option<i64> = tx
                .conn
                .prepare_cached("SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND confirmed_at IS NOT NULL")?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            if active.is_none() {
                return Ok(false);
            }
            put_recovery_codes(tx, &id, &recovery)?;
            tx.audit(event)?;
            Ok(true)
        })
        .await
    }

    /// Spends an unused recovery code, with the event; false when it is
    /// not one (wrong, or used already).
    pub async fn use_recovery_code(&self, user: UserId, code_hash: &str, event: &AuditEvent) -> Result<bool> {
        let (id, hash, event) = (user.to_string(), code_hash.to_owned(), event.clone());
        self.write(move |tx| {
            let n = tx.exec(
                "UPDATE mfa_recovery_codes SET used_at = ?3 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
                params![id, hash, micros(tx.now())],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.audit(event)?;
            Ok(true)
        })
        .await
    }

    /// Records a new `mfa_token` (by its jti), alive until `expires` (unix
    /// seconds); challenges expired for five minutes or more go.
    pub async fn open_mfa_challenge(&self, jti: &str, user: UserId, expires: i64) -> Result<()> {
        let (jti, id) = (jti.to_owned(), user.to_string());
        self.write(move |tx| {
            tx.exec("DELETE FROM mfa_challenges WHERE expires_at < ?1", [expires - 2 * MFA_TOKEN_SECS])?;
            tx.exec(
                "INSERT INTO mfa_challenges (jti, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![jti, id, expires],
            )
            .map(drop)
        })
        .await
    }

    /// True while the challenge may still be answered: not spent, not
    /// expired at `now` (unix seconds), fewer than five wrong answers.
    pub async fn mfa_challenge_live(&self, jti: &str, now: i64) -> Result<bool> {
        let jti = jti.to_owned();
        self.read(move |conn| {
            let live = row(conn, LIVE_CHALLENGE, params![jti, now, MFA_MAX_FAILURES], |r| r.get::<_, i64>(0))?;
            Ok(live.is_some())
        })
        .await
    }

    /// Counts a wrong answer to the challenge, with the event.
    pub async fn fail_mfa_challenge(&self, jti: &str, event: &AuditEvent) -> Result<()> {
        let (jti, event) = (jti.to_owned(), event.clone());
        self.write(move |tx| {
            tx.exec("UPDATE mfa_challenges SET failures = failures + 1 WHERE jti = ?1", [&jti])?;
            tx.audit(event)
        })
        .await
    }

    /// Spends the challenge on its one successful answer; false when it
    /// was spent, killed or expired meanwhile.
    pub async fn spend_mfa_challenge(&self, jti: &str, now: i64) -> Result<bool> {
        let jti = jti.to_owned();
        self.write(move |tx| {
            let n = tx.exec(
                "UPDATE mfa_challenges SET used_at = ?4
                  WHERE jti = ?1 AND used_at IS NULL AND expires_at > ?2 AND failures < ?3",
                params![jti, now, MFA_MAX_FAILURES, micros(tx.now())],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Removes every second factor of the user and revokes every session,
    /// with the event (an admin's MFA reset).
    pub async fn reset_mfa(&self, user: UserId, event: &AuditEvent) -> Result<u64> {
        let (id, event) = (user.to_string(), event.clone());
        self.write(move |tx| {
            tx.exec("DELETE FROM mfa_totp WHERE user_id = ?1", [&id])?;
            tx.exec("DELETE FROM mfa_recovery_codes WHERE user_id = ?1", [&id])?;
            tx.exec("DELETE FROM mfa_challenges WHERE user_id = ?1", [&id])?;
            tx.exec("DELETE FROM passkeys WHERE user_id = ?1", [&id])?;
            tx.exec("DELETE FROM webauthn_ceremonies WHERE user_id = ?1", [&id])?;
            let n = revoke_all(tx, &id, "mfa_reset")?;
            tx.audit(event)?;
            Ok(n)
        })
        .await
    }

    /// Each user's second factors, for the admin user object.
    pub async fn mfa_summaries(&self, users: &[UserId]) -> Result<Vec<(UserId, MfaSummary)>> {
        let ids: Vec<String> = users.iter().map(ToString::to_string).collect();
        self.read(move |conn| {
            let json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
            rows(
                conn,
                "SELECT j.value,
                        EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = j.value AND t.confirmed_at IS NOT NULL),
                        (SELECT count(*) FROM passkeys p WHERE p.user_id = j.value)
                   FROM json_each(?1) j",
                [json],
                |r| Ok((r.get::<_, String>(0)?, MfaSummary { totp: r.get(1)?, passkeys: r.get(2)? })),
            )
        })
        .await
        .map(|found| {
            users
                .iter()
                .map(|u| {
                    let summary = found.iter().find(|(id, _)| *id == u.to_string()).map(|(_, s)| *s);
                    (*u, summary.unwrap_or_default())
                })
                .collect()
        })
    }
}

const LIVE_CHALLENGE: &str =
    "SELECT 1 FROM mfa_challenges WHERE jti = ?1 AND used_at IS NULL AND expires_at > ?2 AND failures < ?3";

/// The user's recovery codes become `hashes` (the old ones die).
fn put_recovery_codes(tx: &Tx<'_>, user: &str, hashes: &[String]) -> rusqlite::Result<()> {
    tx.exec("DELETE FROM mfa_recovery_codes WHERE user_id = ?1", [user])?;
    let now = micros(tx.now());
    for hash in hashes {
        tx.exec(
            "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)",
            params![user, hash, now],
        )?;
    }
    Ok(())
}
