//! Rows into domain types. A column that does not parse (a malformed id, an
//! unknown role) is a conversion error of that column.

use std::str::FromStr;

use rusqlite::Row;
use rusqlite::types::Type;

use crate::domain::session::{RefreshState, Session, StoredRefresh};
use crate::domain::{AuthProvider, Email, Jti, Phone, User, from_micros};

/// Any account by id: `?1`.
pub(super) const USER_BY_ID: &str = select_users!("WHERE u.id = ?1");

/// A text column parsed by `FromStr`.
pub(super) fn parsed<T>(row: &Row<'_>, col: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = row.get(col)?;
    text.parse().map_err(|e: T::Err| rusqlite::Error::FromSqlConversionFailure(col, Type::Text, e.to_string().into()))
}

/// A row of `select_users!`, by position (this is every signed-in
/// request's decode; a look-up by name scans the column names).
pub(super) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: parsed(row, 0)?,
        email: row.get::<_, Option<String>>(1)?.map(Email::from_trusted),
        phone: row.get::<_, Option<String>>(2)?.map(Phone::from_trusted),
        password_hash: row.get(3)?,
        first_name: row.get(4)?,
        last_name: row.get(5)?,
        role: parsed(row, 6)?,
        auth_provider: AuthProvider::from_stored(&row.get::<_, String>(7)?),
        is_active: row.get(8)?,
        is_verified: row.get(9)?,
        last_login: row.get::<_, Option<i64>>(10)?.map(from_micros),
        created_at: from_micros(row.get(11)?),
        updated_at: from_micros(row.get(12)?),
        deleted_at: row.get::<_, Option<i64>>(13)?.map(from_micros),
    })
}

/// A row of `id, created_at, last_used_at, ip, user_agent` of `sessions`.
pub(super) fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: parsed(row, 0)?,
        created_at: from_micros(row.get("created_at")?),
        last_used_at: from_micros(row.get("last_used_at")?),
        ip: row.get("ip")?,
        user_agent: row.get("user_agent")?,
    })
}

/// What a session holds, for judging a token that was not current.
pub(super) const STORED_REFRESH: &str =
    "SELECT refresh_jti, refresh_iat, refresh_exp, previous_jti, rotated_at, revoked_at, ip, user_agent
       FROM sessions WHERE id = ?1 AND user_id = ?2";

/// A row of `STORED_REFRESH`.
pub(super) fn stored_refresh(row: &Row<'_>) -> rusqlite::Result<StoredRefresh> {
    Ok(StoredRefresh {
        current: RefreshState {
            jti: Jti::from_claim(row.get::<_, String>("refresh_jti")?),
            iat: row.get("refresh_iat")?,
            exp: row.get("refresh_exp")?,
        },
        previous_jti: row.get::<_, Option<String>>("previous_jti")?.map(Jti::from_claim),
        rotated_at: row.get::<_, Option<i64>>("rotated_at")?.unwrap_or(0),
        revoked: row.get::<_, Option<i64>>("revoked_at")?.is_some(),
        ip: row.get("ip")?,
        user_agent: row.get("user_agent")?,
    })
}
