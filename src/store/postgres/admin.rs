//! Queries and changes of the admin API (contract §13). Each change and its
//! audit event commit together; the last-admin rule is checked under an
//! advisory lock every admin write takes, so two admins demoting each other
//! at once cannot leave none.

use sqlx::PgConnection;

use super::Store;
use super::audit::{StoredAudit, insert_audit};
use super::sessions::revoke_all;
use super::users::{UserRow, load, name_key, taken_from, user};
use crate::domain::{AuditEvent, Role, User, UserId};
use crate::error::{Error, Result};
use crate::store::contract::{AdminWrite, AuditFilter, AuditRecord, UserChange, UserFilter};

/// The lock of the last-admin rule, which reads rows other than the one
/// changed.
const ADMINS: &str = "authgate.admins";

/// `LIKE` pattern for a search text, with its wildcards escaped.
fn like(q: &str) -> String {
    let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    pub async fn list_users(&self, f: &UserFilter) -> Result<Vec<User>> {
        let rows = sqlx::query_as!(
            UserRow,
            r#"SELECT id, email, phone, password, first_name, last_name, role, auth_provider, is_active,
                      is_verified, last_login, created_at, updated_at, deleted_at
                 FROM users
                WHERE (CASE WHEN $1 THEN deleted_at IS NOT NULL ELSE deleted_at IS NULL END)
                  AND ($2::text IS NULL OR role = $2)
                  AND ($3::bool IS NULL OR is_active = $3)
                  AND ($4::bool IS NULL OR is_verified = $4)
                  AND ($5::text IS NULL OR email_key LIKE $5 ESCAPE '\' OR phone LIKE $5 ESCAPE '\'
                       OR name_key LIKE $5 ESCAPE '\')
                  AND ($6::bigint IS NULL OR (created_at, id) < ($6, $7::text))
                ORDER BY created_at DESC, id DESC
                LIMIT $8"#,
            f.deleted,
            f.role.map(Role::as_str),
            f.is_active,
            f.is_verified,
            f.q.as_deref().map(like),
            f.after.as_ref().map(|c| c.at),
            f.after.as_ref().map(|c| c.id.as_str()),
            i64::from(f.limit) + 1,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(User::try_from).collect()
    }

    pub async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query_as!(
            StoredAudit,
            "SELECT id, at, action, outcome, user_id, actor_id, ip, user_agent, detail FROM audit_events
              WHERE ($1::text IS NULL OR user_id = $1)
                AND ($2::text IS NULL OR action = $2)
                AND ($3::text IS NULL OR outcome = $3)
                AND ($4::bigint IS NULL OR at >= $4)
                AND ($5::bigint IS NULL OR at < $5)
                AND ($6::bigint IS NULL OR (at, id) < ($6, $7::text))
              ORDER BY at DESC, id DESC
              LIMIT $8",
            f.user_id.as_deref(),
            f.action.as_deref(),
            f.outcome.as_deref(),
            f.since,
            f.until,
            f.after.as_ref().map(|c| c.at),
            f.after.as_ref().map(|c| c.id.as_str()),
            i64::from(f.limit) + 1,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
    }

    pub async fn change_user(&self, id: UserId, c: &UserChange, event: &AuditEvent) -> Result<AdminWrite> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        Store::lock_for(&mut tx, ADMINS).await?;
        let Some(current) = live(&mut tx, id).await? else { return Ok(AdminWrite::NotFound) };
        let stays_admin = c.role.unwrap_or(current.role) == Role::Admin && c.is_active.unwrap_or(current.is_active);
        if is_active_admin(&current) && !stays_admin && other_active_admins(&mut tx, id).await? == 0 {
            return Ok(AdminWrite::LastAdmin);
        }
        let renamed = (c.first_name.is_some() || c.last_name.is_some()).then(|| {
            name_key(
                c.first_name.as_deref().unwrap_or(&current.first_name),
                c.last_name.as_deref().unwrap_or(&current.last_name),
            )
        });
        sqlx::query!(
            "UPDATE users SET is_active = COALESCE($2, is_active), is_verified = COALESCE($3, is_verified),
                    first_name = COALESCE($4, first_name), last_name = COALESCE($5, last_name),
                    role = COALESCE($6, role), name_key = COALESCE($7, name_key), updated_at = $8
              WHERE id = $1",
            id.to_string(),
            c.is_active,
            c.is_verified,
            c.first_name.as_deref(),
            c.last_name.as_deref(),
            c.role.map(Role::as_str),
            renamed,
            now,
        )
        .execute(&mut *tx)
        .await?;
        if c.is_active == Some(false) {
            revoke_all(&mut tx, id, "deactivated", now).await?;
        }
        self.finish(tx, id, event, now, "changed").await
    }

    pub async fn soft_delete_user(&self, id: UserId, event: &AuditEvent) -> Result<AdminWrite> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        Store::lock_for(&mut tx, ADMINS).await?;
        let Some(current) = live(&mut tx, id).await? else { return Ok(AdminWrite::NotFound) };
        if is_active_admin(&current) && other_active_admins(&mut tx, id).await? == 0 {
            return Ok(AdminWrite::LastAdmin);
        }
        sqlx::query!("UPDATE users SET deleted_at = $2, updated_at = $2 WHERE id = $1", id.to_string(), now)
            .execute(&mut *tx)
            .await?;
        revoke_all(&mut tx, id, "deleted", now).await?;
        self.finish(tx, id, event, now, "deleted").await
    }

    /// The partial unique indexes decide whether the email or phone was
    /// taken meanwhile; of concurrent restores, the second finds the row
    /// restored (its update waits for the first and re-checks).
    pub async fn restore_user(&self, id: UserId, event: &AuditEvent) -> Result<AdminWrite> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let Some(current) = load(&mut tx, id).await? else { return Ok(AdminWrite::NotFound) };
        if current.deleted_at.is_none() {
            return Ok(AdminWrite::NotDeleted);
        }
        let restored = sqlx::query!(
            "UPDATE users SET deleted_at = NULL, updated_at = $2 WHERE id = $1 AND deleted_at IS NOT NULL",
            id.to_string(),
            now,
        )
        .execute(&mut *tx)
        .await;
        match restored {
            Ok(done) if done.rows_affected() == 0 => return Ok(AdminWrite::NotDeleted),
            Ok(_) => {}
            Err(e) => return taken_from(&e).map(AdminWrite::Taken).ok_or_else(|| e.into()),
        }
        self.finish(tx, id, event, now, "restored").await
    }

    /// Records the event, reads the user back and commits.
    async fn finish(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        id: UserId,
        event: &AuditEvent,
        now: i64,
        what: &str,
    ) -> Result<AdminWrite> {
        insert_audit(&mut tx, event, now).await?;
        let done = user(load(&mut tx, id).await?)?.ok_or_else(|| Error::internal(format!("{what} user vanished")))?;
        tx.commit().await?;
        event.log();
        Ok(AdminWrite::Done(done))
    }
}

fn is_active_admin(u: &User) -> bool {
    u.role == Role::Admin && u.is_active && u.deleted_at.is_none()
}

/// The user, unless deleted.
async fn live(conn: &mut PgConnection, id: UserId) -> Result<Option<User>> {
    Ok(user(load(conn, id).await?)?.filter(|u| u.deleted_at.is_none()))
}

async fn other_active_admins(conn: &mut PgConnection, id: UserId) -> Result<i64> {
    let n = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "n!" FROM users
            WHERE role = 'admin' AND is_active = TRUE AND deleted_at IS NULL AND id <> $1"#,
        id.to_string(),
    )
    .fetch_one(conn)
    .await?;
    Ok(n)
}
