//! Group commit for refresh rotations on SQLite. SQLite has one writer, so
//! rotations are serial whatever we do; what costs is handing the write
//! lock from one request to the next (a task wake-up each) and a commit per
//! rotation. Here concurrent rotations queue, and one task at a time takes
//! the writer and runs every queued rotation in one transaction, each in a
//! savepoint of its own, reading the clock when its turn comes.

use std::mem;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::Store;
use super::direct::Direct;
use super::sessions::RotateJob;
use crate::domain::session::Rotation;
use crate::error::{Error, Result};

/// Most rotations in one transaction: the writer is released between
/// batches so that other writers (sign-ins, sign-ups) get their turn.
const MAX_BATCH: usize = 64;

#[derive(Default)]
pub(super) struct Rotations {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(RotateJob, oneshot::Sender<Result<Rotation>>)>,
    /// A drain task is running and will see anything queued now.
    draining: bool,
}

impl Rotations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the rotation and waits for its outcome. The work runs on a
    /// task of its own, so a request that goes away cannot strand the queue.
    pub(super) async fn submit(&self, store: &Store, direct: &Arc<Direct>, job: RotateJob) -> Result<Rotation> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            q.waiting.push((job, tx));
            !mem::replace(&mut q.draining, true)
        };
        if start {
            tokio::spawn(drain(store.clone(), Arc::clone(direct)));
        }
        rx.await.map_err(|_| Error::internal("the rotation was dropped unanswered"))?
    }

    /// The next batch, or `None` (and no drain running) when none waits.
    fn next_batch(&self) -> Option<Vec<(RotateJob, oneshot::Sender<Result<Rotation>>)>> {
        let mut q = self.lock();
        if q.waiting.is_empty() {
            q.draining = false;
            return None;
        }
        let n = q.waiting.len().min(MAX_BATCH);
        Some(q.waiting.drain(..n).collect())
    }
}

/// If the drain ends by a panic, lets the queue go on: a new drain takes
/// what waits, or the next rotation starts one.
struct Draining {
    store: Store,
    direct: Arc<Direct>,
}

impl Drop for Draining {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut q = self.store.rotations.lock();
        q.draining = !q.waiting.is_empty();
        if q.draining {
            drop(q);
            tokio::spawn(drain(self.store.clone(), Arc::clone(&self.direct)));
        }
    }
}

async fn drain(store: Store, direct: Arc<Direct>) {
    let _guard = Draining { store: store.clone(), direct: Arc::clone(&direct) };
    while let Some(batch) = store.rotations.next_batch() {
        let (jobs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let outcomes = run_batch(&store, &direct, jobs).await;
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome); // the request may have gone: the rotation stands
        }
    }
}

/// Every job's outcome, in order. On the direct connection when it can take
/// the write lock at once, on a blocking thread (a commit may checkpoint the
/// WAL, with an fsync, and a batch may take milliseconds: neither belongs
/// on a runtime worker); otherwise (another process holds the lock) one by
/// one on the pooled writer, which waits for the lock.
async fn run_batch(store: &Store, direct: &Arc<Direct>, jobs: Vec<RotateJob>) -> Vec<Result<Rotation>> {
    let n = jobs.len();
    let mut conn = match store.writer.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail_all(n, e.into()),
    };
    let direct = Arc::clone(direct);
    let ran = tokio::task::spawn_blocking(move || {
        let outcomes = direct.rotate_batch(&jobs);
        (jobs, outcomes)
    });
    let jobs = match ran.await {
        Err(e) => return fail_all(n, e.into()),
        Ok((_, Ok(Some(outcomes)))) => return outcomes,
        Ok((_, Err(e))) => return fail_all(n, e),
        Ok((jobs, Ok(None))) => jobs,
    };
    let mut outcomes = Vec::with_capacity(n);
    for job in &jobs {
        outcomes.push(store.rotate_on(&mut conn, job).await);
    }
    outcomes
}

/// The batch's transaction failed as a whole: each job gets the error.
fn fail_all(n: usize, e: Error) -> Vec<Result<Rotation>> {
    tracing::error!(error = %e, jobs = n, "a batch of refresh rotations failed");
    (0..n).map(|_| Err(Error::internal(e.to_string()))).collect()
}
