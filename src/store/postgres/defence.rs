//! Recent events by key (contract §20, `defence::events`).

use chrono::{DateTime, Utc};

use super::Store;
use crate::domain::micros;
use crate::error::Result;

impl Store {
    pub async fn note_event(&self, key: &str, at: DateTime<Utc>, expires: DateTime<Utc>) -> Result<()> {
        sqlx::query!(
            "INSERT INTO defence_events (event_key, at, expires_at) VALUES ($1, $2, $3)",
            key,
            micros(at),
            micros(expires),
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn count_events(&self, key: &str, since: DateTime<Utc>, cap: u32) -> Result<u32> {
        let n = sqlx::query_scalar!(
            r#"SELECT COUNT(*) AS "n!" FROM (
                   SELECT 1 FROM defence_events WHERE event_key = $1 AND at >= $2 LIMIT $3
               ) AS recent"#,
            key,
            micros(since),
            i64::from(cap),
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Under the key's lock, so that concurrent takes on any number of
    /// instances never pass the limit together.
    pub async fn take_event(
        &self,
        key: &str,
        since: DateTime<Utc>,
        limit: u32,
        at: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        Store::lock_for(&mut tx, &format!("authgate.defence_events:{key}")).await?;
        let taken = sqlx::query_scalar!(
            r#"WITH recent AS (
                   SELECT COUNT(*) AS n FROM (
                       SELECT 1 FROM defence_events WHERE event_key = $1 AND at >= $2 LIMIT $3
                   ) AS r
               ), added AS (
                   INSERT INTO defence_events (event_key, at, expires_at)
                   SELECT $1, $4, $5 FROM recent WHERE n < $3
                   RETURNING 1
               )
               SELECT EXISTS (SELECT 1 FROM added) AS "taken!""#,
            key,
            micros(since),
            i64::from(limit),
            micros(at),
            micros(expires),
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(taken)
    }

    pub async fn sweep_events(&self, now: DateTime<Utc>) -> Result<u64> {
        let done =
            sqlx::query!("DELETE FROM defence_events WHERE expires_at < $1", micros(now)).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
