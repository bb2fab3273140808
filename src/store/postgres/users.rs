//! Accounts: look-ups, sign-up, renames and password writes.

use super::audit::AuditRow;
use super::sessions::{insert_session, revoke_all};
use super::{Store, parse_id};
use crate::domain::recovery::NewCode;
use crate::domain::{AuditEvent, AuthProvider, Email, LoginId, Phone, SessionId, User, UserId, from_micros};
use crate::error::{Error, Result};
use crate::store::contract::{NewUser, PasswordChange, UserTaken};

/// A `users` row as the queries select it (every column but the search
/// keys), decoded into a `User` by `TryFrom`.
pub(super) struct UserRow {
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub auth_provider: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub last_login: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(r: UserRow) -> Result<User> {
        Ok(User {
            id: parse_id(&r.id)?,
            email: r.email.map(Email::from_trusted),
            phone: r.phone.map(Phone::from_trusted),
            password_hash: r.password,
            first_name: r.first_name,
            last_name: r.last_name,
            role: r.role.parse().map_err(Error::internal)?,
            auth_provider: AuthProvider::from_stored(&r.auth_provider),
            is_active: r.is_active,
            is_verified: r.is_verified,
            last_login: r.last_login.map(from_micros),
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
            deleted_at: r.deleted_at.map(from_micros),
        })
    }
}

/// Decodes an optional row.
pub(super) fn user(row: Option<UserRow>) -> Result<Option<User>> {
    row.map(User::try_from).transpose()
}

/// Maps a unique-index violation to the identifier it protects (the
/// indexes are `users_email_live` and `users_phone_live`).
pub(super) fn taken_from(e: &sqlx::Error) -> Option<UserTaken> {
    let db = e.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    let index = db.constraint().unwrap_or_else(|| db.message());
    Some(UserTaken { email: index.contains("email"), phone: index.contains("phone") })
}

/// What the admin search matches names against: both names, lower-cased
/// with Unicode rules.
pub(super) fn name_key(first_name: &str, last_name: &str) -> String {
    format!("{first_name} {last_name}").to_lowercase()
}

impl Store {
    pub async fn find_user_by_login(&self, login: &LoginId) -> Result<Option<User>> {
        let row = match login {
            LoginId::Email(e) => {
                sqlx::query_as!(
                    UserRow,
                    "SELECT id, email, phone, password, first_name, last_name, role, auth_provider, is_active,
                            is_verified, last_login, created_at, updated_at, deleted_at
                       FROM users WHERE email_key = $1 AND deleted_at IS NULL",
                    e.key(),
                )
                .fetch_optional(&self.pool)
                .await?
            }
            LoginId::Phone(p) => {
                sqlx::query_as!(
                    UserRow,
                    "SELECT id, email, phone, password, first_name, last_name, role, auth_provider, is_active,
                            is_verified, last_login, created_at, updated_at, deleted_at
                       FROM users WHERE phone = $1 AND deleted_at IS NULL",
                    p.as_str(),
                )
                .fetch_optional(&self.pool)
                .await?
            }
        };
        user(row)
    }

    pub async fn find_user(&self, id: UserId) -> Result<Option<User>> {
        let mut conn = self.pool.acquire().await?;
        user(load(&mut conn, id).await?)
    }

    /// The session check of every signed-in request: one indexed join.
    pub async fn find_session_user(&self, id: UserId, session: SessionId) -> Result<Option<User>> {
        let row = sqlx::query_as!(
            UserRow,
            "SELECT u.id, u.email, u.phone, u.password, u.first_name, u.last_name, u.role, u.auth_provider,
                    u.is_active, u.is_verified, u.last_login, u.created_at, u.updated_at, u.deleted_at
               FROM users u JOIN sessions s ON s.user_id = u.id
              WHERE u.id = $1 AND s.id = $2 AND s.revoked_at IS NULL",
            id.to_string(),
            session.to_string(),
        )
        .fetch_optional(&self.pool)
        .await?;
        user(row)
    }

