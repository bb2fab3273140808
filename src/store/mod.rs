//! Storage: a contract (`contract.rs`: the operations the flows need and
//! the values they take and return) and one implementation per database.
//! Flows never see a query or a connection.

pub(crate) mod contract;
pub mod django;
mod postgres;
mod sqlite;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use contract::{
    AdminWrite, AuditFilter, AuditRecord, Cursor, NewUser, PasswordChange, Schema, StoredKey, UserChange, UserCount,
    UserFilter, UserTaken,
};

use crate::domain::Clock;
use crate::error::{Error, Result};
use crate::revocation::{Revocations, Settings};
use crate::tasks::Tasks;

/// The database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One machine: an embedded file, one writer at a time.
    Sqlite,
    /// Many instances: row locks, a pool per instance.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if it is one authgate speaks.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// True when `url` names a SQLite file that does not exist (yet): a
/// dry run must not create it.
pub fn names_missing_file(url: &str) -> bool {
    sqlite::file_path(url).is_some_and(|path| !path.exists())
}

/// The store of a deployment: the implementation for its database.
/// Cloning shares it.
#[derive(Clone)]
pub struct Store(Arc<Shared>);

struct Shared {
    backend: Inner,
    /// Operations asked of the store (every call of the contract), for
    /// `/metrics`: shows which requests reach the database.
    operations: AtomicU64,
}

enum Inner {
    Sqlite(sqlite::Store),
    Postgres(postgres::Store),
}

impl Store {
    /// Opens the database at `url` (a SQLite file is created if missing)
    /// with at most `max_connections` connections; the store reads the time
    /// from `clock`.
    pub async fn connect(url: &str, max_connections: u32, clock: Clock) -> Result<Store> {
        let backend = Backend::of_url(url)
            .ok_or_else(|| Error::internal(format!("AUTHGATE_DATABASE_URL: unsupported {url:?}")))?;
        let inner = match backend {
            Backend::Sqlite => Inner::Sqlite(sqlite::Store::connect(url, max_connections, clock).await?),
            Backend::Postgres => Inner::Postgres(postgres::Store::connect(url, max_connections, clock).await?),
        };
        Ok(Store(Arc::new(Shared { backend: inner, operations: AtomicU64::new(0) })))
    }

    fn backend(&self) -> &Inner {
        &self.0.backend
    }

    fn count_operation(&self) {
        self.0.operations.fetch_add(1, Ordering::Relaxed);
    }

    /// Operations asked of the store so far (the feed's own reads aside).
    pub fn operations(&self) -> u64 {
        self.0.operations.load(Ordering::Relaxed)
    }

    /// This instance's memory of revocations, which the store's feed fills.
    pub fn revocations(&self) -> &Revocations {
        match self.backend() {
            Inner::Sqlite(s) => s.revocations(),
            Inner::Postgres(s) => s.revocations(),
        }
    }

    /// Starts the revocation feed on `tasks`, until they close: PostgreSQL
    /// `LISTEN`, or polling the SQLite file every `poll` (the writer of
    /// this process hands over its own commits at once). Until it has
    /// caught up, Bearer checks read the database.
    pub fn start_feed(&self, tasks: &Tasks, settings: Settings, poll: Duration) {
        self.revocations().configure(settings);
        let store = self.clone();
        let closing = tasks.clone();
        tasks.spawn(async move {
            let feed = async {
                match store.backend() {
                    Inner::Sqlite(s) => s.run_feed(settings.keep, poll).await,
                    Inner::Postgres(s) => s.run_feed(settings.keep).await,
                }
            };
            tokio::select! {
                () = feed => {}
                () = closing.closing() => {}
            }
        });
    }
}

/// The time of an audit record as RFC 3339.
pub fn audit_time(r: &AuditRecord) -> String {
    crate::domain::rfc3339(&crate::domain::from_micros(r.at))
}
