//! Accounts: look-ups, sign-up, names and passwords.

use rusqlite::{Connection, ErrorCode, params};

use super::recovery::upsert_otp;
use super::rows::{USER_BY_ID, user};
use super::sessions::{insert_session, revoke_all};
use super::writer::row;
use super::{Store, Tx};
use crate::domain::recovery::NewCode;
use crate::domain::{AuditEvent, AuthProvider, Email, LoginId, Phone, SessionId, User, UserId, micros};
use crate::error::Result;
use crate::store::contract::{NewUser, PasswordChange, UserTaken};

/// The user `?1` if their session `?2` is live.
const SESSION_USER: &str =
    select_users!("JOIN sessions s ON s.user_id = u.id WHERE u.id = ?1 AND s.id = ?2 AND s.revoked_at IS NULL");

impl Store {
    /// The live (not deleted) account an email or phone signs in to.
    pub async fn find_user_by_login(&self, login: &LoginId) -> Result<Option<User>> {
        let (sql, key) = match login {
            LoginId::Email(e) => (select_users!("WHERE u.email_key = ?1 AND u.deleted_at IS NULL"), e.key()),
            LoginId::Phone(p) => (select_users!("WHERE u.phone = ?1 AND u.deleted_at IS NULL"), p.to_string()),
        };
        self.read(move |conn| row(conn, sql, [key], user)).await
    }

    /// Any account by id, deleted or not.
    pub async fn find_user(&self, id: UserId) -> Result<Option<User>> {
        self.read_point(move |conn| load(conn, id)).await
    }

    /// The user behind an access token, if its session is live.
    pub async fn find_session_user(&self, id: UserId, session: SessionId) -> Result<Option<User>> {
        let keys = [id.to_string(), session.to_string()];
        self.read_point(move |conn| row(conn, SESSION_USER, rusqlite::params![keys[0], keys[1]], user)).await
    }

    /// Which of these identifiers a live account already holds.
    pub async fn user_taken(&self, email: Option<&Email>, phone: Option<&Phone>) -> Result<UserTaken> {
        let (email, phone) = (email.map(Email::key), phone.map(|p| p.as_str().to_owned()));
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM users WHERE email_key = ?1 AND deleted_at IS NULL),
                        EXISTS (SELECT 1 FROM users WHERE phone = ?2 AND deleted_at IS NULL)",
            )?
            .query_row(params![email, phone], |r| Ok(UserTaken { email: r.get(0)?, phone: r.get(1)? }))
        })
        .await
    }

    /// Creates the user, its first verification code (when given) and the
    /// audit event in one write; a concurrent twin loses on the unique index.
    pub async fn create_user(
        &self,
        new: &NewUser,
        code: Option<&NewCode<'_>>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<User, UserTaken>> {
        let (new, event) = (new.clone(), event.clone());
        let code = code.map(super::recovery::OwnedCode::of);
        self.write(move |tx| {
            if let Err(e) = insert_user(tx, &new) {
                return taken(&e).map(Err).ok_or(e);
            }
            if let Some(code) = &code {
                upsert_otp(tx, new.id, &code.borrow())?;
            }
            tx.audit(event)?;
            Ok(Ok(load(tx.conn, new.id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?))
        })
        .await
    }

    /// Renames the user, with the audit event, in one write.
    pub async fn update_user_names(&self, id: UserId, first: &str, last: &str, event: &AuditEvent) -> Result<()> {
        let (first, last, event) = (first.to_owned(), last.to_owned(), event.clone());
        self.write(move |tx| {
            tx.exec(
                "UPDATE users SET first_name = ?2, last_name = ?3, updated_at = ?4, name_key = ?5 WHERE id = ?1",
                params![id.to_string(), first, last, micros(tx.now()), name_key(&first, &last)],
            )?;
            tx.audit(event)
        })
        .await
    }

    /// Replaces a hash with a stronger one of the same password, unless any
    /// other write changed it meanwhile (then false). Never touches
    /// `updated_at`: nothing the user set changed.
    pub async fn upgrade_password_hash(&self, id: UserId, old_hash: &str, new_hash: &str) -> Result<bool> {
        let (old_hash, new_hash) = (old_hash.to_owned(), new_hash.to_owned());
        self.write(move |tx| {
            let sql = "UPDATE users SET password = ?3 WHERE id = ?1 AND password = ?2";
            Ok(tx.exec(sql, params![id.to_string(), old_hash, new_hash])? == 1)
        })
        .await
    }

    /// Replaces the password, consumes the reset code, revokes every session
    /// of the user, opens the new one and records the event, in one write.
    /// False (and nothing changed) when the hash (if given) or the code
    /// changed meanwhile.
    pub async fn replace_password(&self, c: &PasswordChange<'_>, event: &AuditEvent) -> Result<bool> {
        let (user, reason, session) = (c.user_id.to_string(), c.reason, c.new_session.cloned());
        let (old_hash, new_hash) = (c.old_hash.map(str::to_owned), c.new_hash.to_owned());
        let reset_code = c.reset_code.map(str::to_owned);
        let event = event.clone();
        self.write(move |tx| {
            if let Some(code_hash) = &reset_code {
                let sql = "DELETE FROM otp_codes WHERE user_id = ?1 AND purpose = 'reset' AND code_hash = ?2";
                if tx.exec(sql, params![user, code_hash])? != 1 {
                    return Ok(tx.undo(false));
                }
            }
            let updated = tx.exec(
                "UPDATE users SET password = ?3, updated_at = ?4 WHERE id = ?1 AND (?2 IS NULL OR password = ?2)",
                params![user, old_hash, new_hash, micros(tx.now())],
            )?;
            if updated != 1 {
                return Ok(tx.undo(false));
            }
            revoke_all(tx, &user, reason)?;
            // A pending SMS reset code must not outlive the password it resets.
            tx.exec("DELETE FROM otp_codes WHERE user_id = ?1 AND purpose = 'reset'", [&user])?;
            // A sign-in waiting for its second factor must not outlive the
            // password it was started with.
            tx.exec("DELETE FROM mfa_challenges WHERE user_id = ?1", [&user])?;
            if let Some(session) = &session {
                insert_session(tx, session)?;
            }
            tx.audit(event)?;
            Ok(true)
        })
        .await
    }

    /// Stores `value` unless the key already has one, and returns the value
    /// that is stored: concurrent first starts agree on one secret.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |tx| {
            tx.exec("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING", [&key, &value])?;
            tx.conn.prepare_cached("SELECT value FROM settings WHERE key = ?1")?.query_row([&key], |r| r.get(0))
        })
        .await
    }
}

