//! The store on SQLite, through rusqlite (one embedded file, one machine).
//!
//! **Writes** go to one writer thread that owns the only write connection:
//! each write is a closure sent over a channel; the thread takes everything
//! queued, opens one `BEGIN IMMEDIATE` transaction, runs each write in a
//! savepoint of its own (a write that fails rolls back alone), commits once,
//! then answers each caller and logs each audit event (`writer.rs`). A write
//! that decides on what it reads (a refresh rotation, a quota, the last-admin
//! rule) reads inside its savepoint, under the write lock, with the clock
//! read then.
//!
//! **Reads** run on a few reader threads, each with a connection of its own
//! (`readers.rs`); WAL mode lets them read while the writer writes. An
//! in-memory database has no file for a second connection to open, so there
//! reads go to the writer thread too.
//!
//! Rows decode straight into domain types (`rows.rs`).

/// `SELECT <every user column> FROM users u <rest>`, as a static string.
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT u.id, u.email, u.phone, u.password, u.first_name, u.last_name, u.role, u.auth_provider, ",
            "u.is_active, u.is_verified, u.last_login, u.created_at, u.updated_at, u.deleted_at FROM users u ",
            $rest
        )
    };
}

mod admin;
mod audit;
mod dashboard;
mod defence;
mod feed;
mod import;
mod login_defence;
mod mfa;
mod migrate;
mod passkeys;
mod readers;
mod recovery;
mod rows;
mod sessions;
mod signing_keys;
mod social;
#[cfg(test)]
mod tests;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::contract::PoolUsage;
use crate::domain::Clock;
use crate::error::{Error, Result};
use readers::Readers;
use writer::{Tx, Writer};

/// How long a connection waits for another process's lock (a second
/// instance on the same file, an operator's `sqlite3`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reader threads at most: SQLite point reads take microseconds, so a few
/// threads keep up with the cores; more would only switch between them.
const MAX_READERS: u32 = 4;

pub struct Store {
    writer: Writer,
    feed: std::sync::Arc<feed::Feed>,
    clock: Clock,
    /// `None` for an in-memory database: reads go to the writer.
    readers: Option<Readers>,
}

/// Where a `sqlite:` URL points.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    File {
        path: PathBuf,
        flags: OpenFlags,
    },
    /// One database shared by the store's one connection.
    Memory,
}

impl Store {
    /// Opens the database at `url` (a file is created if missing, private to
    /// its owner), with up to `max_connections` reader connections.
    pub async fn connect(url: &str, max_connections: u32, clock: Clock) -> Result<Store> {
        let location = location(url)?;
        let max_readers = max_connections.clamp(1, MAX_READERS);
        let readers = match &location {
            Location::File { path, flags } => {
                let flags = *flags - OpenFlags::SQLITE_OPEN_CREATE;
                Some(Readers::new(path.clone(), flags, open_reader, max_readers))
            }
            Location::Memory => None,
        };
        let writer = tokio::task::spawn_blocking(move || open(&location)).await??;
        let feed = feed::Feed::new(crate::revocation::Revocations::new(clock.clone()));
        Ok(Store { writer: Writer::start(writer, clock.clone(), feed.clone())?, feed, clock, readers })
    }

    /// Runs `read` on a reader connection (on the writer's, in memory).
    async fn read<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.read(read).await,
            None => self.writer.write(move |tx| read(tx.conn)).await,
        }
    }

    /// Runs a point read on the calling thread when it can (see
    /// `readers`), else as `read`.
    async fn read_point<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        if let Some(done) = self.readers.as_ref().and_then(|r| r.read_here(&read)) {
            return done;
        }
        self.read(move |conn| read(conn)).await
    }

    /// Queues `write` for the writer thread and waits until it committed.
    async fn write<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.write(write).await
    }

    /// True when the database answers a trivial query within two seconds.
    pub async fn ping(&self) -> bool {
        let probe = self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())));
        matches!(tokio::time::timeout(Duration::from_secs(2), probe).await, Ok(Ok(())))
    }

    /// The writer finishes what is queued and stops; readers stop. Later
    /// calls fail with an error.
    pub async fn close(&self) {
        if let Some(readers) = &self.readers {
            readers.stop();
        }
        self.writer.stop().await;
    }

    /// `main` (the readers) and `writer`, for metrics.
    pub fn pool_usage(&self) -> Vec<(&'static str, PoolUsage)> {
        let (size, idle, max) = self.readers.as_ref().map_or((0, 0, 0), Readers::usage);
        let writer_idle = u32::from(!self.writer.busy());
        vec![("main", PoolUsage { size, idle, max }), ("writer", PoolUsage { size: 1, idle: writer_idle, max: 1 })]
    }
}

