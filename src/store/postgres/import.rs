//! The Django original's users and refresh tokens (contract §18). A batch
//! of users takes four statements whatever its size: the known ids, the
//! live holders of its addresses, then one multi-row insert and one
//! multi-row update (`UNNEST` over column arrays).

use std::collections::HashMap;

use sqlx::PgConnection;

use super::sessions::insert_session;
use super::users::{name_key, taken_from};
use super::{Store, parse_id};
use crate::domain::import::{LegacyToken, Stored};
use crate::domain::session::NewSession;
use crate::domain::{Email, Phone, SessionId, User, micros};
use crate::error::Result;

const SETTING: &str = "legacy_tokens_until";

impl Store {
    /// Stores a batch of the original's users in one transaction (see the
    /// contract). A concurrent sign-up that takes an address between the
    /// check and the write fails the batch's statement: the batch is then
    /// stored user by user, and that user is left out.
    pub async fn import_users(&self, users: &[User], dry_run: bool) -> Result<Vec<Stored>> {
        match self.import_batch(users, dry_run).await {
            Err(e) if users.len() > 1 && taken_from(&e).is_some() => {
                let mut outcomes = Vec::with_capacity(users.len());
                for user in users {
                    outcomes.push(match self.import_batch(std::slice::from_ref(user), dry_run).await {
                        Err(e) => match taken_from(&e) {
                            Some(t) if t.email => Stored::EmailTaken,
                            Some(_) => Stored::PhoneTaken,
                            None => return Err(e.into()),
                        },
                        Ok(mut one) => one.pop().unwrap_or(Stored::Unchanged),
                    });
                }
                Ok(outcomes)
            }
            done => Ok(done?),
        }
    }

    async fn import_batch(&self, users: &[User], dry_run: bool) -> std::result::Result<Vec<Stored>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let outcomes = judge(&mut tx, users).await?;
        let pick = |wanted: Stored| users.iter().zip(&outcomes).filter(move |(_, o)| **o == wanted).map(|(u, _)| u);
        insert_users(&mut tx, &Columns::of(pick(Stored::Imported))).await?;
        update_users(&mut tx, &Columns::of(pick(Stored::Updated))).await?;
        if dry_run {
            tx.rollback().await?
        } else {
            tx.commit().await?
        }
        Ok(outcomes)
    }

    /// Stores the original's outstanding refresh tokens and moves the
    /// default legacy window, in one transaction.
    pub async fn import_legacy_tokens(&self, tokens: &[LegacyToken], dry_run: bool) -> Result<()> {
        let jtis: Vec<String> = tokens.iter().map(|t| t.jti.as_str().to_owned()).collect();
        let users: Vec<String> = tokens.iter().map(|t| t.user_id.to_string()).collect();
        let expiries: Vec<i64> = tokens.iter().map(|t| t.expires_at).collect();
        let blacklisted: Vec<bool> = tokens.iter().map(|t| t.blacklisted).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO legacy_refresh_tokens (jti, user_id, expires_at, blacklisted)
             SELECT t.jti, t.user_id, t.expires_at, t.blacklisted
               FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bool[]) AS t(jti, user_id, expires_at, blacklisted)
              WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id)
             ON CONFLICT (jti) DO UPDATE SET blacklisted = legacy_refresh_tokens.blacklisted OR EXCLUDED.blacklisted
              WHERE legacy_refresh_tokens.session_id IS NULL",
            &jtis[..],
            &users[..],
            &expiries[..],
            &blacklisted[..],
        )
        .execute(&mut *tx)
        .await?;
        if let Some(until) = tokens.iter().filter(|t| !t.blacklisted).map(|t| t.expires_at).max() {
            sqlx::query!(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key)
                 DO UPDATE SET value = GREATEST(settings.value::bigint, EXCLUDED.value::bigint)::text",
                SETTING,
                until.to_string(),
            )
            .execute(&mut *tx)
            .await?;
        }
        if dry_run {
            tx.rollback().await?
        } else {
            tx.commit().await?
        }
        Ok(())
    }

    /// The end of the legacy window an import set.
    pub async fn legacy_tokens_until(&self) -> Result<Option<i64>> {
        let value = sqlx::query_scalar!("SELECT value FROM settings WHERE key = $1", SETTING)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    /// The session an imported refresh token is, opened at its first
    /// presentation; the token's row is locked meanwhile, so of concurrent
    /// first presentations one opens it and the others find it.
    pub async fn adopt_legacy_refresh(&self, s: &NewSession) -> Result<Option<SessionId>> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query!(
            "SELECT user_id, blacklisted, session_id FROM legacy_refresh_tokens WHERE jti = $1 FOR UPDATE",
            s.refresh.jti.as_str(),
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = found.filter(|r| !r.blacklisted && r.user_id == s.user_id.to_string()) else {
            return Ok(None);
        };
        if let Some(sid) = row.session_id {
            return Ok(Some(parse_id(&sid)?));
        }
        insert_session(&mut tx, s).await?;
        sqlx::query!(
            "UPDATE legacy_refresh_tokens SET session_id = $2 WHERE jti = $1",
            s.refresh.jti.as_str(),
            s.id.to_string(),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(s.id))
    }
}

