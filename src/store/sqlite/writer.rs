//! The writer thread: the one connection that writes, and the group commit
//! of every kind of write. SQLite has one writer at a time whatever we do;
//! what costs is a commit per write and handing the write lock from one
//! request to the next. Here writes queue on a channel; the thread takes
//! everything queued, runs it in one `BEGIN IMMEDIATE` transaction, each
//! write in a savepoint of its own (one that fails, or decides to change
//! nothing, rolls back alone), commits once, then answers each caller and
//! logs each audit event, only now that it is committed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Params};
use tokio::sync::oneshot;

use super::audit::insert_audit;
use super::closed;
use super::feed::Feed;
use crate::domain::{AuditEvent, Clock};
use crate::error::{Error, Result};

/// Most writes in one transaction: a larger batch would hold SQLite's lock
/// from other processes, and keep its first callers waiting, for longer.
const MAX_BATCH: usize = 64;

/// The write connection inside a write, as a write sees it: its own
/// savepoint of the batch's transaction.
pub(super) struct Tx<'c> {
    pub conn: &'c Connection,
    clock: &'c Clock,
    events: Vec<AuditEvent>,
    undo: bool,
}

impl Tx<'_> {
    /// The time now: read under the write lock, so a write that waited in
    /// the queue is judged by when it runs, not when it arrived.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Writes the event in this write's savepoint; it is logged once the
    /// batch has committed (and never, if this write rolls back).
    pub fn audit(&mut self, event: AuditEvent) -> rusqlite::Result<()> {
        insert_audit(self.conn, &event, self.now())?;
        self.events.push(event);
        Ok(())
    }

    /// Rolls this write back (its changes and events) and answers `value`:
    /// for a write that found, part way, that it must change nothing.
    pub fn undo<T>(&mut self, value: T) -> T {
        self.undo = true;
        value
    }

    pub fn exec(&self, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }
}

/// A queued write, with its types erased so that one channel carries all.
trait Job: Send {
    /// Runs the write in its savepoint; false when it must roll back.
    fn run(&mut self, conn: &Connection, clock: &Clock) -> bool;
    /// Answers the caller once the batch ended: committed, or not.
    fn answer(self: Box<Self>, committed: std::result::Result<(), &str>);
}

struct Pending<T, F> {
    write: Option<F>,
    outcome: Option<Result<T>>,
    events: Vec<AuditEvent>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> rusqlite::Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection, clock: &Clock) -> bool {
        let Some(write) = self.write.take() else { return false };
        let mut tx = Tx { conn, clock, events: Vec::new(), undo: false };
        let outcome = match catch_unwind(AssertUnwindSafe(|| write(&mut tx))) {
            Ok(done) => done.map_err(Error::internal),
            Err(_) => Err(Error::internal("a write panicked")),
        };
        let keep = outcome.is_ok() && !tx.undo;
        if keep {
            self.events = tx.events;
        }
        self.outcome = Some(outcome);
        keep
    }

    fn answer(self: Box<Self>, committed: std::result::Result<(), &str>) {
        let answer = match (committed, self.outcome) {
            (Ok(()), Some(Ok(value))) => {
                self.events.iter().for_each(AuditEvent::log);
                Ok(value)
            }
            (Ok(()), Some(Err(e))) => Err(e),
            (Ok(()), None) => Err(Error::internal("the write did not run")),
            (Err(e), _) => Err(Error::internal(format!("the write transaction failed: {e}"))),
        };
        let _ = self.reply.send(answer); // the caller may have gone: the write stands
    }
}

enum Msg {
    Write(Box<dyn Job>),
    /// Stop once every write queued before this one is done.
    Stop(oneshot::Sender<()>),
}

/// The handle the store keeps: sends writes to the thread.
pub(super) struct Writer {
    queue: mpsc::Sender<Msg>,
    busy: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the thread that owns `conn`; it hands the revocations its
    /// batches commit to `feed` before answering.
    pub fn start(conn: Connection, clock: Clock, feed: Arc<Feed>) -> Result<Writer> {
        let (queue, rx) = mpsc::channel();
        let busy = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&busy);
        std::thread::Builder::new()
            .name("authgate-sqlite-writer".into())
            .spawn(move || run(conn, clock, feed, rx, flag))
            .map_err(Error::internal)?;
        Ok(Writer { queue, busy })
    }

    /// Queues `write` and waits for its outcome, after the commit.
    pub async fn write<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Pending { write: Some(write), outcome: None, events: Vec::new(), reply };
        self.queue.send(Msg::Write(Box::new(job))).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Lets the thread finish what is queued, and waits until it stopped.
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Msg::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
    }

    /// True while a batch runs.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }
}

fn run(conn: Connection, clock: Clock, feed: Arc<Feed>, rx: mpsc::Receiver<Msg>, busy: Arc<AtomicBool>) {
    let mut stop = None;
    while stop.is_none() {
        let Ok(first) = rx.recv() else { break };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Write(job) => batch.push(job),
                Msg::Stop(done) => stop = Some(done),
            }
            if stop.is_none() && batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        busy.store(true, Ordering::Relaxed);
        commit(&conn, &clock, &feed, batch);
        busy.store(false, Ordering::Relaxed);
    }
    // Writes queued after the stop are dropped with the channel: their
    // callers hear that the store is closed.
    drop(rx);
    drop(conn);
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Runs the batch in one transaction and answers every job, once what it
/// revoked is in this instance's memory (`feed.rs`).
fn commit(conn: &Connection, clock: &Clock, feed: &Feed, mut batch: Vec<Box<dyn Job>>) {
    if batch.is_empty() {
        return;
    }
    let ran = (|| -> rusqlite::Result<_> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for job in &mut batch {
            conn.prepare_cached("SAVEPOINT w")?.execute([])?;
            if !job.run(conn, clock) {
                conn.prepare_cached("ROLLBACK TO w")?.execute([])?;
            }
            conn.prepare_cached("RELEASE w")?.execute([])?;
        }
        // A feed that cannot be read must not fail the writes: memory stops
        // answering (the poll says when it has caught up again).
        let revoked = feed.read_in_batch(conn).unwrap_or_else(|e| {
            feed.revocations.feed_down(&e);
            None
        });
        conn.execute_batch("COMMIT")?;
        Ok(revoked)
    })();
    let failure = ran.as_ref().err().map(ToString::to_string);
    if let Ok(revoked) = ran {
        feed.committed(revoked);
    }
    if let Some(e) = &failure {
        tracing::error!(error = %e, writes = batch.len(), "SQLite: a batch of writes failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for job in batch {
        job.answer(failure.as_deref().map_or(Ok(()), Err));
    }
}

/// Runs `f` on rows of a statement, collecting what it maps each to.
pub(super) fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    stmt.query_map(params, f)?.collect()
}

/// The first row of a statement, if any, mapped by `f`.
pub(super) fn row<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    rows.next()?.map(f).transpose()
}
