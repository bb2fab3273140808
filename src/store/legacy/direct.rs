//! SQLite through rusqlite, for the paths that every signed-in request and
//! every refresh take. A point query in SQLite costs microseconds; sqlx runs
//! each statement on the connection's own worker thread, and the two thread
//! hand-offs per statement cost more than the statement. Reads here run on
//! the calling thread; refresh rotations run in batches, one hand-off per
//! batch (`rotations`). Measured with `scripts/bench` (docs/benchmarks.md).
//!
//! Nothing here waits: each connection's busy timeout is zero. When another
//! process holds SQLite's lock, or a connection cannot be opened, the call
//! answers `None` and the caller takes the pooled path, which waits on its
//! worker thread, not on this one.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, ErrorCode, OpenFlags, Statement, TransactionBehavior};

use super::audit::{AuditRow, INSERT_AUDIT};
use super::micros;
use super::sessions::{REVOKE_REUSED, ROTATE, RotateJob, STORED_REFRESH, stored_refresh};
use super::users::{SESSION_USER, USER_BY_ID, user_from_row};
use crate::domain::Clock;
use crate::domain::session::Rotation;
use crate::domain::session::{judge_stale, rotation_event};
use crate::domain::{AuditEvent, SessionId, User, UserId};
use crate::error::{Error, Result};

/// Idle read connections kept open; more are opened while a burst needs
/// them (one per thread reading at once) and closed after.
const IDLE_READERS: usize = 8;

pub(super) struct Direct {
    path: PathBuf,
    clock: Clock,
    readers: Mutex<Vec<Connection>>,
    /// Used only by a caller that holds the store's writer, so it is never
    /// contended; the mutex makes that visible to the compiler.
    writer: Mutex<Option<Connection>>,
}

/// Why a direct call did not finish.
enum Fail {
    /// Another process holds a lock: take the path that can wait.
    Busy,
    Failed(Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Fail {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Fail::Busy,
            _ => Fail::Failed(Error::internal(e)),
        }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Failed(e)
    }
}

/// A connection could not be opened (out of descriptors, say): the pooled
/// path, whose connections are open, takes the call.
fn unopened<T>(e: rusqlite::Error) -> Option<T> {
    tracing::warn!(error = %e, "SQLite: a direct connection did not open; using the pool");
    None
}

/// `Ok(None)` when busy, so the caller falls back.
fn settle<T>(r: std::result::Result<T, Fail>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Fail::Busy) => Ok(None),
        Err(Fail::Failed(e)) => Err(e),
    }
}

impl Direct {
    /// For the SQLite file at `path` (already created and migrated by the
    /// pooled connections); connections open on first use.
    pub(super) fn new(path: &Path, clock: Clock) -> Direct {
        Direct { path: path.to_path_buf(), clock, readers: Mutex::new(Vec::new()), writer: Mutex::new(None) }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::ZERO)?;
        // The same settings as the pooled connections (store::sqlite_options).
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        Ok(conn)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> std::result::Result<T, Fail>) -> Result<Option<T>> {
        let idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => match self.open() {
                Ok(conn) => conn,
                Err(e) => return Ok(unopened(e)),
            },
        };
        let result = f(&conn);
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < IDLE_READERS {
            readers.push(conn);
        }
        settle(result)
    }

    /// The user behind a live session (see `Store::find_session_user`).
    pub(super) fn session_user(&self, id: UserId, session_id: SessionId) -> Result<Option<Option<User>>> {
        self.read(|conn| query_user(conn, SESSION_USER, &[&id.to_string(), &session_id.to_string()]))
    }

    /// Any account by id (see `Store::find_user`).
    pub(super) fn user(&self, id: UserId) -> Result<Option<Option<User>>> {
        self.read(|conn| query_user(conn, USER_BY_ID, &[&id.to_string()]))
    }

    /// The rotations in one transaction on this thread, each in a savepoint
    /// of its own, so one that fails (its error is its outcome) leaves the
    /// others. `Ok(None)`: another process holds the write lock. The caller
    /// holds the store's writer, so no other writer of this process runs.
    pub(super) fn rotate_batch(&self, jobs: &[RotateJob]) -> Result<Option<Vec<Result<Rotation>>>> {
        let mut slot = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => match self.open() {
                Ok(conn) => empty.insert(conn),
                Err(e) => return Ok(unopened(e)),
            },
        };
        let done = (|| -> std::result::Result<_, Fail> {
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut outcomes = Vec::with_capacity(jobs.len());
            for job in jobs {
                let mut sp = tx.savepoint()?;
                match rotate(&sp, job, &self.clock) {
                    Ok(done) => {
                        sp.commit()?;
                        outcomes.push(Ok(done));
                    }
                    Err(Fail::Failed(e)) => {
                        sp.rollback()?;
                        outcomes.push(Err(e));
                    }
                    Err(Fail::Busy) => return Err(Fail::Failed(Error::internal("busy inside a write transaction"))),
                }
            }
            tx.commit()?;
            Ok(outcomes)
        })();
        let Some(outcomes) = settle(done)? else { return Ok(None) };
        let outcomes = outcomes
            .into_iter()
            .map(|o| {
                let (rotation, event) = o?;
                if let Some(event) = event {
                    event.log(); // committed
                }
                Ok(rotation)
            })
            .collect();
        Ok(Some(outcomes))
    }
}