/// What each user of the batch will be: new, newer than stored, not newer,
/// or holding an address a live account of another id holds.
async fn judge(conn: &mut PgConnection, users: &[User]) -> std::result::Result<Vec<Stored>, sqlx::Error> {
    let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    let stored: HashMap<String, i64> = sqlx::query!("SELECT id, updated_at FROM users WHERE id = ANY($1)", &ids[..])
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.updated_at))
        .collect();
    let live = || users.iter().filter(|u| u.deleted_at.is_none());
    let emails: Vec<String> = live().filter_map(|u| u.email.as_ref().map(Email::key)).collect();
    let phones: Vec<String> = live().filter_map(|u| u.phone.as_ref().map(|p| p.as_str().to_owned())).collect();
    let holders = sqlx::query!(
        "SELECT id, email_key, phone FROM users
          WHERE deleted_at IS NULL AND (email_key = ANY($1) OR phone = ANY($2))",
        &emails[..],
        &phones[..],
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut held: HashMap<String, &str> = HashMap::new();
    for h in &holders {
        let keys = [h.email_key.as_ref().map(|e| format!("e{e}")), h.phone.as_ref().map(|p| format!("p{p}"))];
        for key in keys.into_iter().flatten() {
            held.insert(key, &h.id);
        }
    }
    let other = |key: String, id: &str| held.get(&key).is_some_and(|holder| *holder != id);
    Ok(users
        .iter()
        .zip(&ids)
        .map(|(u, id)| {
            let live = u.deleted_at.is_none();
            let fresh = match stored.get(id) {
                None => Stored::Imported,
                Some(at) if *at < micros(u.updated_at) => Stored::Updated,
                Some(_) => return Stored::Unchanged,
            };
            if live && u.email.as_ref().is_some_and(|e| other(format!("e{}", e.key()), id)) {
                Stored::EmailTaken
            } else if live && u.phone.as_ref().is_some_and(|p| other(format!("p{}", p.as_str()), id)) {
                Stored::PhoneTaken
            } else {
                fresh
            }
        })
        .collect())
}

/// Users as the column arrays `UNNEST` takes.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    email: Vec<Option<String>>,
    email_key: Vec<Option<String>>,
    phone: Vec<Option<String>>,
    password: Vec<String>,
    first_name: Vec<String>,
    last_name: Vec<String>,
    name_key: Vec<String>,
    role: Vec<String>,
    auth_provider: Vec<String>,
    is_active: Vec<bool>,
    is_verified: Vec<bool>,
    last_login: Vec<Option<i64>>,
    created_at: Vec<i64>,
    updated_at: Vec<i64>,
    deleted_at: Vec<Option<i64>>,
}

impl Columns {
    fn of<'a>(users: impl Iterator<Item = &'a User>) -> Columns {
        let mut c = Columns::default();
        for u in users {
            c.id.push(u.id.to_string());
            c.email.push(u.email.as_ref().map(|e| e.as_str().to_owned()));
            c.email_key.push(u.email.as_ref().map(Email::key));
            c.phone.push(u.phone.as_ref().map(Phone::as_str).map(str::to_owned));
            c.password.push(u.password_hash.clone());
            c.first_name.push(u.first_name.clone());
            c.last_name.push(u.last_name.clone());
            c.name_key.push(name_key(&u.first_name, &u.last_name));
            c.role.push(u.role.as_str().to_owned());
            c.auth_provider.push(u.auth_provider.as_str().to_owned());
            c.is_active.push(u.is_active);
            c.is_verified.push(u.is_verified);
            c.last_login.push(u.last_login.map(micros));
            c.created_at.push(micros(u.created_at));
            c.updated_at.push(micros(u.updated_at));
            c.deleted_at.push(u.deleted_at.map(micros));
        }
        c
    }
}

async fn insert_users(conn: &mut PgConnection, c: &Columns) -> std::result::Result<(), sqlx::Error> {
    if c.id.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO users (id, email, email_key, phone, password, first_name, last_name, name_key, role,
                            auth_provider, is_active, is_verified, last_login, created_at, updated_at, deleted_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::text[], $10::text[], $11::bool[], $12::bool[], $13::bigint[],
                              $14::bigint[], $15::bigint[], $16::bigint[])",
        &c.id[..],
        &c.email[..] as &[Option<String>],
        &c.email_key[..] as &[Option<String>],
        &c.phone[..] as &[Option<String>],
        &c.password[..],
        &c.first_name[..],
        &c.last_name[..],
        &c.name_key[..],
        &c.role[..],
        &c.auth_provider[..],
        &c.is_active[..],
        &c.is_verified[..],
        &c.last_login[..] as &[Option<i64>],
        &c.created_at[..],
        &c.updated_at[..],
        &c.deleted_at[..] as &[Option<i64>],
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn update_users(conn: &mut PgConnection, c: &Columns) -> std::result::Result<(), sqlx::Error> {
    if c.id.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE users u SET email = s.email, email_key = s.email_key, phone = s.phone, password = s.password,
                first_name = s.first_name, last_name = s.last_name, name_key = s.name_key, role = s.role,
                auth_provider = s.auth_provider, is_active = s.is_active, is_verified = s.is_verified,
                last_login = s.last_login, created_at = s.created_at, updated_at = s.updated_at,
                deleted_at = s.deleted_at
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::bool[], $12::bool[], $13::bigint[],
                       $14::bigint[], $15::bigint[], $16::bigint[])
             AS s(id, email, email_key, phone, password, first_name, last_name, name_key, role, auth_provider,
                  is_active, is_verified, last_login, created_at, updated_at, deleted_at)
          WHERE u.id = s.id AND u.updated_at < s.updated_at",
        &c.id[..],
        &c.email[..] as &[Option<String>],
        &c.email_key[..] as &[Option<String>],
        &c.phone[..] as &[Option<String>],
        &c.password[..],
        &c.first_name[..],
        &c.last_name[..],
        &c.name_key[..],
        &c.role[..],
        &c.auth_provider[..],
        &c.is_active[..],
        &c.is_verified[..],
        &c.last_login[..] as &[Option<i64>],
        &c.created_at[..],
        &c.updated_at[..],
        &c.deleted_at[..] as &[Option<i64>],
    )
    .execute(conn)
    .await?;
    Ok(())
}
