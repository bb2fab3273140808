//! Where the sign-in defence's failure counters live (contract §14.1), so
//! that every instance sees the same: the database, or Redis when
//! `AUTHGATE_REDIS_URL` is set. The trusted networks are always in the
//! database: they are written with the sign-in. The rules (when to delay,
//! for how long) are `domain::soft_lock`'s; `flows::login_defence` applies
//! them to a sign-in.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RedisLoginCounters;
use crate::config::{Config, ConfigError};
use crate::domain::soft_lock::{self, Charge, SoftLock, Verdict};
use crate::error::Result;
use crate::store::Store;
use crate::tasks::{Every, Tasks};

/// How often an instance deletes counters and trust that have run out.
const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// The database's counters or Redis's.
pub enum FailureCounters {
    Database {
        /// This instance's sweep of run-out counters and trust.
        sweep: Every,
    },
    Redis(Box<RedisLoginCounters>),
}

impl FailureCounters {
    /// Fails only on an invalid Redis URL.
    pub fn from_config(config: &Config) -> Result<FailureCounters, ConfigError> {
        let Some(url) = &config.redis_url else {
            return Ok(FailureCounters::Database { sweep: Every::new(SWEEP_EVERY) });
        };
        let counters = RedisLoginCounters::new(url, config.redis_fail_open)
            .map_err(|e| ConfigError { var: "AUTHGATE_REDIS_URL".into(), reason: format!("invalid Redis URL: {e}") })?;
        if config.login_failures_before_delay > 0 {
            counters.connect_in_background();
        }
        Ok(FailureCounters::Redis(Box::new(counters)))
    }

    pub async fn attempt(
        &self,
        store: &Store,
        tasks: &Tasks,
        lock: SoftLock,
        charge: &Charge,
        now: DateTime<Utc>,
    ) -> Result<Verdict> {
        match self {
            FailureCounters::Database { sweep } => {
                let verdict = store.login_attempt(lock, charge, now).await?;
                if sweep.due(now) {
                    spawn_sweep(store, tasks, now);
                }
                Ok(verdict)
            }
            FailureCounters::Redis(redis) => Ok(redis.attempt(lock, charge, now).await),
        }
    }

    pub async fn forgive(&self, store: &Store, charge: &Charge) -> Result<()> {
        match self {
            FailureCounters::Database { .. } => store.forgive_login_attempt(charge).await,
            FailureCounters::Redis(redis) => {
                redis.forgive(charge).await;
                Ok(())
            }
        }
    }

    pub async fn reset(&self, store: &Store, login: &str) -> Result<()> {
        match self {
            FailureCounters::Database { .. } => store.reset_login_failures(login).await,
            FailureCounters::Redis(redis) => {
                redis.reset(login).await;
                Ok(())
            }
        }
    }

    /// The login id's own counter (§20's adaptive challenge reads it).
    pub async fn failures(&self, store: &Store, login: &str) -> Result<soft_lock::Failures> {
        match self {
            FailureCounters::Database { .. } => store.login_failures(login).await,
            FailureCounters::Redis(redis) => Ok(redis.failures(login).await),
        }
    }
}

/// Deletes run-out counters and trust in the background.
fn spawn_sweep(store: &Store, tasks: &Tasks, now: DateTime<Utc>) {
    let store = store.clone();
    tasks.spawn(async move {
        match store.sweep_login_defence(soft_lock::window_start(now), soft_lock::trusted_since(now)).await {
            Ok(n) => tracing::debug!(rows = n, "login defence: swept run-out counters and trust"),
            Err(e) => tracing::warn!(error = %e, "login defence: sweep failed; tried again later"),
        }
    });
}
