//! Reads on a few threads of their own, each with its own connection, so
//! that a query (and any page it reads from disk) never runs on a runtime
//! worker. A read is a closure queued for whichever reader is free; in WAL
//! mode readers never wait for the writer.
//!
//! One exception, `read_here`: the session check of every signed-in request
//! and the user lookup of every refresh are indexed point reads of a few
//! microseconds, and the hand-off to a
//! reader thread and back costs more than the read (measured with
//! `scripts/bench`: `GET me` 27 % slower through the readers). It runs on
//! the calling thread, on a connection of a small idle stack, and never
//! waits: if SQLite is busy it gives the read back to the reader threads.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::oneshot;

use super::closed;
use crate::error::{Error, Result};

type Read = Box<dyn FnOnce(&Connection) + Send>;

pub(super) struct Readers {
    shared: Arc<Shared>,
    count: u32,
    /// Where `read_here` opens its connections, and those idle.
    path: PathBuf,
    flags: OpenFlags,
    here: Mutex<Vec<Connection>>,
    /// Set by `stop`: `read_here` refuses too, without taking the queue's lock.
    stopped: AtomicBool,
}

/// Idle connections `read_here` keeps; a burst opens more and closes them.
const IDLE_HERE: usize = 8;

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    reads: VecDeque<Read>,
    /// Readers waiting for a read: only then does a new one need a wake-up.
    idle: u32,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Readers {
    /// One thread per connection.
    pub fn start(conns: Vec<Connection>, path: PathBuf, flags: OpenFlags) -> Result<Readers> {
        let shared = Arc::new(Shared { queue: Mutex::default(), ready: Condvar::new() });
        let count = u32::try_from(conns.len()).unwrap_or(u32::MAX);
        for (i, conn) in conns.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("authgate-sqlite-reader-{i}"))
                .spawn(move || serve(&shared, &conn))
                .map_err(Error::internal)?;
        }
        Ok(Readers { shared, count, path, flags, here: Mutex::default(), stopped: AtomicBool::new(false) })
    }

    /// Runs a point read on the calling thread (see the module comment);
    /// `None` when SQLite was busy or no connection opened: then the caller
    /// queues it with `read`.
    pub fn read_here<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<Result<T>> {
        if self.stopped.load(Ordering::Acquire) {
            return Some(Err(closed()));
        }
        let idle = self.here.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open_here().ok()?,
        };
        let result = read(&conn);
        let mut here = self.here.lock().unwrap_or_else(PoisonError::into_inner);
        if here.len() < IDLE_HERE {
            here.push(conn);
        }
        match result {
            Err(e) if matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)) => {
                None
            }
            other => Some(other.map_err(Error::internal)),
        }
    }

    /// A connection that never waits on SQLite's lock (busy timeout zero).
    fn open_here(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(&self.path, self.flags)?;
        conn.busy_timeout(Duration::ZERO)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA query_only = ON;")?;
        Ok(conn)
    }

    /// Runs `read` on a reader's connection and waits for its answer.
    pub async fn read<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Read = Box::new(move |conn| {
            let _ = reply.send(read(conn).map_err(Error::internal));
        });
        let wake = {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(closed());
            }
            q.reads.push_back(job);
            q.idle > 0
        };
        if wake {
            self.shared.ready.notify_one();
        }
        answer.await.map_err(|_| closed())?
    }

    /// Readers finish what is queued, then stop and close their connection.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.here.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }

    /// (threads, of which waiting for a read)
    pub fn usage(&self) -> (u32, u32) {
        (self.count, self.shared.lock().idle)
    }
}

fn serve(shared: &Shared, conn: &Connection) {
    loop {
        let read = {
            let mut q = shared.lock();
            loop {
                if let Some(read) = q.reads.pop_front() {
                    break read;
                }
                if q.closed {
                    return;
                }
                q.idle += 1;
                q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
                q.idle -= 1;
            }
        };
        // A panicking read drops its reply (its caller gets an error); the
        // reader goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(conn)));
    }
}
