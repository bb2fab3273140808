//! The sign-in defence's counters and trusted networks (contract §14.1);
//! the rules are `domain::soft_lock`'s, applied under an advisory lock per
//! login id so that concurrent attempts on any number of instances count
//! exactly.

use chrono::{DateTime, Utc};

use super::Store;
use crate::domain::soft_lock::{Charge, Failures, SoftLock, Verdict};
use crate::domain::{UserId, from_micros, micros};
use crate::error::Result;

/// The login id's own counter has no network.
const LOGIN_WIDE: &str = "";

fn failures(count: i64, latest_at: i64) -> Failures {
    Failures { count: u32::try_from(count).unwrap_or(u32::MAX), latest: from_micros(latest_at) }
}

impl Store {
    /// Under the login id's lock: both counters read in one statement,
    /// judged, and (when the attempt may go ahead) both written in one.
    pub async fn login_attempt(&self, lock: SoftLock, charge: &Charge, now: DateTime<Utc>) -> Result<Verdict> {
        let mut tx = self.pool.begin().await?;
        Store::lock_for(&mut tx, &format!("authgate.login_failures:{}", charge.login)).await?;
        let rows = sqlx::query!(
            "SELECT network, failures, latest_at FROM login_failures
              WHERE login_key = $1 AND (network = '' OR network = $2)",
            charge.login,
            charge.network.as_deref(),
        )
        .fetch_all(&mut *tx)
        .await?;
        let counter = |network: &str| {
            rows.iter()
                .find(|r| r.network == network)
                .map_or_else(Failures::default, |r| failures(r.failures, r.latest_at))
        };
        let login_wide = counter(LOGIN_WIDE);
        let on_network = charge.network.as_deref().map(|network| (network, counter(network)));
        let verdict = lock.judge(on_network.map_or(login_wide, |(_, f)| f), now);
        if verdict == Verdict::Allowed {
            let mut counters = vec![(LOGIN_WIDE, login_wide.after_failure(now))];
            counters.extend(on_network.map(|(network, f)| (network, f.after_failure(now))));
            let networks: Vec<String> = counters.iter().map(|(n, _)| n.to_string()).collect();
            let counts: Vec<i64> = counters.iter().map(|(_, f)| i64::from(f.count)).collect();
            let latest: Vec<i64> = counters.iter().map(|(_, f)| micros(f.latest)).collect();
            sqlx::query!(
                "INSERT INTO login_failures (login_key, network, failures, latest_at)
                 SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::bigint[])
                 ON CONFLICT (login_key, network) DO UPDATE
                    SET failures = excluded.failures, latest_at = excluded.latest_at",
                charge.login,
                &networks,
                &counts,
                &latest,
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(verdict)
    }

    /// Both counters in one statement.
    pub async fn forgive_login_attempt(&self, charge: &Charge) -> Result<()> {
        sqlx::query!(
            "UPDATE login_failures SET failures = failures - 1
              WHERE login_key = $1 AND (network = '' OR network = $2) AND failures > 0",
            charge.login,
            charge.network.as_deref(),
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn reset_login_failures(&self, login: &str) -> Result<()> {
        sqlx::query!("DELETE FROM login_failures WHERE login_key = $1", login).execute(&self.pool).await?;
        Ok(())
    }

    /// The login id's own counter (every failure, from any network).
    pub async fn login_failures(&self, login: &str) -> Result<Failures> {
        let row = sqlx::query!(
            "SELECT failures, latest_at FROM login_failures WHERE login_key = $1 AND network = ''",
            login,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or_else(Failures::default, |r| failures(r.failures, r.latest_at)))
    }

    /// Without an account the same query runs, for an id no account has,
    /// so the work does not tell an unknown login from a known one.
    pub async fn network_trusted(&self, user: Option<UserId>, network: &str, since: DateTime<Utc>) -> Result<bool> {
        let trusted = sqlx::query_scalar!(
            r#"SELECT EXISTS (
                   SELECT 1 FROM trusted_networks WHERE user_id = $1 AND network = $2 AND last_success_at >= $3
               ) AS "trusted!""#,
            user.map(|u| u.to_string()).unwrap_or_default(),
            network,
            micros(since),
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(trusted)
    }

    pub async fn sweep_login_defence(
        &self,
        failures_before: DateTime<Utc>,
        trusted_before: DateTime<Utc>,
    ) -> Result<u64> {
        let swept = sqlx::query_scalar!(
            r#"WITH failures AS (
                   DELETE FROM login_failures WHERE latest_at < $1 RETURNING 1
               ), trust AS (
                   DELETE FROM trusted_networks WHERE last_success_at < $2 RETURNING 1
               )
               SELECT (SELECT COUNT(*) FROM failures) + (SELECT COUNT(*) FROM trust) AS "swept!""#,
            micros(failures_before),
            micros(trusted_before),
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(swept).unwrap_or(0))
    }
}
