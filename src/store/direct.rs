//! SQLite on the calling thread, for the paths that every signed-in request
//! and every refresh take. A point query or a two-row write in SQLite costs
//! microseconds; sqlx runs each statement on the connection's own worker
//! thread, and the two thread hand-offs per statement cost more than the
//! statement. Measured with `scripts/bench` (docs/benchmarks.md).
//!
//! Nothing here waits: each connection's busy timeout is zero. When another
//! process holds SQLite's lock the call answers `None` and the caller takes
//! the pooled path, which waits on its worker thread, not on this one.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, ErrorCode, OpenFlags, Statement, TransactionBehavior};

use super::audit::{AuditRow, INSERT_AUDIT};
use super::sessions::{REVOKE_REUSED, ROTATE, STORED_REFRESH, StoredRefresh, judge_stale};
use super::users::user_from_row;
use super::{RefreshState, Rotation, now_micros};
use crate::domain::{AuditEvent, User, UserId};
use crate::error::{Error, Result};

/// Idle read connections kept open; more are opened while a burst needs
/// them (one per thread reading at once) and closed after.
const IDLE_READERS: usize = 8;

pub(super) struct Direct {
    path: PathBuf,
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
    pub(super) fn new(path: &Path) -> Direct {
        Direct { path: path.to_path_buf(), readers: Mutex::new(Vec::new()), writer: Mutex::new(None) }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(Duration::ZERO)?;
        // The same settings as the pooled connections (store::sqlite_options).
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        Ok(conn)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> std::result::Result<T, Fail>) -> Result<Option<T>> {
        let idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open().map_err(Error::internal)?,
        };
        let result = f(&conn);
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < IDLE_READERS {
            readers.push(conn);
        }
        settle(result)
    }

    /// The user behind a live session (see `Store::find_session_user`).
    pub(super) fn session_user(&self, id: UserId, session_id: &str) -> Result<Option<Option<User>>> {
        let sql =
            select_users!("JOIN sessions s ON s.user_id = u.id WHERE u.id = $1 AND s.id = $2 AND s.revoked_at IS NULL");
        self.read(|conn| query_user(conn, sql, &[&id.to_string(), &session_id]))
    }

    /// Any account by id (see `Store::find_user`).
    pub(super) fn user(&self, id: UserId) -> Result<Option<Option<User>>> {
        self.read(|conn| query_user(conn, select_users!("WHERE u.id = $1"), &[&id.to_string()]))
    }

    /// `Store::rotate_session` in one transaction on this thread. The caller
    /// holds the store's writer, so no other writer of this process runs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rotate(
        &self,
        session_id: &str,
        user_id: UserId,
        presented_jti: &str,
        next: &RefreshState,
        grace: Duration,
        events: &(dyn Fn(&Rotation) -> Option<AuditEvent> + Sync),
    ) -> Result<Option<Rotation>> {
        let mut slot = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(self.open().map_err(Error::internal)?),
        };
        let done = (|| -> std::result::Result<Rotation, Fail> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The clock is read once the write lock is held (see the pooled path).
            let now = now_micros();
            let user = user_id.to_string();
            let args: [&dyn ToSql; 8] =
                [&session_id, &user, &presented_jti, &next.jti, &next.iat, &next.exp, &now, &(now / 1_000_000)];
            let outcome = if execute(&tx, ROTATE, &args)? == 1 {
                Rotation::Rotated
            } else {
                let mut stmt = prepare(&tx, STORED_REFRESH, &[&session_id, &user])?;
                let mut rows = stmt.raw_query();
                let stored = rows.next()?.map(StoredRefresh::from_row).transpose()?;
                drop(rows);
                let outcome = judge_stale(stored, presented_jti, grace, now);
                if outcome == Rotation::Reused {
                    execute(&tx, REVOKE_REUSED, &[&session_id, &now])?;
                }
                outcome
            };
            let event = events(&outcome);
            if let Some(event) = &event {
                insert_audit(&tx, event)?;
            }
            tx.commit()?;
            if let Some(event) = &event {
                event.log();
            }
            Ok(outcome)
        })();
        settle(done)
    }
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
