//! Reading the Django original (contract §18): `manage.py dumpdata` JSON,
//! or its PostgreSQL or SQLite database, opened read-only. Every row comes
//! back as JSON values by Django's field names, so one conversion
//! (`domain::import::user_of_row`) judges rows from any source alike.

use std::path::PathBuf;

use serde_json::{Map, Value};
use sqlx::Connection;

use crate::domain::import::{LegacyToken, Skip, parse_time, user_of_row};
use crate::domain::{Jti, User};
use crate::error::{Error, Result};

/// Where the original's users are.
#[derive(Debug, Clone)]
pub enum Source {
    /// `manage.py dumpdata --all authentication.UnifiedUser` output.
    Json(PathBuf),
    /// The original's database (`postgres://…` or `sqlite://…`) and the
    /// name of its user table.
    Database { url: String, table: String },
}

/// Django's table name for `authentication.UnifiedUser`.
pub const DEFAULT_TABLE: &str = "authentication_unifieduser";

/// What a source holds, in source order.
pub struct Original {
    pub users: Vec<std::result::Result<User, Skip>>,
    /// Outstanding refresh tokens (a database source only).
    pub tokens: Vec<LegacyToken>,
}

/// Reads every user (and, from a database, every outstanding refresh
/// token); an unreadable source is an error, an unreadable row a `Skip`.
pub async fn read(source: &Source) -> Result<Original> {
    match source {
        Source::Json(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || read_json(&path)).await?
        }
        Source::Database { url, table } => {
            let table = identifier(table)?;
            if url.starts_with("sqlite:") {
                let url = url.clone();
                tokio::task::spawn_blocking(move || read_sqlite(&url, &table)).await?
            } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                read_postgres(url, &table).await
            } else {
                Err(unreadable("--from-database: expected a postgres:// or sqlite:// URL"))
            }
        }
    }
}

fn unreadable(what: impl std::fmt::Display) -> Error {
    Error::internal(format!("cannot read the source: {what}"))
}

/// The table name, quoted; only plain identifiers are taken.
fn identifier(table: &str) -> Result<String> {
    let plain = !table.is_empty() && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then(|| format!("\"{table}\"")).ok_or_else(|| unreadable(format!("--table: not a table name: {table:?}")))
}

fn read_json(path: &std::path::Path) -> Result<Original> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(format!("{}: {e}", path.display())))?;
    let entries: Vec<Value> = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| unreadable(format!("{}: not dumpdata JSON: {e}", path.display())))?;
    let users = entries
        .iter()
        .filter(|e| e.get("model").and_then(Value::as_str).is_some_and(is_user_model))
        .map(|e| {
            let pk = e.get("pk").unwrap_or(&Value::Null);
            match e.get("fields").and_then(Value::as_object) {
                Some(fields) => user_of_row(pk, fields),
                None => Err(Skip { id: pk.as_str().unwrap_or("?").into(), reason: "no fields".into() }),
            }
        })
        .collect();
    Ok(Original { users, tokens: Vec::new() })
}

/// `authentication.unifieduser`, whatever the app's label.
fn is_user_model(model: &str) -> bool {
    model.to_ascii_lowercase().ends_with(".unifieduser")
}

/// A row as JSON with its `id` taken out as the primary key.
fn user_of_object(mut fields: Map<String, Value>) -> std::result::Result<User, Skip> {
    let pk = fields.remove("id").unwrap_or(Value::Null);
    user_of_row(&pk, &fields)
}

/// SimpleJWT's tables: each outstanding token, and whether it is
/// blacklisted; a token of no user (deleted since) is of no use.
const TOKENS: &str = "SELECT o.jti, o.user_id, o.expires_at, b.id IS NOT NULL AS blacklisted
    FROM token_blacklist_outstandingtoken o
    LEFT JOIN token_blacklist_blacklistedtoken b ON b.token_id = o.id
    WHERE o.user_id IS NOT NULL ORDER BY o.id";

fn token_of_object(row: &Map<String, Value>) -> Option<LegacyToken> {
    let text = |name: &str| row.get(name).and_then(Value::as_str);
    let blacklisted = match row.get("blacklisted") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    };
    Some(LegacyToken {
        jti: Jti::from_claim(text("jti")?),
        user_id: text("user_id")?.parse().ok()?,
        expires_at: parse_time(text("expires_at")?)?.timestamp(),
        blacklisted,
    })
}

fn read_sqlite(url: &str, table: &str) -> Result<Original> {
    use rusqlite::OpenFlags;
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    // Read-only: no journal-mode change, no write of any kind.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| unreadable(format!("{path}: {e}")))?;
    let users = sqlite_objects(&conn, &format!("SELECT * FROM {table} ORDER BY id"))?;
    let tokens = if sqlite_has_table(&conn, "token_blacklist_outstandingtoken")? {
        sqlite_objects(&conn, TOKENS)?.iter().filter_map(token_of_object).collect()
    } else {
        Vec::new()
    };
    Ok(Original { users: users.into_iter().map(user_of_object).collect(), tokens })
}

fn sqlite_has_table(conn: &rusqlite::Connection, name: &str) -> Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)", [name], |r| {
        r.get(0)
    })
    .map_err(unreadable)
}

/// Every row of `sql` as a JSON object by column name.
fn sqlite_objects(conn: &rusqlite::Connection, sql: &str) -> Result<Vec<Map<String, Value>>> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(sql).map_err(unreadable)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = stmt.query([]).map_err(unreadable)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(unreadable)? {
        let mut object = Map::new();
        for (i, name) in names.iter().enumerate() {
            let value = match row.get_ref(i).map_err(unreadable)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::from(n),
                ValueRef::Real(f) => Value::from(f),
                ValueRef::Text(t) | ValueRef::Blob(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
            };
            object.insert(name.clone(), value);
        }
        out.push(object);
    }
    Ok(out)
}

async fn read_postgres(url: &str, table: &str) -> Result<Original> {
    use sqlx::postgres::PgConnectOptions;
    let options: PgConnectOptions = url.parse().map_err(unreadable)?;
    // Read-only for the whole session: the original is never written.
    let options = options.options([("default_transaction_read_only", "on")]);
    let mut conn = sqlx::PgConnection::connect_with(&options).await.map_err(unreadable)?;
    let users: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY t.id")))
            .fetch_all(&mut conn)
            .await
            .map_err(unreadable)?;
    let has_tokens: bool = sqlx::query_scalar("SELECT to_regclass('token_blacklist_outstandingtoken') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .map_err(unreadable)?;
    let tokens: Vec<String> = if has_tokens {
        let sql = format!("SELECT row_to_json(r)::text FROM ({TOKENS}) r");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut conn).await.map_err(unreadable)?
    } else {
        Vec::new()
    };
    let _ = conn.close().await;
    let objects = |rows: Vec<String>| -> Result<Vec<Map<String, Value>>> {
        rows.iter().map(|r| serde_json::from_str(r).map_err(unreadable)).collect()
    };
    Ok(Original {
        users: objects(users)?.into_iter().map(user_of_object).collect(),
        tokens: objects(tokens)?.iter().filter_map(token_of_object).collect(),
    })
}
