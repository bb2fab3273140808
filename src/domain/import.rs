//! A user of the Django original on its way in (contract §18): a row as the
//! source holds it (a `dumpdata` entry's fields, or a row of its table read
//! as JSON values) checked into the `User` authgate stores, or the reason
//! it cannot be.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use super::{AuthProvider, Email, Jti, Phone, Role, User, UserId};

/// A row the contract refuses: `skipped <id>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The row's id as the source wrote it ("?" when it has none).
    pub id: String,
    pub reason: String,
}

/// What storing one checked row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Imported,
    Updated,
    /// authgate's row is as new as the source's, or newer.
    Unchanged,
    /// A live account of another id holds the email (or the phone).
    EmailTaken,
    PhoneTaken,
}

/// An outstanding SimpleJWT refresh token of the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyToken {
    pub jti: Jti,
    pub user_id: UserId,
    /// Unix seconds.
    pub expires_at: i64,
    pub blacklisted: bool,
}

/// The user a source row describes. `pk` is the row's primary key and
/// `fields` its columns by Django's field names (`date_joined` stands in
/// for `created_at` on models that kept Django's name).
pub fn user_of_row(pk: &Value, fields: &Map<String, Value>) -> Result<User, Skip> {
    let shown = match pk {
        Value::String(s) => s.clone(),
        Value::Null => "?".into(),
        other => other.to_string(),
    };
    let skip = |reason: String| Skip { id: shown.clone(), reason };
    let id: UserId = pk.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| skip("the id is not a UUID".into()))?;
    let email = optional_text(fields, "email").map_err(&skip)?;
    let email = email.map(|e| Email::parse(&e).map_err(|m| skip(format!("invalid email: {m}")))).transpose()?;
    let phone = optional_text(fields, "phone").map_err(&skip)?;
    let phone = phone.map(|p| Phone::parse(&p).map_err(|m| skip(format!("invalid phone: {m}")))).transpose()?;
    if email.is_none() && phone.is_none() {
        return Err(skip("neither an email nor a phone".into()));
    }
    let role = optional_text(fields, "role").map_err(&skip)?.unwrap_or_else(|| "client".into());
    let role: Role = role.parse().map_err(|_| skip(format!("unknown role {role:?}")))?;
    let provider = optional_text(fields, "auth_provider").map_err(&skip)?;
    let created_at = time(fields, "created_at")
        .transpose()
        .or_else(|| time(fields, "date_joined").transpose())
        .transpose()
        .map_err(&skip)?
        .ok_or_else(|| skip("no created_at (or date_joined)".into()))?;
    Ok(User {
        id,
        password_hash: required_text(fields, "password").map_err(&skip)?,
        first_name: optional_text(fields, "first_name").map_err(&skip)?.unwrap_or_default(),
        last_name: optional_text(fields, "last_name").map_err(&skip)?.unwrap_or_default(),
        role,
        auth_provider: provider_of(provider.as_deref(), email.is_some()),
        is_active: flag(fields, "is_active", true).map_err(&skip)?,
        is_verified: flag(fields, "is_verified", false).map_err(&skip)?,
        last_login: time(fields, "last_login").map_err(&skip)?,
        updated_at: time(fields, "updated_at").map_err(&skip)?.unwrap_or(created_at),
        created_at,
        deleted_at: time(fields, "deleted_at").map_err(&skip)?,
        email,
        phone,
    })
}

/// The original's provider name, when authgate knows it; otherwise what
/// the account signs in with (the user is kept, not skipped).
fn provider_of(name: Option<&str>, has_email: bool) -> AuthProvider {
    match name {
        Some("email") => AuthProvider::Email,
        Some("phone") => AuthProvider::Phone,
        Some("google") => AuthProvider::from_stored("google"),
        _ if has_email => AuthProvider::Email,
        _ => AuthProvider::Phone,
    }
}

/// A text column; blank counts as absent (Django's `blank=True`).
fn optional_text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{name} is not text: {other}")),
    }
}

fn required_text(fields: &Map<String, Value>, name: &str) -> Result<String, String> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("no {name}")),
    }
}

/// A boolean column: JSON's booleans, or SQLite's 0 and 1.
fn flag(fields: &Map<String, Value>, name: &str, default: bool) -> Result<bool, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
        Some(other) => Err(format!("{name} is not a boolean: {other}")),
    }
}

/// A time column: RFC 3339 (`dumpdata`, PostgreSQL) or Django's SQLite
/// text, naive UTC (`2026-12-04 20:23:24.802149`).
fn time(fields: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time(s).map(Some).ok_or_else(|| format!("{name} is not a time: {s:?}")),
        Some(other) => Err(format!("{name} is not a time: {other}")),
    }
}

/// A time as the original's database or `dumpdata` writes it.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    const PK: &str = "6ff9a212-9284-42be-98c2-098895a2d78b";

    #[test]
    fn reads_a_dumpdata_entry_and_a_sqlite_row_alike() {
        let dumped = fields(json!({"password": "md5$x$y", "email": "Ana@Example.COM", "phone": null,
            "first_name": "Ana", "role": "vendor", "auth_provider": "email", "is_active": true,
            "is_verified": false, "created_at": "2026-12-04T20:23:24Z", "updated_at": "2026-12-04T20:23:27.732Z",
            "last_login": null, "deleted_at": null}));
        let user = user_of_row(&json!(PK), &dumped).unwrap();
        assert_eq!(user.email.unwrap().as_str(), "Ana@example.com");
        assert_eq!(user.role, Role::Vendor);
        assert_eq!(user.updated_at.timestamp_subsec_millis(), 732);
        let row = fields(json!({"password": "md5$x$y", "phone": "+14155552671", "first_name": "Ben",
            "is_active": 0, "date_joined": "2026-12-04 20:23:25.538521"}));
        let user = user_of_row(&json!("6ff9a212928442be98c2098895a2d78b"), &row).unwrap();
        assert!(!user.is_active);
        assert_eq!(user.auth_provider, AuthProvider::Phone);
        assert_eq!(user.id.to_string(), PK);
        assert_eq!(user.created_at.timestamp_subsec_micros(), 538521);
    }

    #[test]
    fn a_row_that_breaks_the_contract_names_its_reason() {
        let base = json!({"password": "x", "email": "a@example.com", "created_at": "2026-12-04T20:23:24Z"});
        let reason = |pk: Value, change: Value| {
            let mut f = fields(base.clone());
            f.extend(fields(change));
            user_of_row(&pk, &f).unwrap_err()
        };
        assert_eq!(reason(json!("nope"), json!({})).reason, "the id is not a UUID");
        assert!(reason(json!(PK), json!({"phone": "12345"})).reason.starts_with("invalid phone"));
        assert!(reason(json!(PK), json!({"role": "root"})).reason.starts_with("unknown role"));
        assert!(reason(json!(PK), json!({"is_active": "yes"})).reason.contains("is_active"));
        assert!(reason(json!(PK), json!({"email": null})).reason.contains("neither"));
        assert_eq!(reason(json!(PK), json!({"email": "bad"})).id, PK);
    }
}
