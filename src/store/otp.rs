//! Six-digit codes and the quotas of account recovery (security finding 8).
//!
//! A code belongs to the network that asked for it (IPv4 /24, IPv6 /64):
//! each network holds at most one live code per user and purpose, and a new
//! code replaces only that network's, so a stranger asking for codes cannot
//! void the one the owner asked for. Codes sent, guesses judged and reset
//! emails sent are counted per account and per requesting network in
//! `recovery_events` (sliding windows), so one network cannot spend the
//! account's whole quota. Quota checks and the change they allow run in one
//! write transaction, serialized per user.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::Row;

use super::audit::insert_audit;
use super::row::Cols;
use super::{Store, micros, now_micros};
use crate::domain::{AuditEvent, UserId};
use crate::error::Result;

/// Wrong guesses from a code's own network after which it is void; guesses
/// from other networks never void it (they are bounded by `GUESSES`).
pub const MAX_ATTEMPTS: i64 = 5;

/// At most `per_network` from one network and `per_account` in all, within
/// any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_account: i64,
    pub per_network: i64,
    pub window: Duration,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Codes sent per user and purpose: an attacker's network gets 3 of the
/// day's 10, so the owner keeps at least 7 (3 from any one network).
pub const CODES: Quota = Quota { per_account: 10, per_network: 3, window: DAY };
/// Guesses judged per user and purpose: at most 50 a day whatever the
/// networks, so a 6-digit code falls to brute force with a chance of about
/// 1 in 10,000 a day (each guess is judged against at most two codes);
/// one network gets 10 of them.
pub const GUESSES: Quota = Quota { per_account: 50, per_network: 10, window: DAY };
/// Reset emails per user: every link in them works, so the cap is about
/// flooding a mailbox, not about locking the owner out.
pub const RESET_EMAILS: Quota = Quota { per_account: 3, per_network: 2, window: Duration::from_secs(3600) };

/// Events older than the longest window are of no use.
const KEEP: Duration = DAY;

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

    fn code_sent(self) -> &'static str {
        match self {
            OtpPurpose::Verify => "verify_code",
            OtpPurpose::Reset => "reset_code",
        }
    }

    fn guess(self) -> &'static str {
        match self {
            OtpPurpose::Verify => "verify_guess",
            OtpPurpose::Reset => "reset_guess",
        }
    }
}

/// Which quota refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// The requesting network's share.
    Network,
    /// The account's total.
    Account,
}

impl Spent {
    pub fn as_str(self) -> &'static str {
        match self {
            Spent::Network => "network",
            Spent::Account => "account",
        }
    }
}

/// A code about to be stored for the network that asked for it.
#[derive(Debug, Clone, Copy)]
pub struct NewCode<'a> {
    pub purpose: OtpPurpose,
    /// The requester's network (`domain::network`), or "" when unknown.
    pub network: &'a str,
    pub code_hash: &'a str,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// A live code a guess may be judged against, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpCheck {
    pub code_hash: String,
}

/// What a guess may be judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The guess is counted; these codes may match (none: no live code).
    Judge(Vec<OtpCheck>),
    /// A guess quota is spent: nothing is judged.
    Refused(Spent),
}

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

const RESET_EMAIL: &str = "reset_email";

/// Quota checks and the writes they allow are serialized per user: SQLite's
/// write transactions are serial already; PostgreSQL takes this lock.
fn recovery_lock(user_id: UserId) -> String {
    format!("authgate.recovery.{user_id}")
}

/// A live code as `take_otp_attempt` reads it, newest first.
#[derive(Debug, Clone)]
struct LiveCode {
    code_hash: String,
    network: String,
    /// Guesses from its own network, this one included if it is the
    /// guesser's.
    attempts: i64,
}

/// The codes a guess from `network` is judged against, from the live codes
/// newest first: its own network's, while that has attempts left, and the
/// newest of all, unless its own network has voided it.
fn judged_against(live: Vec<LiveCode>, network: &str) -> Vec<OtpCheck> {
    live.into_iter()
        .enumerate()
        .filter(|(i, c)| {
            let own = c.network == network;
            (own && c.attempts <= MAX_ATTEMPTS) || (!own && *i == 0 && c.attempts < MAX_ATTEMPTS)
        })
        .map(|(_, c)| OtpCheck { code_hash: c.code_hash })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn code(hash: &str, network: &str, attempts: i64) -> LiveCode {
        LiveCode { code_hash: hash.into(), network: network.into(), attempts }
    }

    fn hashes(checks: Vec<OtpCheck>) -> Vec<String> {
        checks.into_iter().map(|c| c.code_hash).collect()
    }

    const MINE: &str = "203.0.113.0/24";
    const THEIRS: &str = "198.51.100.0/24";

    #[test]
    fn a_guess_is_judged_against_its_own_networks_code_and_the_newest() {
        let live = vec![code("newest", THEIRS, 0), code("mine", MINE, 1), code("older", "192.0.2.0/24", 0)];
        assert_eq!(hashes(judged_against(live, MINE)), ["newest", "mine"]);
    }

    #[test]
    fn the_own_code_counts_this_guess_and_is_void_after_five() {
        assert_eq!(hashes(judged_against(vec![code("mine", MINE, 5)], MINE)), ["mine"], "the fifth guess");
        assert!(judged_against(vec![code("mine", MINE, 6)], MINE).is_empty(), "a sixth guess");
    }

    #[test]
    fn another_networks_code_is_judged_only_while_it_is_the_newest_and_not_void() {
        assert_eq!(hashes(judged_against(vec![code("theirs", THEIRS, 4)], MINE)), ["theirs"]);
        assert!(judged_against(vec![code("theirs", THEIRS, 5)], MINE).is_empty(), "void by its own network");
        let older = vec![code("newest", "192.0.2.0/24", 5), code("theirs", THEIRS, 0)];
        assert!(judged_against(older, MINE).is_empty(), "neither mine nor the newest usable");
    }

    #[test]
    fn no_live_code_judges_nothing() {
        assert!(judged_against(Vec::new(), MINE).is_empty());
    }
}
