//! Queries and changes of the admin API (contract §13). Each change and
//! its audit event commit together; the last-admin rule is checked inside
//! the same write transaction, so two admins demoting each other at once
//! cannot leave none.

use serde_json::Value;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::insert_audit;
use super::sessions::revoke_all;
use super::users::{USER_BY_ID, name_key, taken_from, user_from_row};
use super::{Store, now_micros};
use crate::domain::{AuditEvent, Role, User, UserId};
use crate::error::{Error, Result};
use crate::store::contract::{AdminWrite, AuditFilter, AuditRecord, UserChange, UserFilter};

/// `LIKE` pattern for a search text, with its wildcards escaped.
fn like(q: &str) -> String {
    let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    /// Users matching `f`, newest first, at most `f.limit + 1` (one more
    /// than a page, to tell whether another page follows).
    pub async fn list_users(&self, f: &UserFilter) -> Result<Vec<User>> {
        let sql = select_users!(
            "WHERE (CASE WHEN $1 THEN u.deleted_at IS NOT NULL ELSE u.deleted_at IS NULL END)
               AND ($2 IS NULL OR u.role = $2)
               AND ($3 IS NULL OR u.is_active = $3)
               AND ($4 IS NULL OR u.is_verified = $4)
               AND ($5 IS NULL OR u.email_key LIKE $5 ESCAPE '\\' OR u.phone LIKE $5 ESCAPE '\\'
                    OR u.name_key LIKE $5 ESCAPE '\\')
               AND ($6 IS NULL OR (u.created_at, u.id) < ($6, $7))
             ORDER BY u.created_at DESC, u.id DESC
             LIMIT $8"
        );
        let rows = sqlx::query(sql)
            .bind(f.deleted)
            .bind(f.role.map(Role::as_str))
            .bind(f.is_active)
            .bind(f.is_verified)
            .bind(f.q.as_deref().map(like))
            .bind(f.after.as_ref().map(|c| c.at))
            .bind(f.after.as_ref().map(|c| c.id.clone()))
            .bind(i64::from(f.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Audit events matching `f`, newest first, at most `f.limit + 1`.
    pub async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, at, action, outcome, user_id, actor_id, ip, user_agent, detail FROM audit_events
              WHERE ($1 IS NULL OR user_id = $1)
                AND ($2 IS NULL OR action = $2)
                AND ($3 IS NULL OR outcome = $3)
                AND ($4 IS NULL OR at >= $4)
                AND ($5 IS NULL OR at < $5)
                AND ($6 IS NULL OR (at, id) < ($6, $7))
              ORDER BY at DESC, id DESC
              LIMIT $8",
        )
        .bind(f.user_id.as_deref())
        .bind(f.action.as_deref())
        .bind(f.outcome.as_deref())
        .bind(f.since)
        .bind(f.until)
        .bind(f.after.as_ref().map(|c| c.at))
        .bind(f.after.as_ref().map(|c| c.id.clone()))
        .bind(i64::from(f.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// Applies an admin's changes to a live user.
    pub async fn change_user(&self, id: UserId, c: &UserChange, event: &AuditEvent) -> Result<AdminWrite> {
        let mut tx = self.write_tx().await?;
        self.lock_for(&mut tx, "authgate.admins").await?; // the last-admin rule reads other rows
        let Some(user) = load(&mut tx, id).await?.filter(|u| u.deleted_at.is_none()) else {
            return Ok(AdminWrite::NotFound);
        };
        let stays_admin = c.role.unwrap_or(user.role) == Role::Admin && c.is_active.unwrap_or(user.is_active);
        if is_active_admin(&user) && !stays_admin && other_active_admins(&mut tx, id).await? == 0 {
            return Ok(AdminWrite::LastAdmin);
        }
        sqlx::query(
            "UPDATE users SET is_active = COALESCE($2, is_active), is_verified = COALESCE($3, is_verified),
                    first_name = COALESCE($4, first_name), last_name = COALESCE($5, last_name),
                    role = COALESCE($6, role), updated_at = $7
              WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(c.is_active)
        .bind(c.is_verified)
        .bind(c.first_name.as_deref())
        .bind(c.last_name.as_deref())
        .bind(c.role.map(Role::as_str))
        .bind(now_micros())
        .execute(&mut *tx)
        .await?;
        if c.is_active == Some(false) {
            revoke_all(&mut tx, id, "deactivated").await?;
        }
        if c.first_name.is_some() || c.last_name.is_some() {
            let first = c.first_name.as_deref().unwrap_or(&user.first_name);
            let last = c.last_name.as_deref().unwrap_or(&user.last_name);
            sqlx::query("UPDATE users SET name_key = $2 WHERE id = $1")
                .bind(id.to_string())
                .bind(name_key(first, last))
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(&mut tx, event).await?;
        let user = load(&mut tx, id).await?.ok_or_else(|| Error::internal("changed user vanished"))?;
        tx.commit().await?;
        Ok(AdminWrite::Done(user))
    }

    /// Soft-deletes a live user and revokes every session.
    pub async fn soft_delete_user(&self, id: UserId, event: &AuditEvent) -> Result<AdminWrite> {
        let mut tx = self.write_tx().await?;
        self.lock_for(&mut tx, "authgate.admins").await?; // the last-admin rule reads other rows
        let Some(user) = load(&mut tx, id).await?.filter(|u| u.deleted_at.is_none()) else {
            return Ok(AdminWrite::NotFound);
        };
        if is_active_admin(&user) && other_active_admins(&mut tx, id).await? == 0 {
            return Ok(AdminWrite::LastAdmin);
        }
        let now = now_micros();
        sqlx::query("UPDATE users SET deleted_at = $2, updated_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        revoke_all(&mut tx, id, "deleted").await?;
        insert_audit(&mut tx, event).await?;
        let user = load(&mut tx, id).await?.ok_or_else(|| Error::internal("deleted user vanished"))?;
        tx.commit().await?;
        Ok(AdminWrite::Done(user))
    }

    /// Brings a soft-deleted user back, unless its email or phone has been
    /// taken meanwhile (the partial unique indexes decide).
    pub async fn restore_user(&self, id: UserId, event: &AuditEvent) -> Result<AdminWrite> {
        let mut tx = self.write_tx().await?;
        let Some(user) = load(&mut tx, id).await? else { return Ok(AdminWrite::NotFound) };
        if user.deleted_at.is_none() {
            return Ok(AdminWrite::NotDeleted);
        }
        // Only if still deleted: on PostgreSQL two concurrent restores both
        // read the row as deleted, and the second must find it restored.
        let restored =
            sqlx::query("UPDATE users SET deleted_at = NULL, updated_at = $2 WHERE id = $1 AND deleted_at IS NOT NULL")
                .bind(id.to_string())
                .bind(now_micros())
                .execute(&mut *tx)
                .await;
        match restored {
            Ok(done) if done.rows_affected() == 0 => return Ok(AdminWrite::NotDeleted),
            Ok(_) => {}
            Err(e) => return taken_from(&e).map(AdminWrite::Taken).ok_or_else(|| e.into()),
        }
        insert_audit(&mut tx, event).await?;
        let user = load(&mut tx, id).await?.ok_or_else(|| Error::internal("restored user vanished"))?;
        tx.commit().await?;
        Ok(AdminWrite::Done(user))
    }
}

fn is_active_admin(u: &User) -> bool {
    u.role == Role::Admin && u.is_active && u.deleted_at.is_none()
}

async fn load(conn: &mut AnyConnection, id: UserId) -> Result<Option<User>> {
    let row = sqlx::query(USER_BY_ID).bind(id.to_string()).fetch_optional(conn).await?;
    row.as_ref().map(user_from_row).transpose()
}

async fn other_active_admins(conn: &mut AnyConnection, id: UserId) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM users
          WHERE role = 'admin' AND is_active = TRUE AND deleted_at IS NULL AND id <> $1",
    )
    .bind(id.to_string())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("n")?)
}

fn audit_from_row(row: &AnyRow) -> Result<AuditRecord> {
    let detail: Option<String> = row.try_get("detail")?;
    Ok(AuditRecord {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        action: row.try_get("action")?,
        outcome: row.try_get("outcome")?,
        user_id: row.try_get("user_id")?,
        actor_id: row.try_get("actor_id")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        detail: detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null),
    })
}
