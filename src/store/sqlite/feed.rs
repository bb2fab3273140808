//! The revocation feed on SQLite. Writes commit one at a time, so the
//! `revocations` table's `seq` grows in commit order and "every row past the
//! last one seen" misses nothing. Two readers of it:
//! - the writer thread, inside each batch just before its commit (one
//!   indexed range read, nearly always empty), applying what it read once
//!   the commit succeeded and before it answers: a revocation through this
//!   instance is in memory before the answer leaves;
//! - a poll on a reader connection (`AUTHGATE_REVOCATION_POLL`), for what
//!   other processes on the same file commit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, params};

use super::Store;
use super::writer::rows;
use crate::revocation::{Announcement, Revocations};

/// What the writer and the poll share.
pub(super) struct Feed {
    pub revocations: Revocations,
    /// The last `seq` applied; `None` until the first read at start.
    last: Mutex<Option<i64>>,
}

const SINCE: &str = "SELECT seq, kind, user_id, session_id FROM revocations WHERE seq > ?1 ORDER BY seq";

impl Feed {
    pub fn new(revocations: Revocations) -> Arc<Feed> {
        Arc::new(Feed { revocations, last: Mutex::new(None) })
    }

    fn last(&self) -> Option<i64> {
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies rows read past `last()`, moving `last` on.
    fn advance(&self, read: &Read) {
        self.revocations.apply(&read.rows);
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = Some(last.map_or(read.upto, |l| l.max(read.upto)));
    }

    /// Inside the writer's transaction, before it commits: the rows past
    /// the last one seen (this batch's among them). `None` before start.
    pub fn read_in_batch(&self, conn: &Connection) -> rusqlite::Result<Option<Read>> {
        match self.last() {
            Some(last) => read_since(conn, last).map(Some),
            None => Ok(None),
        }
    }

    /// Once the batch committed.
    pub fn committed(&self, read: Option<Read>) {
        if let Some(read) = read {
            self.advance(&read);
        }
    }
}

/// Rows of the feed and the highest `seq` among them (or the one read from).
pub(super) struct Read {
    rows: Vec<Announcement>,
    upto: i64,
}

fn read_since(conn: &Connection, last: i64) -> rusqlite::Result<Read> {
    let mut upto = last;
    let rows = rows(conn, SINCE, params![last], |r| {
        let seq: i64 = r.get(0)?;
        let kind: String = r.get(1)?;
        let user: String = r.get(2)?;
        let session: Option<String> = r.get(3)?;
        Ok((seq, Announcement::parse(&kind, &user, session.as_deref())))
    })?;
    let rows = rows
        .into_iter()
        .filter_map(|(seq, a)| {
            upto = upto.max(seq);
            a
        })
        .collect();
    Ok(Read { rows, upto })
}

/// At start: the highest `seq`, then the sessions revoked within `keep`
/// (by the database's clock, which wrote them).
fn read_start(conn: &Connection, keep: Duration) -> rusqlite::Result<Read> {
    let upto: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM revocations", [], |r| r.get(0))?;
    let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
    let recent = rows(
        conn,
        "SELECT user_id, session_id FROM revocations
          WHERE kind = 'session' AND seq <= ?1
            AND at >= CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) - ?2",
        params![upto, keep],
        |r| Ok(Announcement::parse("session", &r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?.as_deref())),
    )?;
    Ok(Read { rows: recent.into_iter().flatten().collect(), upto })
}

impl Store {
    pub fn revocations(&self) -> &Revocations {
        &self.feed.revocations
    }

    /// Reads the feed at start, then polls it every `every`, for ever (the
    /// caller stops it at shutdown). A failed read puts Bearer checks on
    /// the database until a read succeeds again, from where it stopped.
    pub async fn run_feed(&self, keep: Duration, every: Duration) {
        loop {
            let read = match self.feed.last() {
                None => self.read(move |conn| read_start(conn, keep)).await,
                Some(last) => self.read(move |conn| read_since(conn, last)).await,
            };
            match read {
                Ok(read) => {
                    self.feed.advance(&read);
                    self.feed.revocations.feed_up();
                }
                Err(e) => self.feed.revocations.feed_down(&e),
            }
            self.feed.revocations.prune();
            tokio::time::sleep(every).await;
        }
    }

    /// Deletes feed rows older than `keep` (by the database's clock).
    pub async fn sweep_revocations(&self, keep: Duration) -> crate::error::Result<u64> {
        let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
        self.writer
            .write(move |tx| {
                let n = tx.exec(
                    "DELETE FROM revocations
                      WHERE at < CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) - ?1",
                    params![keep],
                )?;
                Ok(n as u64)
            })
            .await
    }
}
