//! Reads on a few threads of their own, each with its own connection, so
//! that a query (and any page it reads from disk) never runs on a runtime
//! worker. A read is a closure queued for whichever reader is free; in WAL
//! mode readers never wait for the writer. Readers start when reads queue
//! up with none free and stop after a minute without work, so an idle
//! server holds no reader connection (idle memory is a benchmark target).
//!
//! One exception, `read_here`: the session check of every signed-in request
//! and the user lookup of every refresh are indexed point reads of a few
//! microseconds, and the hand-off to a
//! reader thread and back costs more than the read (measured with
//! `scripts/bench`: `GET me` 27 % slower through the readers). It runs on
//! the calling thread, on a connection of a small idle stack, and never
//! waits: if SQLite is busy it gives the read back to the reader threads.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::oneshot;

use super::closed;
use crate::error::{Error, Result};

/// A queued read: given the reader's connection, or why none could open.
type Read = Box<dyn FnOnce(std::result::Result<&Connection, &Error>) + Send>;

/// Opens a reader's connection (on the reader's own thread).
pub(super) type Open = fn(&Path, OpenFlags) -> Result<Connection>;

pub(super) struct Readers {
    shared: Arc<Shared>,
    /// Where `read_here` opens its connections, and those idle.
    here: Mutex<Vec<Connection>>,
    /// Set by `stop`: `read_here` refuses too, without taking the queue's lock.
    stopped: AtomicBool,
}

/// Idle connections `read_here` keeps; a burst opens more and closes them.
const IDLE_HERE: usize = 8;

/// A reader with nothing to do for this long stops and closes its
/// connection.
const IDLE_STOP: Duration = Duration::from_secs(60);

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    path: PathBuf,
    flags: OpenFlags,
    open: Open,
    max: u32,
}

#[derive(Default)]
struct Queue {
    reads: VecDeque<Read>,
    /// Reader threads running (opening, reading or waiting).
    threads: u32,
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
    /// Up to `max` reader threads, started as reads need them.
    pub fn new(path: PathBuf, flags: OpenFlags, open: Open, max: u32) -> Readers {
        let shared = Shared { queue: Mutex::default(), ready: Condvar::new(), path, flags, open, max: max.max(1) };
        Readers { shared: Arc::new(shared), here: Mutex::default(), stopped: AtomicBool::new(false) }
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
        let conn = Connection::open_with_flags(&self.shared.path, self.shared.flags)?;
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
            let _ = reply.send(match conn {
                Ok(conn) => read(conn).map_err(Error::internal),
                Err(e) => Err(Error::internal(format!("no SQLite reader connection: {e}"))),
            });
        });
        let (wake, start) = {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(closed());
            }
            q.reads.push_back(job);
            let start = q.idle == 0 && q.threads < self.shared.max;
            q.threads += u32::from(start);
            (q.idle > 0, start)
        };
        if wake {
            self.shared.ready.notify_one();
        }
        if start {
            self.start_reader();
        }
        answer.await.map_err(|_| closed())?
    }

    /// Starts one more reader thread (already counted in `threads`).
    fn start_reader(&self) {
        let shared = Arc::clone(&self.shared);
        let started = std::thread::Builder::new().name("authgate-sqlite-reader".into()).spawn(move || run(&shared));
        if let Err(e) = started {
            reader_failed(&self.shared, &Error::internal(format!("cannot start a reader thread: {e}")));
        }
    }

    /// Readers finish what is queued, then stop and close their connection.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.here.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }

    /// (threads, of which waiting for a read, at most)
    pub fn usage(&self) -> (u32, u32, u32) {
        let q = self.shared.lock();
        (q.threads, q.idle, self.shared.max)
    }
}

/// A reader thread: opens its connection, then serves reads until the
/// readers stop or it has been idle for `IDLE_STOP`.
fn run(shared: &Shared) {
    match (shared.open)(&shared.path, shared.flags) {
        Ok(conn) => serve(shared, &conn),
        Err(e) => reader_failed(shared, &e),
    }
}

/// A reader could not start. It is logged with its cause; when no other
/// reader runs, the queued reads fail with that cause instead of waiting
/// for a reader that may never come (the next read tries again).
fn reader_failed(shared: &Shared, e: &Error) {
    tracing::warn!(error = %e, "a SQLite reader could not start");
    let orphans: Vec<Read> = {
        let mut q = shared.lock();
        q.threads -= 1;
        if q.threads > 0 { Vec::new() } else { q.reads.drain(..).collect() }
    };
    for read in orphans {
        read(Err(e));
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
                    q.threads -= 1;
                    return;
                }
                q.idle += 1;
                let (next, waited) = shared.ready.wait_timeout(q, IDLE_STOP).unwrap_or_else(PoisonError::into_inner);
                q = next;
                q.idle -= 1;
                if waited.timed_out() && q.reads.is_empty() {
                    q.threads -= 1;
                    return;
                }
            }
        };
        // A panicking read drops its reply (its caller gets an error); the
        // reader goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(Ok(conn))));
    }
}
