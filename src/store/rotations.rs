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
use super::sessions::{RotateJob, Rotation};
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

/// Clears `draining` if the drain ends by a panic, so the next rotation
/// starts a new one.
struct Draining<'a>(&'a Rotations);

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().draining = false;
        }
    }
}

async fn drain(store: Store, direct: Arc<Direct>) {
    let rotations = &store.rotations;
    let _guard = Draining(rotations);
    while let Some(batch) = rotations.next_batch() {
        let (jobs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let outcomes = run_batch(&store, &direct, &jobs).await;
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome); // the request may have gone: the rotation stands
        }
    }
}

/// Every job's outcome, in order. On the direct connection when it can take
/// the write lock at once; otherwise (another process holds it) one by one
/// on the pooled writer, which waits for the lock.
async fn run_batch(store: &Store, direct: &Direct, jobs: &[RotateJob]) -> Vec<Result<Rotation>> {
    let mut conn = match store.writer.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail_all(jobs, e.into()),
    };
    match direct.rotate_batch(jobs) {
        Ok(Some(outcomes)) => return outcomes,
        Ok(None) => {}
        Err(e) => return fail_all(jobs, e),
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        outcomes.push(store.rotate_on(&mut conn, job).await);
    }
    outcomes
}

/// The batch's transaction failed as a whole: each job gets the error.
fn fail_all(jobs: &[RotateJob], e: Error) -> Vec<Result<Rotation>> {
    tracing::error!(error = %e, jobs = jobs.len(), "a batch of refresh rotations failed");
    jobs.iter().map(|_| Err(Error::internal(e.to_string()))).collect()
}