/// One rotation (`Store::rotate_on`, the pooled twin) inside the caller's
/// write transaction; the clock is read now that the write lock is held.
fn rotate(
    conn: &Connection,
    job: &RotateJob,
    clock: &Clock,
) -> std::result::Result<(Rotation, Option<AuditEvent>), Fail> {
    let r = &job.rotate;
    let now = micros(clock.now());
    let (user, sid, jti, next) = (r.user_id.to_string(), r.session_id.to_string(), r.presented_jti.as_str(), &r.next);
    let next_jti = next.jti.as_str();
    let (ip, agent) = (r.presenter.ip.map(|ip| ip.to_string()), &r.presenter.user_agent);
    let args: [&dyn ToSql; 10] =
        [&sid, &user, &jti, &next_jti, &next.iat, &next.exp, &now, &(now / 1_000_000), &ip, agent];
    let outcome = if execute(conn, ROTATE, &args)? == 1 {
        Rotation::Rotated
    } else {
        let mut stmt = prepare(conn, STORED_REFRESH, &[&sid, &user])?;
        let mut rows = stmt.raw_query();
        let stored = rows.next()?.map(stored_refresh).transpose()?;
        drop(rows);
        let outcome = judge_stale(stored, r, now);
        if outcome == Rotation::Reused {
            execute(conn, REVOKE_REUSED, &[&sid, &now])?;
        }
        outcome
    };
    let event = rotation_event(r, &outcome);
    insert_audit(conn, &event)?;
    Ok((outcome, Some(event)))
}

fn query_user(conn: &Connection, sql: &str, args: &[&dyn ToSql]) -> std::result::Result<Option<User>, Fail> {
    let mut stmt = prepare(conn, sql, args)?;
    let mut rows = stmt.raw_query();
    Ok(rows.next()?.map(user_from_row).transpose()?)
}

fn insert_audit(conn: &Connection, event: &AuditEvent) -> std::result::Result<(), Fail> {
    let r = AuditRow::of(event);
    let args: [&dyn ToSql; 9] =
        [&r.id, &r.at, &r.action, &r.outcome, &r.user_id, &r.actor_id, &r.ip, &r.user_agent, &r.detail];
    execute(conn, INSERT_AUDIT, &args)?;
    Ok(())
}

fn execute(conn: &Connection, sql: &str, args: &[&dyn ToSql]) -> rusqlite::Result<usize> {
    prepare(conn, sql, args)?.raw_execute()
}

/// A cached statement with `args` bound. The SQL is shared with the pooled
/// path, whose parameters are numbered `$1`, `$2`…; SQLite takes `$1` for a
/// name, numbered by first appearance, so each is bound by its number.
fn prepare<'c>(
    conn: &'c Connection,
    sql: &str,
    args: &[&dyn ToSql],
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind_numbered(&mut stmt, args)?;
    Ok(stmt)
}

fn bind_numbered(stmt: &mut Statement<'_>, args: &[&dyn ToSql]) -> rusqlite::Result<()> {
    for index in 1..=stmt.parameter_count() {
        let number = stmt.parameter_name(index).and_then(|name| name.strip_prefix('$')?.parse::<usize>().ok());
        let arg = number
            .and_then(|n| args.get(n.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, args.len()))?;
        stmt.raw_bind_parameter(index, arg)?;
    }
    Ok(())
}
