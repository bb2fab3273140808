use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::audit::insert_audit;
use super::otp::upsert_otp;
use super::row::Cols;
use super::{Store, from_micros, micros, now_micros};
use crate::domain::recovery::NewCode;
use crate::domain::{AuditEvent, AuthProvider, Email, LoginId, Phone, SessionId, User, UserId};
use crate::error::{Error, Result};
use crate::store::contract::{NewUser, UserTaken};

/// Any account by id: `$1`.
pub(super) const USER_BY_ID: &str = select_users!("WHERE u.id = $1");

/// The user `$1` if their session `$2` is live.
pub(super) const SESSION_USER: &str =
    select_users!("JOIN sessions s ON s.user_id = u.id WHERE u.id = $1 AND s.id = $2 AND s.revoked_at IS NULL");

pub(super) fn user_from_row(row: &impl Cols) -> Result<User> {
    let id = row.text("id")?;
    let role = row.text("role")?;
    Ok(User {
        id: id.parse().map_err(Error::internal)?,
        email: row.opt_text("email")?.map(Email::from_trusted),
        phone: row.opt_text("phone")?.map(Phone::from_trusted),
        password_hash: row.text("password")?,
        first_name: row.text("first_name")?,
        last_name: row.text("last_name")?,
        role: role.parse().map_err(Error::internal)?,
        auth_provider: AuthProvider::from_stored(&row.text("auth_provider")?),
        is_active: row.flag("is_active")?,
        is_verified: row.flag("is_verified")?,
        last_login: row.opt_int("last_login")?.map(from_micros),
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        deleted_at: row.opt_int("deleted_at")?.map(from_micros),
    })
}

/// Maps a unique-index violation to the identifier it protects.
pub(super) fn taken_from(e: &sqlx::Error) -> Option<UserTaken> {
    let db = e.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    let msg = db.message();
    Some(UserTaken { email: msg.contains("email"), phone: msg.contains("phone") })
}

impl Store {
    /// The live (not deleted) account an email or phone signs in to.
    pub async fn find_user_by_login(&self, login: &LoginId) -> Result<Option<User>> {
        let (sql, value) = match login {
            LoginId::Email(e) => (select_users!("WHERE u.email_key = $1 AND u.deleted_at IS NULL"), e.key()),
            LoginId::Phone(p) => (select_users!("WHERE u.phone = $1 AND u.deleted_at IS NULL"), p.to_string()),
        };
        let row = sqlx::query(sql).bind(value).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Any account by id, deleted or not.
    pub async fn find_user(&self, id: UserId) -> Result<Option<User>> {
        if let Some(found) = self.direct.as_ref().map(|d| d.user(id)).transpose()?.flatten() {
            return Ok(found);
        }
        let row = sqlx::query(USER_BY_ID).bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user behind an access token, if its session is still live.
    pub async fn find_session_user(&self, id: UserId, session_id: SessionId) -> Result<Option<User>> {
        if let Some(found) = self.direct.as_ref().map(|d| d.session_user(id, session_id)).transpose()?.flatten() {
            return Ok(found);
        }
        let row = sqlx::query(SESSION_USER)
            .bind(id.to_string())
            .bind(session_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Which of these identifiers a live account already holds.
    pub async fn user_taken(&self, email: Option<&Email>, phone: Option<&Phone>) -> Result<UserTaken> {
        let row = sqlx::query(
            "SELECT
               EXISTS (SELECT 1 FROM users WHERE email_key = $1 AND deleted_at IS NULL) AS email,
               EXISTS (SELECT 1 FROM users WHERE phone = $2 AND deleted_at IS NULL) AS phone",
        )
        .bind(email.map(Email::key))
        .bind(phone.map(Phone::as_str))
        .fetch_one(&self.pool)
        .await?;
        Ok(UserTaken { email: row.flag("email")?, phone: row.flag("phone")? })
    }

    /// Creates the user, its first verification code (when given) and the
    /// audit event in one transaction. A concurrent twin loses on the unique
    /// index and gets `Ok(Err(taken))`.
    pub async fn create_user(
        &self,
        new: &NewUser,
        verification: Option<&NewCode<'_>>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<User, UserTaken>> {
        let id = new.id;
        let mut tx = self.write_tx().await?;
        if let Err(e) = insert_user(&mut tx, new).await {
            return taken_from(&e).map(Err).ok_or_else(|| e.into());
        }
        if let Some(code) = verification {
            upsert_otp(&mut tx, id, code).await?;
        }
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        let user = self.find_user(id).await?.ok_or_else(|| Error::internal("created user vanished"))?;
        Ok(Ok(user))
    }

    /// Renames the user, with the audit event, in one transaction.
    pub async fn update_user_names(
        &self,
        id: UserId,
        first_name: &str,
        last_name: &str,
        event: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET first_name = $2, last_name = $3, updated_at = $4, name_key = $5 WHERE id = $1")
            .bind(id.to_string())
            .bind(first_name)
            .bind(last_name)
            .bind(now_micros())
            .bind(name_key(first_name, last_name))
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a hash with a stronger one of the same password after a
    /// successful login, unless any other write changed it meanwhile: then
    /// nothing happens and the answer is false. A re-hash never wins over a
    /// password write, and never touches `updated_at` (nothing the user set
    /// changed).
    pub async fn upgrade_password_hash(&self, id: UserId, old_hash: &str, new_hash: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET password = $3 WHERE id = $1 AND password = $2")
            .bind(id.to_string())
            .bind(old_hash)
            .bind(new_hash)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

async fn insert_user(conn: &mut AnyConnection, new: &NewUser) -> std::result::Result<(), sqlx::Error> {
    let now = now_micros();
    let provider = if new.email.is_some() { AuthProvider::Email } else { AuthProvider::Phone };
    sqlx::query(
        "INSERT INTO users (id, email, email_key, phone, password, first_name, last_name, role,
                            auth_provider, is_active, is_verified, created_at, updated_at, name_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, TRUE, $10, $11, $11, $12)",
    )
    .bind(new.id.to_string())
    .bind(new.email.as_ref().map(Email::as_str))
    .bind(new.email.as_ref().map(Email::key))
    .bind(new.phone.as_ref().map(Phone::as_str))
    .bind(&new.password_hash)
    .bind(&new.first_name)
    .bind(&new.last_name)
    .bind(new.role.as_str())
    .bind(provider.as_str())
    .bind(new.is_verified)
    .bind(now)
    .bind(name_key(&new.first_name, &new.last_name))
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets `last_login` to `at` (inside the sign-in transaction).
pub(super) async fn touch_last_login(conn: &mut AnyConnection, id: UserId, at: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(micros(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// What the admin search matches names against: both names, lower-cased
/// with Unicode rules.
pub(super) fn name_key(first_name: &str, last_name: &str) -> String {
    format!("{first_name} {last_name}").to_lowercase()
}
