//! The Django original's users and refresh tokens (contract §18).

use rusqlite::{OptionalExtension, params};

use super::sessions::insert_session;
use super::users::{name_key, taken};
use super::{Store, Tx};
use crate::domain::import::{LegacyToken, Stored};
use crate::domain::session::NewSession;
use crate::domain::{Email, Phone, SessionId, User, micros};
use crate::error::Result;

/// Every column of `users` an import writes: `?1` id … `?16` deleted_at.
const INSERT_USER: &str = "INSERT INTO users (id, email, email_key, phone, password, first_name, last_name,
        name_key, role, auth_provider, is_active, is_verified, last_login, created_at, updated_at, deleted_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

const UPDATE_USER: &str = "UPDATE users SET email = ?2, email_key = ?3, phone = ?4, password = ?5,
        first_name = ?6, last_name = ?7, name_key = ?8, role = ?9, auth_provider = ?10, is_active = ?11,
        is_verified = ?12, last_login = ?13, created_at = ?14, updated_at = ?15, deleted_at = ?16
    WHERE id = ?1";

const SETTING: &str = "legacy_tokens_until";

impl Store {
    /// Stores a batch of the original's users in one write (see the contract).
    pub async fn import_users(&self, users: &[User], dry_run: bool) -> Result<Vec<Stored>> {
        let users = users.to_vec();
        self.write(move |tx| {
            let outcomes = users.iter().map(|u| import_one(tx, u)).collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(if dry_run { tx.undo(outcomes) } else { outcomes })
        })
        .await
    }

    /// Stores the original's outstanding refresh tokens and moves the
    /// default legacy window, in one write.
    pub async fn import_legacy_tokens(&self, tokens: &[LegacyToken], dry_run: bool) -> Result<()> {
        let tokens = tokens.to_vec();
        self.write(move |tx| {
            for t in &tokens {
                tx.exec(
                    "INSERT INTO legacy_refresh_tokens (jti, user_id, expires_at, blacklisted)
                     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)
                     ON CONFLICT (jti) DO UPDATE SET blacklisted = max(blacklisted, excluded.blacklisted)
                      WHERE session_id IS NULL",
                    params![t.jti.as_str(), t.user_id.to_string(), t.expires_at, t.blacklisted],
                )?;
            }
            if let Some(until) = tokens.iter().filter(|t| !t.blacklisted).map(|t| t.expires_at).max() {
                tx.exec(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key)
                     DO UPDATE SET value = CAST(max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)",
                    params![SETTING, until.to_string()],
                )?;
            }
            if dry_run {
                tx.undo(());
            }
            Ok(())
        })
        .await
    }

    /// The end of the legacy window an import set.
    pub async fn legacy_tokens_until(&self) -> Result<Option<i64>> {
        self.read(|conn| {
            let value: Option<String> = conn
                .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
                .query_row([SETTING], |r| r.get(0))
                .optional()?;
            Ok(value.and_then(|v| v.parse().ok()))
        })
        .await
    }

    /// The session an imported refresh token is, opened at its first
    /// presentation.
    pub async fn adopt_legacy_refresh(&self, session: &NewSession) -> Result<Option<SessionId>> {
        let s = session.clone();
        self.write(move |tx| {
            let found: Option<(String, bool, Option<String>)> = tx
                .conn
                .prepare_cached("SELECT user_id, blacklisted, session_id FROM legacy_refresh_tokens WHERE jti = ?1")?
                .query_row([s.refresh.jti.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            match found {
                Some((user, false, adopted)) if user == s.user_id.to_string() => match adopted {
                    Some(sid) => Ok(sid.parse().ok()),
                    None => {
                        insert_session(tx, &s)?;
                        let sql = "UPDATE legacy_refresh_tokens SET session_id = ?2 WHERE jti = ?1";
                        tx.exec(sql, params![s.refresh.jti.as_str(), s.id.to_string()])?;
                        Ok(Some(s.id))
                    }
                },
                _ => Ok(None),
            }
        })
        .await
    }
}

/// One user: inserted, replaced if the source is newer, or left.
fn import_one(tx: &Tx<'_>, u: &User) -> rusqlite::Result<Stored> {
    let id = u.id.to_string();
    let stored: Option<i64> = tx
        .conn
        .prepare_cached("SELECT updated_at FROM users WHERE id = ?1")?
        .query_row([&id], |r| r.get(0))
        .optional()?;
    let (sql, done) = match stored {
        None => (INSERT_USER, Stored::Imported),
        Some(at) if at < micros(u.updated_at) => (UPDATE_USER, Stored::Updated),
        Some(_) => return Ok(Stored::Unchanged),
    };
    let written = tx.exec(
        sql,
        params![
            id,
            u.email.as_ref().map(Email::as_str),
            u.email.as_ref().map(Email::key),
            u.phone.as_ref().map(Phone::as_str),
            u.password_hash,
            u.first_name,
            u.last_name,
            name_key(&u.first_name, &u.last_name),
            u.role.as_str(),
            u.auth_provider.as_str(),
            u.is_active,
            u.is_verified,
            u.last_login.map(micros),
            micros(u.created_at),
            micros(u.updated_at),
            u.deleted_at.map(micros),
        ],
    );
    match written {
        Ok(_) => Ok(done),
        Err(e) => match taken(&e) {
            Some(t) if t.email => Ok(Stored::EmailTaken),
            Some(_) => Ok(Stored::PhoneTaken),
            None => Err(e),
        },
    }
}