/// Any account by id, on `conn`.
pub(super) fn load(conn: &Connection, id: UserId) -> rusqlite::Result<Option<User>> {
    row(conn, USER_BY_ID, [id.to_string()], user)
}

fn insert_user(tx: &Tx<'_>, new: &NewUser) -> rusqlite::Result<()> {
    let provider = if new.email.is_some() { AuthProvider::Email } else { AuthProvider::Phone };
    insert_user_as(tx, new, provider.as_str())
}

/// Inserts the user, created by `provider` (§3 `auth_provider`).
pub(super) fn insert_user_as(tx: &Tx<'_>, new: &NewUser, provider: &str) -> rusqlite::Result<()> {
    let now = micros(tx.now());
    tx.exec(
        "INSERT INTO users (id, email, email_key, phone, password, first_name, last_name, role,
                            auth_provider, is_active, is_verified, created_at, updated_at, name_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, TRUE, ?10, ?11, ?11, ?12)",
        params![
            new.id.to_string(),
            new.email.as_ref().map(Email::as_str),
            new.email.as_ref().map(Email::key),
            new.phone.as_ref().map(Phone::as_str),
            new.password_hash,
            new.first_name,
            new.last_name,
            new.role.as_str(),
            provider,
            new.is_verified,
            now,
            name_key(&new.first_name, &new.last_name),
        ],
    )?;
    Ok(())
}

/// The identifier a unique-index violation protects, if it is one.
pub(super) fn taken(e: &rusqlite::Error) -> Option<UserTaken> {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(msg)) if f.code == ErrorCode::ConstraintViolation => {
            let unique = f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE;
            unique.then(|| UserTaken { email: msg.contains("email"), phone: msg.contains("phone") })
        }
        _ => None,
    }
}

/// What the admin search matches names against: both names, lower-cased
/// with Unicode rules.
pub(super) fn name_key(first_name: &str, last_name: &str) -> String {
    format!("{first_name} {last_name}").to_lowercase()
}
