//! Recent events by key (contract §20, `defence::events`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::Store;
use crate::domain::micros;
use crate::error::Result;

impl Store {
    pub async fn note_event(&self, key: &str, at: DateTime<Utc>, expires: DateTime<Utc>) -> Result<()> {
        let key = key.to_owned();
        self.write(move |tx| {
            tx.exec(
                "INSERT INTO defence_events (event_key, at, expires_at) VALUES (?1, ?2, ?3)",
                params![key, micros(at), micros(expires)],
            )
            .map(drop)
        })
        .await
    }

    pub async fn count_events(&self, key: &str, since: DateTime<Utc>, cap: u32) -> Result<u32> {
        let key = key.to_owned();
        self.read(move |conn| count(conn, &key, since, cap)).await
    }

    /// Counted and written in one write: the writer thread runs one at a
    /// time, so concurrent takes never pass the limit together.
    pub async fn take_event(
        &self,
        key: &str,
        since: DateTime<Utc>,
        limit: u32,
        at: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        let key = key.to_owned();
        self.write(move |tx| {
            if count(tx.conn, &key, since, limit)? >= limit {
                return Ok(false);
            }
            tx.exec(
                "INSERT INTO defence_events (event_key, at, expires_at) VALUES (?1, ?2, ?3)",
                params![key, micros(at), micros(expires)],
            )?;
            Ok(true)
        })
        .await
    }

    pub async fn sweep_events(&self, now: DateTime<Utc>) -> Result<u64> {
        self.write(move |tx| tx.exec("DELETE FROM defence_events WHERE expires_at < ?1", [micros(now)]))
            .await
            .map(|n| n as u64)
    }
}

/// Up to `cap` events of `key` since `since` (the count stops there).
fn count(conn: &Connection, key: &str, since: DateTime<Utc>, cap: u32) -> rusqlite::Result<u32> {
    let mut stmt = conn.prepare_cached(
        "SELECT COUNT(*) FROM (SELECT 1 FROM defence_events WHERE event_key = ?1 AND at >= ?2 LIMIT ?3)",
    )?;
    let n: i64 = stmt.query_row(params![key, micros(since), i64::from(cap)], |r| r.get(0))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
