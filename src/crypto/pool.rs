//! Password hashing off the async executor, a bounded number at a time, so
//! a flood of logins queues here instead of starving every other request.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::hashers::{Hasher, Verdict};
use crate::domain::Password;
use crate::error::Result;

#[derive(Clone)]
pub struct HashPool {
    hasher: Hasher,
    permits: Arc<Semaphore>,
}

impl HashPool {
    /// At most `concurrency` hashes run at once (one per core is the most
    /// that helps).
    pub fn new(hasher: Hasher, concurrency: usize) -> HashPool {
        HashPool { hasher, permits: Arc::new(Semaphore::new(concurrency.max(1))) }
    }

    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// Hashes waiting for a permit right now (for metrics and tests).
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce(Hasher) -> T + Send + 'static) -> Result<T> {
        let permit = self.permits.clone().acquire_owned().await.map_err(crate::error::Error::internal)?;
        let hasher = self.hasher;
        let out = tokio::task::spawn_blocking(move || {
            let out = job(hasher);
            drop(permit);
            out
        })
        .await?;
        Ok(out)
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
