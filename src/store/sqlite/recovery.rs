//! Codes and recovery quotas; the rules are `domain::recovery`'s. A quota
//! check and the change it allows run in one write, so they are serial.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::writer::rows;
use super::{Store, Tx};
use crate::domain::recovery::{
    Attempt, CODES, GUESSES, KEEP, LiveCode, NewCode, OtpPurpose, Quota, RESET_EMAIL, RESET_EMAILS, Spent,
    judged_against,
};
use crate::domain::{AuditEvent, UserId, micros};
use crate::error::Result;

/// A `NewCode` that can wait in the writer's queue.
pub(super) struct OwnedCode {
    purpose: OtpPurpose,
    network: String,
    code_hash: String,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl OwnedCode {
    pub fn of(c: &NewCode<'_>) -> OwnedCode {
        OwnedCode {
            purpose: c.purpose,
            network: c.network.to_owned(),
            code_hash: c.code_hash.to_owned(),
            expires_at: c.expires_at,
            now: c.now,
        }
    }

    pub fn borrow(&self) -> NewCode<'_> {
        NewCode {
            purpose: self.purpose,
            network: &self.network,
            code_hash: &self.code_hash,
            expires_at: self.expires_at,
            now: self.now,
        }
    }
}

impl Store {
    /// Stores a new code for the requesting network (replacing only that
    /// network's), counts it and records the event, unless a code quota is
    /// spent (then nothing changes).
    pub async fn replace_otp(
        &self,
        user: UserId,
        code: &NewCode<'_>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<(), Spent>> {
        let (code, event) = (OwnedCode::of(code), event.clone());
        self.write(move |tx| {
            let code = code.borrow();
            if let Some(spent) = spent(tx, user, code.purpose.code_sent(), code.network, &CODES, code.now)? {
                return Ok(Err(spent));
            }
            upsert_otp(tx, user, &code)?;
            tx.audit(event)?;
            Ok(Ok(()))
        })
        .await
    }

    /// Counts a guess from `network` (unless a guess quota is spent) and
    /// returns the codes it is judged against, spending an attempt of the
    /// network's own code. Counting first: a guess is paid for before it
    /// is judged.
    pub async fn take_otp_attempt(
        &self,
        user: UserId,
        purpose: OtpPurpose,
        network: &str,
        now: DateTime<Utc>,
    ) -> Result<Attempt> {
        let network = network.to_owned();
        self.write(move |tx| {
            if let Some(spent) = spent(tx, user, purpose.guess(), &network, &GUESSES, now)? {
                return Ok(Attempt::Refused(spent));
            }
            record(tx, user, purpose.guess(), &network, now)?;
            let id = user.to_string();
            tx.exec(
                "UPDATE otp_codes SET attempts = attempts + 1 WHERE user_id = ?1 AND purpose = ?2 AND network = ?3",
                [&id, purpose.as_str(), &network],
            )?;
            let live = rows(
                tx.conn,
                "SELECT code_hash, network, attempts FROM otp_codes
                  WHERE user_id = ?1 AND purpose = ?2 AND expires_at > ?3
                  ORDER BY created_at DESC, network DESC",
                params![id, purpose.as_str(), micros(now)],
                |r| Ok(LiveCode { code_hash: r.get(0)?, network: r.get(1)?, attempts: r.get(2)? }),
            )?;
            Ok(Attempt::Judge(judged_against(live, &network)))
        })
        .await
    }

    /// Counts a reset email to the user and records the event, unless a
    /// reset-email quota is spent (then nothing changes).
    pub async fn take_reset_email(
        &self,
        user: UserId,
        network: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<(), Spent>> {
        let (network, event) = (network.to_owned(), event.clone());
        self.write(move |tx| {
            if let Some(spent) = spent(tx, user, RESET_EMAIL, &network, &RESET_EMAILS, now)? {
                return Ok(Err(spent));
            }
            record(tx, user, RESET_EMAIL, &network, now)?;
            tx.audit(event)?;
            Ok(Ok(()))
        })
        .await
    }

    /// Consumes a verification code after a correct guess, with every other
    /// verification code of the user, and marks the user verified, with the
    /// event, in one write. False if the code was consumed or replaced
    /// meanwhile.
    pub async fn consume_verify_otp(&self, user: UserId, code_hash: &str, event: &AuditEvent) -> Result<bool> {
        let (code_hash, event) = (code_hash.to_owned(), event.clone());
        self.write(move |tx| {
            let id = user.to_string();
            let sql = "DELETE FROM otp_codes WHERE user_id = ?1 AND purpose = 'verify' AND code_hash = ?2";
            let gone = tx.exec(sql, [&id, &code_hash])? == 1;
            if gone {
                tx.exec("DELETE FROM otp_codes WHERE user_id = ?1 AND purpose = 'verify'", [&id])?;
                let sql = "UPDATE users SET is_verified = TRUE, updated_at = ?2 WHERE id = ?1";
                tx.exec(sql, params![id, micros(tx.now())])?;
                tx.audit(event)?;
            }
            Ok(gone)
        })
        .await
    }
}

/// Which quota, if any, forbids one more `kind` event for the user from
/// `network` at `now`.
fn spent(
    tx: &Tx<'_>,
    user: UserId,
    kind: &str,
    network: &str,
    quota: &Quota,
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<Spent>> {
    let since = micros(now) - i64::try_from(quota.window.as_micros()).unwrap_or(i64::MAX);
    let (account, from_network): (i64, i64) = tx
        .conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN network = ?3 THEN 1 ELSE 0 END), 0)
               FROM recovery_events WHERE user_id = ?1 AND kind = ?2 AND at > ?4",
        )?
        .query_row(params![user.to_string(), kind, network, since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(if from_network >= quota.per_network {
        Some(Spent::Network)
    } else if account >= quota.per_account {
        Some(Spent::Account)
    } else {
        None
    })
}

/// Counts one `kind` event, and forgets the user's events too old to count.
fn record(tx: &Tx<'_>, user: UserId, kind: &str, network: &str, now: DateTime<Utc>) -> rusqlite::Result<()> {
    let (id, at) = (user.to_string(), micros(now));
    let keep = i64::try_from(KEEP.as_micros()).unwrap_or(i64::MAX);
    tx.exec("DELETE FROM recovery_events WHERE user_id = ?1 AND at <= ?2", params![id, at - keep])?;
    tx.exec(
        "INSERT INTO recovery_events (user_id, kind, network, at) VALUES (?1, ?2, ?3, ?4)",
        params![id, kind, network, at],
    )?;
    Ok(())
}

/// Stores a new code for the user, purpose and network, replacing that
/// network's previous one, and counts it.
pub(super) fn upsert_otp(tx: &Tx<'_>, user: UserId, code: &NewCode<'_>) -> rusqlite::Result<()> {
    tx.exec(
        "INSERT INTO otp_codes (user_id, purpose, network, code_hash, expires_at, attempts, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)
         ON CONFLICT (user_id, purpose, network) DO UPDATE
            SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0,
                created_at = excluded.created_at",
        params![
            user.to_string(),
            code.purpose.as_str(),
            code.network,
            code.code_hash,
            micros(code.expires_at),
            micros(code.now)
        ],
    )?;
    record(tx, user, code.purpose.code_sent(), code.network, code.now)
}