    pub async fn user_taken(&self, email: Option<&Email>, phone: Option<&Phone>) -> Result<UserTaken> {
        let row = sqlx::query!(
            r#"SELECT
                 EXISTS (SELECT 1 FROM users WHERE email_key = $1 AND deleted_at IS NULL) AS "email!",
                 EXISTS (SELECT 1 FROM users WHERE phone = $2 AND deleted_at IS NULL) AS "phone!""#,
            email.map(Email::key),
            phone.map(Phone::as_str),
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(UserTaken { email: row.email, phone: row.phone })
    }

    /// One statement: the user, its first code with the recovery event
    /// that counts it, and the audit event. A twin that lost on a unique
    /// index changed nothing.
    pub async fn create_user(
        &self,
        new: &NewUser,
        code: Option<&NewCode<'_>>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<User, UserTaken>> {
        let now = self.now();
        let provider = if new.email.is_some() { AuthProvider::Email } else { AuthProvider::Phone };
        let a = AuditRow::of(event, now);
        let created = sqlx::query!(
            "WITH new_user AS (
                 INSERT INTO users (id, email, email_key, phone, password, first_name, last_name, role,
                                    auth_provider, is_active, is_verified, created_at, updated_at, name_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, TRUE, $10, $11, $11, $12)
                 RETURNING id
             ), code AS (
                 INSERT INTO otp_codes (user_id, purpose, network, code_hash, expires_at, attempts, created_at)
                 SELECT id, $13, $14, $15, $16, 0, $17 FROM new_user WHERE $15::text IS NOT NULL
             ), counted AS (
                 INSERT INTO recovery_events (user_id, kind, network, at)
                 SELECT id, $18, $14, $17 FROM new_user WHERE $15::text IS NOT NULL
             )
             INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
             SELECT $19, $20, $21, $22, $23, $24, $25, $26, $27 FROM new_user",
            new.id.to_string(),
            new.email.as_ref().map(Email::as_str),
            new.email.as_ref().map(Email::key),
            new.phone.as_ref().map(Phone::as_str),
            new.password_hash,
            new.first_name,
            new.last_name,
            new.role.as_str(),
            provider.as_str(),
            new.is_verified,
            now,
            name_key(&new.first_name, &new.last_name),
            code.map(|c| c.purpose.as_str()),
            code.map_or("", |c| c.network),
            code.map(|c| c.code_hash),
            code.map(|c| crate::domain::micros(c.expires_at)),
            code.map(|c| crate::domain::micros(c.now)),
            code.map(|c| c.purpose.code_sent()),
            a.id,
            a.at,
            a.action,
            a.outcome,
            a.user_id,
            a.actor_id,
            a.ip,
            a.user_agent,
            a.detail,
        )
        .execute(&self.pool)
        .await;
        if let Err(e) = created {
            return taken_from(&e).map(|taken| Ok(Err(taken))).unwrap_or_else(|| Err(e.into()));
        }
        event.log();
        Ok(Ok(User {
            id: new.id,
            email: new.email.clone(),
            phone: new.phone.clone(),
            password_hash: new.password_hash.clone(),
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            role: new.role,
            auth_provider: provider,
            is_active: true,
            is_verified: new.is_verified,
            last_login: None,
            created_at: from_micros(now),
            updated_at: from_micros(now),
            deleted_at: None,
        }))
    }

    /// The rename and its audit event in one statement.
    pub async fn update_user_names(&self, id: UserId, first: &str, last: &str, event: &AuditEvent) -> Result<()> {
        let now = self.now();
        let a = AuditRow::of(event, now);
        sqlx::query!(
            "WITH renamed AS (
                 UPDATE users SET first_name = $2, last_name = $3, updated_at = $4, name_key = $5 WHERE id = $1
             )
             INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
             VALUES ($6, $7, $8, $9, $10, $11, $12, $13, $14)",
            id.to_string(),
            first,
            last,
            now,
            name_key(first, last),
            a.id,
            a.at,
            a.action,
            a.outcome,
            a.user_id,
            a.actor_id,
            a.ip,
            a.user_agent,
            a.detail,
        )
        .execute(&self.pool)
        .await?;
        event.log();
        Ok(())
    }

    /// A compare-and-swap that never touches `updated_at` (nothing the user
    /// set changed) and loses to any other password write.
    pub async fn upgrade_password_hash(&self, id: UserId, old_hash: &str, new_hash: &str) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE users SET password = $3 WHERE id = $1 AND password = $2",
            id.to_string(),
            old_hash,
            new_hash
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// In one transaction: consume the reset code (if one was used), swap
    /// the hash (if the decision rested on one), revoke every session, drop
    /// pending reset codes, open the caller's session, record the event.
    pub async fn replace_password(&self, c: &PasswordChange<'_>, event: &AuditEvent) -> Result<bool> {
        let now = self.now();
        let uid = c.user_id.to_string();
        let mut tx = self.pool.begin().await?;
        if let Some(code_hash) = c.reset_code {
            let consumed = sqlx::query!(
                "DELETE FROM otp_codes WHERE user_id = $1 AND purpose = 'reset' AND code_hash = $2",
                uid,
                code_hash,
            )
            .execute(&mut *tx)
            .await?;
            if consumed.rows_affected() != 1 {
                return Ok(false);
            }
        }
        let updated = sqlx::query!(
            "UPDATE users SET password = $3, updated_at = $4 WHERE id = $1 AND ($2::text IS NULL OR password = $2)",
            uid,
            c.old_hash,
            c.new_hash,
            now,
        )
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        revoke_all(&mut tx, c.user_id, c.reason, now).await?;
        // A pending SMS reset code must not outlive the password it resets.
        sqlx::query!("DELETE FROM otp_codes WHERE user_id = $1 AND purpose = 'reset'", uid).execute(&mut *tx).await?;
        // A sign-in waiting for its second factor must not outlive the
        // password it was started with.
        sqlx::query!("DELETE FROM mfa_challenges WHERE user_id = $1", uid).execute(&mut *tx).await?;
        if let Some(session) = c.new_session {
            insert_session(&mut tx, session).await?;
        }
        super::audit::insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(true)
    }
}

/// Any account by id, on a connection (inside a transaction or not).
pub(super) async fn load(conn: &mut sqlx::PgConnection, id: UserId) -> Result<Option<UserRow>> {
    let row = sqlx::query_as!(
        UserRow,
        "SELECT id, email, phone, password, first_name, last_name, role, auth_provider, is_active,
                is_verified, last_login, created_at, updated_at, deleted_at
           FROM users WHERE id = $1",
        id.to_string(),
    )
    .fetch_optional(conn)
    .await?;
    Ok(row)
}
