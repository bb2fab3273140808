//! The sign-in defence's state in the database (contract §14.1): failure
//! counters per login id and per (login id, trusted network), and the
//! networks each account signed in from. The rules are
//! `domain::soft_lock`'s; here they are applied under a lock, so that
//! concurrent attempts on any number of instances count exactly.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::row::Cols;
use super::{Store, from_micros, micros};
use crate::domain::UserId;
use crate::domain::network::network;
use crate::domain::session::NewSession;
use crate::domain::soft_lock::{Charge, Failures, SoftLock, Verdict};
use crate::error::Result;

/// The login id's own counter has no network.
const LOGIN_WIDE: &str = "";

impl Store {
    /// Judges an attempt by the counter `charge` names and, when it may go
    /// ahead, counts it as a failure at once on every counter of `charge`
    /// (a correct password resets them; see `reset_login_failures`). Judging
    /// and counting in one locked step means that of many concurrent
    /// attempts only as many go ahead as the rules allow.
    pub async fn login_attempt(&self, lock: SoftLock, charge: &Charge, now: DateTime<Utc>) -> Result<Verdict> {
        let mut tx = self.write_tx().await?;
        self.lock_for(&mut tx, &format!("authgate.login_failures:{}", charge.login)).await?;
        let login_wide = read_counter(&mut tx, &charge.login, LOGIN_WIDE).await?;
        let on_network = match charge.network.as_deref() {
            Some(network) => Some((network, read_counter(&mut tx, &charge.login, network).await?)),
            None => None,
        };
        let judged = on_network.map_or(login_wide, |(_, failures)| failures);
        let verdict = lock.judge(judged, now);
        if verdict == Verdict::Allowed {
            write_counter(&mut tx, &charge.login, LOGIN_WIDE, login_wide.after_failure(now)).await?;
            if let Some((network, failures)) = on_network {
                write_counter(&mut tx, &charge.login, network, failures.after_failure(now)).await?;
            }
        }
        tx.commit().await?;
        Ok(verdict)
    }

    /// Takes back the failure `login_attempt` counted, for an attempt that
    /// turned out not to be wrong credentials (an inactive account).
    pub async fn forgive_login_attempt(&self, charge: &Charge) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let counters = std::iter::once(LOGIN_WIDE).chain(charge.network.as_deref());
        for network in counters {
            sqlx::query(
                "UPDATE login_failures SET failures = failures - 1
                  WHERE login_key = $1 AND network = $2 AND failures > 0",
            )
            .bind(&charge.login)
            .bind(network)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every counter of the login id starts again (a successful sign-in).
    pub async fn reset_login_failures(&self, login: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE login_key = $1").bind(login).execute(&self.writer).await?;
        Ok(())
    }

    /// The login id's own counter (every failure, from any network).
    pub async fn login_failures(&self, login: &str) -> Result<Failures> {
        let mut conn = self.pool.acquire().await?;
        read_counter(&mut conn, login, LOGIN_WIDE).await
    }

    /// Whether the account signed in from `network` since `since`. Without
    /// an account it runs the same query (for an id no account has), so the
    /// work does not tell an unknown login from a known one.
    pub async fn network_trusted(&self, user: Option<UserId>, network: &str, since: DateTime<Utc>) -> Result<bool> {
        let row = sqlx::query(
            "SELECT last_success_at FROM trusted_networks
              WHERE user_id = $1 AND network = $2 AND last_success_at >= $3",
        )
        .bind(user.map(|u| u.to_string()).unwrap_or_default())
        .bind(network)
        .bind(micros(since))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Deletes counters whose window ended before `failures_before` and
    /// trust older than `trusted_before`; returns how many rows went.
    pub async fn sweep_login_defence(
        &self,
        failures_before: DateTime<Utc>,
        trusted_before: DateTime<Utc>,
    ) -> Result<u64> {
        let failures = sqlx::query("DELETE FROM login_failures WHERE latest_at < $1")
            .bind(micros(failures_before))
            .execute(&self.writer)
            .await?;
        let trust = sqlx::query("DELETE FROM trusted_networks WHERE last_success_at < $1")
            .bind(micros(trusted_before))
            .execute(&self.writer)
            .await?;
        Ok(failures.rows_affected() + trust.rows_affected())
    }
}

async fn read_counter(conn: &mut AnyConnection, login: &str, network: &str) -> Result<Failures> {
    let row = sqlx::query("SELECT failures, latest_at FROM login_failures WHERE login_key = $1 AND network = $2")
        .bind(login)
        .bind(network)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(Failures::default()) };
    let count = u32::try_from(row.int("failures")?).unwrap_or(u32::MAX);
    Ok(Failures { count, latest: from_micros(row.int("latest_at")?) })
}

async fn write_counter(conn: &mut AnyConnection, login: &str, network: &str, failures: Failures) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_failures (login_key, network, failures, latest_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (login_key, network) DO UPDATE SET failures = excluded.failures, latest_at = excluded.latest_at",
    )
    .bind(login)
    .bind(network)
    .bind(i64::from(failures.count))
    .bind(micros(failures.latest))
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that the session's user signed in from its network at `at`
/// (inside the sign-in transaction).
pub(super) async fn remember_network(conn: &mut AnyConnection, s: &NewSession, at: DateTime<Utc>) -> Result<()> {
    let Some(ip) = s.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) else { return Ok(()) };
    sqlx::query(
        "INSERT INTO trusted_networks (user_id, network, last_success_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, network) DO UPDATE SET last_success_at = excluded.last_success_at",
    )
    .bind(s.user_id.to_string())
    .bind(network(ip).to_string())
    .bind(micros(at))
    .execute(conn)
    .await?;
    Ok(())
}
