//! Password hashing on a small pool of dedicated threads, one per core, off
//! the async executor. A flood of logins queues here instead of starving
//! every other request, and memory stays at one argon2 work area per thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

use super::hashers::{Hasher, Verdict};
use crate::domain::Password;
use crate::error::{Error, Result};

type Job = Box<dyn FnOnce(&Hasher) + Send>;

#[derive(Clone)]
pub struct HashPool {
    jobs: mpsc::Sender<Job>,
    waiting: Arc<AtomicUsize>,
}

impl HashPool {
    /// Starts `threads` hashing threads (at least one).
    pub fn new(hasher: Hasher, threads: usize) -> HashPool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned =
                std::thread::Builder::new().name(format!("authgate-hash-{n}")).spawn(move || work(&hasher, &queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        HashPool { jobs, waiting: Arc::new(AtomicUsize::new(0)) }
    }

    /// Hashes queued or running right now (for metrics and tests).
    pub fn depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce(&Hasher) -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let waiting = self.waiting.clone();
        waiting.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.send(Box::new(move |h: &Hasher| {
            let _done = Done(waiting);
            let _ = tx.send(job(h));
        }));
        if sent.is_err() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::internal("the hashing threads are gone"));
        }
        rx.await.map_err(|_| Error::internal("a hashing job failed"))
    }

    pub async fn hash(&self, password: &Password) -> Result<String> {
        let pw = password.clone();
        self.run(move |h| h.hash(pw.expose())).await
    }

    pub async fn verify(&self, password: &Password, encoded: &str) -> Result<Verdict> {
        let (pw, encoded) = (password.clone(), encoded.to_string());
        self.run(move |h| h.verify(pw.expose(), &encoded)).await
    }

    /// The cost of one verification, for a login with no account behind it.
    pub async fn burn(&self, password: &Password) -> Result<()> {
        let pw = password.clone();
        self.run(move |h| h.burn(pw.expose())).await
    }
}

/// Counts a job out of the pool's depth when it ends, even by a panic.
struct Done(Arc<AtomicUsize>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A hashing thread: takes jobs until the pool is dropped. A job that
/// panics is reported to its caller as an error; the thread carries on.
fn work(hasher: &Hasher, queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        if catch_unwind(AssertUnwindSafe(|| job(hasher))).is_err() {
            tracing::error!("a hashing job panicked");
        }
    }
}
