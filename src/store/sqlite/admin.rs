//! Queries and changes of the admin API (contract §13). Each change and its
//! audit event commit together; the last-admin rule reads other rows inside
//! the same write, and writes are serial, so two admins demoting each other
//! at once cannot leave none.

use rusqlite::params;

use super::rows::user;
use super::sessions::revoke_all;
use super::users::{load, name_key, taken};
use super::writer::rows;
use super::{Store, Tx};
use crate::domain::{AuditEvent, Role, User, UserId, micros};
use crate::error::Result;
use crate::store::contract::{AdminWrite, UserChange, UserFilter};

/// `LIKE` pattern for a search text, with its wildcards escaped.
fn like(q: &str) -> String {
    let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// Users matching `f`, newest first, at most `f.limit + 1`.
    pub async fn list_users(&self, f: &UserFilter) -> Result<Vec<User>> {
        let f = f.clone();
        self.read(move |conn| {
            let sql = select_users!(
                "WHERE (CASE WHEN ?1 THEN u.deleted_at IS NOT NULL ELSE u.deleted_at IS NULL END)
                   AND (?2 IS NULL OR u.role = ?2)
                   AND (?3 IS NULL OR u.is_active = ?3)
                   AND (?4 IS NULL OR u.is_verified = ?4)
                   AND (?5 IS NULL OR u.email_key LIKE ?5 ESCAPE '\\' OR u.phone LIKE ?5 ESCAPE '\\'
                        OR u.name_key LIKE ?5 ESCAPE '\\')
                   AND (?6 IS NULL OR (u.created_at, u.id) < (?6, ?7))
                 ORDER BY u.created_at DESC, u.id DESC
                 LIMIT ?8"
            );
            let params = params![
                f.deleted,
                f.role.map(Role::as_str),
                f.is_active,
                f.is_verified,
                f.q.as_deref().map(like),
                f.after.as_ref().map(|c| c.at),
                f.after.as_ref().map(|c| c.id.as_str()),
                i64::from(f.limit) + 1,
            ];
            rows(conn, sql, params, user)
        })
        .await
    }

    /// Applies an admin's changes to a live user; deactivation revokes every
    /// session.
    pub async fn change_user(&self, id: UserId, c: &UserChange, event: &AuditEvent) -> Result<AdminWrite> {
        let (c, event) = (c.clone(), event.clone());
        self.write(move |tx| {
            let Some(user) = load(tx.conn, id)?.filter(|u| u.deleted_at.is_none()) else {
                return Ok(AdminWrite::NotFound);
            };
            let stays_admin = c.role.unwrap_or(user.role) == Role::Admin && c.is_active.unwrap_or(user.is_active);
            if is_active_admin(&user) && !stays_admin && other_active_admins(tx, id)? == 0 {
                return Ok(AdminWrite::LastAdmin);
            }
            let first = c.first_name.as_deref().unwrap_or(&user.first_name);
            let last = c.last_name.as_deref().unwrap_or(&user.last_name);
            tx.exec(
                "UPDATE users SET is_active = COALESCE(?2, is_active), is_verified = COALESCE(?3, is_verified),
                        first_name = ?4, last_name = ?5, name_key = ?6, role = COALESCE(?7, role), updated_at = ?8
                  WHERE id = ?1",
                params![
                    id.to_string(),
                    c.is_active,
                    c.is_verified,
                    first,
                    last,
                    name_key(first, last),
                    c.role.map(Role::as_str),
                    micros(tx.now()),
                ],
            )?;
            if c.is_active == Some(false) {
                revoke_all(tx, &id.to_string(), "deactivated")?;
            }
            tx.audit(event)?;
            done(tx, id)
        })
        .await
    }

    /// Soft-deletes a live user and revokes every session.
    pub async fn soft_delete_user(&self, id: UserId, event: &AuditEvent) -> Result<AdminWrite> {
        let event = event.clone();
        self.write(move |tx| {
            let Some(user) = load(tx.conn, id)?.filter(|u| u.deleted_at.is_none()) else {
                return Ok(AdminWrite::NotFound);
            };
            if is_active_admin(&user) && other_active_admins(tx, id)? == 0 {
                return Ok(AdminWrite::LastAdmin);
            }
            let sql = "UPDATE users SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1";
            tx.exec(sql, params![id.to_string(), micros(tx.now())])?;
            revoke_all(tx, &id.to_string(), "deleted")?;
            tx.audit(event)?;
            done(tx, id)
        })
        .await
    }

    /// Brings a soft-deleted user back, unless its email or phone has been
    /// taken meanwhile (the partial unique indexes decide).
    pub async fn restore_user(&self, id: UserId, event: &AuditEvent) -> Result<AdminWrite> {
        let event = event.clone();
        self.write(move |tx| {
            let Some(user) = load(tx.conn, id)? else { return Ok(AdminWrite::NotFound) };
            if user.deleted_at.is_none() {
                return Ok(AdminWrite::NotDeleted);
            }
            let sql = "UPDATE users SET deleted_at = NULL, updated_at = ?2 WHERE id = ?1";
            if let Err(e) = tx.exec(sql, params![id.to_string(), micros(tx.now())]) {
                return taken(&e).map(AdminWrite::Taken).ok_or(e);
            }
            tx.audit(event)?;
            done(tx, id)
        })
        .await
    }
}

/// The user as the write left it.
fn done(tx: &Tx<'_>, id: UserId) -> rusqlite::Result<AdminWrite> {
    Ok(AdminWrite::Done(load(tx.conn, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?))
}

fn is_active_admin(u: &User) -> bool {
    u.role == Role::Admin && u.is_active && u.deleted_at.is_none()
}

fn other_active_admins(tx: &Tx<'_>, id: UserId) -> rusqlite::Result<i64> {
    tx.conn
        .prepare_cached(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND is_active = TRUE AND deleted_at IS NULL AND id <> ?1",
        )?
        .query_row([id.to_string()], |r| r.get(0))
}