/// The error of a call after `close`.
fn closed() -> Error {
    Error::internal("the SQLite store is closed")
}

/// Parses `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:` and sqlx's
/// `?mode=ro|rw|rwc|memory`.
fn location(url: &str) -> Result<Location> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| Error::internal(format!("not a SQLite URL: {url:?}")))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mode = query.split('&').find_map(|pair| pair.strip_prefix("mode="));
    if path.is_empty() || path == ":memory:" || mode == Some("memory") {
        return Ok(Location::Memory);
    }
    let base = OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let flags = match mode {
        Some("ro") => base | OpenFlags::SQLITE_OPEN_READ_ONLY,
        Some("rw") => base | OpenFlags::SQLITE_OPEN_READ_WRITE,
        None | Some("rwc") => base | OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        Some(other) => return Err(Error::internal(format!("SQLite URL: unknown mode={other}"))),
    };
    Ok(Location::File { path: PathBuf::from(path), flags })
}

/// The file a SQLite URL names (`None` in memory or for another URL).
pub(super) fn file_path(url: &str) -> Option<PathBuf> {
    match location(url).ok()? {
        Location::File { path, .. } => Some(path),
        Location::Memory => None,
    }
}

/// The write connection (readers open theirs when first needed).
fn open(location: &Location) -> Result<Connection> {
    let (path, flags) = match location {
        Location::Memory => {
            return Connection::open_in_memory().and_then(|c| prepared(c, false)).map_err(cannot_open);
        }
        Location::File { path, flags } => (path, *flags),
    };
    if flags.contains(OpenFlags::SQLITE_OPEN_CREATE) {
        private_file(path)?; // before SQLite creates it with the umask's mode
    }
    open_waiting(path, flags, false).map_err(cannot_open)
}

/// A reader thread's connection.
fn open_reader(path: &Path, flags: OpenFlags) -> Result<Connection> {
    open_waiting(path, flags, true).map_err(cannot_open)
}

/// Opens a connection, waiting up to the busy timeout while another process
/// holds a lock that SQLite's busy handler does not wait for (seen when
/// instances start together on a new file: its switch to WAL answers
/// "database is locked" at once). Runs on a blocking thread.
fn open_waiting(path: &std::path::Path, flags: OpenFlags, reader: bool) -> rusqlite::Result<Connection> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match Connection::open_with_flags(path, flags).and_then(|c| prepared(c, reader)) {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn cannot_open(e: rusqlite::Error) -> Error {
    Error::internal(format!("cannot open the SQLite database: {e}"))
}

/// A connection's settings: WAL (readers never wait for the writer), commits
/// that sync at checkpoints, foreign keys, a busy timeout, and room in the
/// statement cache for every statement of the store.
fn prepared(conn: Connection, reader: bool) -> rusqlite::Result<Connection> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    if reader {
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA query_only = ON;")?;
    } else {
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    }
    Ok(conn)
}

/// Creates the SQLite file readable by its owner only (it holds password
/// hashes and, unless `AUTHGATE_SECRET_KEY` is set, the signing secret), or
/// takes group and other access away from an existing one. SQLite gives
/// the WAL and shared-memory files the mode of the database file.
pub(super) fn private_file(path: &Path) -> Result<()> {
    if path == Path::new(":memory:") || path.as_os_str().is_empty() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let opened = std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path);
        let file =
            opened.map_err(|e| Error::internal(format!("cannot open the SQLite file {}: {e}", path.display())))?;
        let mode = file.metadata().map_err(Error::internal)?.permissions().mode();
        let mut companions = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            companions.push(p.into());
        }
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the SQLite file was readable by others; making it private (0600)");
        }
        for p in companions.iter().filter(|p| p.exists()) {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).map_err(Error::internal)?;
        }
    }
    Ok(())
}
