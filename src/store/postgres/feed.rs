//! The revocation feed on PostgreSQL: `LISTEN` on a connection of its own;
//! the triggers of migration 0005 notify at the commit of every change, and
//! each notification makes the instance read the rows it has not seen.
//!
//! Which rows are new is decided by transaction id, not by `seq`: a sequence
//! number is handed out at insert, so a transaction that took 10 may commit
//! after one that took 11. Each read first takes the oldest transaction
//! still running (`pg_snapshot_xmin`): every transaction older than it has
//! ended, so the next read starts there (`txid >= watermark`) and no commit
//! can slip behind it. Rows read twice (their transaction is newer than the
//! watermark) are recognised by `seq` and not applied again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Mutex;

use super::Store;
use crate::error::{Error, Result};
use crate::revocation::Announcement;
use crate::revocation::Revocations;

/// What the listener, the periodic read and the store's writes share.
pub(super) struct Feed {
    pub revocations: Revocations,
    /// For the listener's own connection.
    options: PgConnectOptions,
    /// One read at a time moves the watermark.
    cursor: Mutex<Cursor>,
    /// The window of the first read (`run_feed` sets it).
    keep: std::sync::Mutex<Duration>,
}

#[derive(Default)]
struct Cursor {
    /// Transactions from this id on may still hold unseen rows; `None`
    /// before the first read.
    watermark: Option<i64>,
    /// Rows already applied whose transaction is at or past the watermark.
    seen: HashMap<i64, i64>,
}

/// The application name of the listener's connection (`pg_stat_activity`).
pub const LISTENER_NAME: &str = "authgate-revocation-feed";

/// A lost listener is reconnected after this, doubling up to `MAX_BACKOFF`.
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A notification lost without a lost connection is not expected, but the
/// feed reads this often anyway (an indexed read of nothing).
const SAFETY_READ: Duration = Duration::from_secs(5);

impl Feed {
    pub fn new(revocations: Revocations, options: PgConnectOptions) -> Arc<Feed> {
        Arc::new(Feed {
            revocations,
            options,
            cursor: Mutex::new(Cursor::default()),
            keep: std::sync::Mutex::new(crate::revocation::Settings::default().keep),
        })
    }
}

impl Store {
    pub fn revocations(&self) -> &Revocations {
        &self.feed.revocations
    }

    /// Listens for ever (the caller stops it at shutdown), reconnecting
    /// when the connection is lost; until each (re)connection has caught
    /// up, Bearer checks read the database.
    pub async fn run_feed(&self, keep: Duration) {
        *self.feed.keep.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = keep;
        let safety = self.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(SAFETY_READ).await;
                safety.feed.revocations.prune();
                if safety.feed.revocations.is_up() {
                    safety.settled().await;
                }
            }
        });
        let _stop_ticker = AbortOnDrop(ticker);
        let mut backoff = BACKOFF;
        loop {
            let cause = self.listen(keep).await;
            self.feed.revocations.feed_down(&cause);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if self.feed.revocations.is_up() {
                backoff = BACKOFF;
            }
        }
    }

    /// One connection's life: LISTEN, catch up, then read on every
    /// notification. Returns why it ended.
    async fn listen(&self, keep: Duration) -> Error {
        let run = async {
            let channel = self.channel().await?;
            let options = self.feed.options.clone().application_name(LISTENER_NAME);
            let pool = PgPoolOptions::new().max_connections(1).connect_with(options).await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener.listen(&channel).await?;
            // Listening first: whatever commits from now on is notified,
            // and this read sees what committed before.
            self.catch_up(keep).await?;
            self.feed.revocations.feed_up();
            loop {
                match listener.try_recv().await? {
                    Some(_) => {
                        while listener.next_buffered().is_some() {}
                        self.catch_up(keep).await?;
                    }
                    None => return Err::<(), Error>(Error::internal("the listener's connection was lost")),
                }
            }
        };
        match run.await {
            Err(e) => e,
            Ok(()) => Error::internal("the listener stopped"),
        }
    }

    /// The channel the triggers notify for this schema.
    async fn channel(&self) -> Result<String> {
        let schema = sqlx::query_scalar!(r#"SELECT current_schema() AS "schema!""#).fetch_one(&self.pool).await?;
        Ok(format!("authgate_revocations_{schema}"))
    }

    /// Reads and applies the rows not seen yet (at the first read: the
    /// sessions revoked within `keep`).
    async fn catch_up(&self, keep: Duration) -> Result<()> {
        let mut cursor = self.feed.cursor.lock().await;
        let xmin = sqlx::query_scalar!(r#"SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS "xmin!""#)
            .fetch_one(&self.pool)
            .await?;
        let rows = match cursor.watermark {
            Some(watermark) => {
                sqlx::query_as!(
                    Row,
                    "SELECT seq, kind, user_id, session_id, txid FROM revocations WHERE txid >= $1",
                    watermark
                )
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
                sqlx::query_as!(
                    Row,
                    "SELECT seq, kind, user_id, session_id, txid FROM revocations
                      WHERE at >= (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - $1 OR txid >= $2",
                    keep,
                    xmin
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut fresh = Vec::new();
        for row in rows {
            if cursor.seen.insert(row.seq, row.txid).is_none() {
                fresh.extend(Announcement::parse(&row.kind, &row.user_id, row.session_id.as_deref()));
            }
        }
        self.feed.revocations.apply(&fresh);
        cursor.watermark = Some(xmin);
        cursor.seen.retain(|_, txid| *txid >= xmin);
        Ok(())
    }

    /// After a write of this instance that may have revoked or changed a
    /// user: read the feed now, so the change is in memory before the
    /// answer (other instances hear of it by notification). A failed read
    /// puts the checks on the database until the listener catches up.
    pub(super) async fn settled(&self) {
        if !self.feed.revocations.is_up() {
            return; // checks read the database anyway
        }
        let keep = *self.feed.keep.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = self.catch_up(keep).await {
            self.feed.revocations.feed_down(&e);
        }
    }

    /// Deletes feed rows older than `keep` (by the database's clock).
    pub async fn sweep_revocations(&self, keep: Duration) -> Result<u64> {
        let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
        let done = sqlx::query!(
            "DELETE FROM revocations WHERE at < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - $1",
            keep
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

struct Row {
    seq: i64,
    kind: String,
    user_id: String,
    session_id: Option<String>,
    txid: i64,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
