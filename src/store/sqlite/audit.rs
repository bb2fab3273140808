//! The audit trail: inserted inside the write it records (`Tx::audit`),
//! listed for the admin API.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde_json::Value;

use super::Store;
use super::writer::rows;
use crate::domain::{AuditEvent, micros};
use crate::error::Result;
use crate::store::contract::{AuditFilter, AuditRecord};

/// Inserts the event on `conn`, inside the caller's savepoint.
/// An `audit_events` row selected with every column by name.
pub(super) fn audit_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
    let detail: Option<String> = r.get("detail")?;
    Ok(AuditRecord {
        id: r.get("id")?,
        at: r.get("at")?,
        action: r.get("action")?,
        outcome: r.get("outcome")?,
        user_id: r.get("user_id")?,
        actor_id: r.get("actor_id")?,
        ip: r.get("ip")?,
        user_agent: r.get("user_agent")?,
        detail: detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null),
    })
}

pub(super) fn insert_audit(conn: &Connection, event: &AuditEvent, now: DateTime<Utc>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        uuid::Uuid::now_v7().to_string(),
        micros(now),
        event.action_name(),
        event.outcome.as_str(),
        event.user_id.map(|u| u.to_string()),
        event.actor_id.map(|u| u.to_string()),
        event.ip.map(|i| i.to_string()),
        event.user_agent.as_deref(),
        event.detail.to_string(),
    ])?;
    Ok(())
}

impl Store {
    /// Records an event that goes with no other change (a failed login).
    pub async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        let event = event.clone();
        self.write(move |tx| tx.audit(event)).await
    }

    /// Audit events matching `f`, newest first, at most `f.limit + 1`.
    pub async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let f = f.clone();
        self.read(move |conn| {
            rows(
                conn,
                "SELECT id, at, action, outcome, user_id, actor_id, ip, user_agent, detail FROM audit_events
                  WHERE (?1 IS NULL OR user_id = ?1)
                    AND (?2 IS NULL OR action = ?2)
                    AND (?3 IS NULL OR outcome = ?3)
                    AND (?4 IS NULL OR at >= ?4)
                    AND (?5 IS NULL OR at < ?5)
                    AND (?6 IS NULL OR (at, id) < (?6, ?7))
                  ORDER BY at DESC, id DESC
                  LIMIT ?8",
                params![
                    f.user_id,
                    f.action,
                    f.outcome,
                    f.since,
                    f.until,
                    f.after.as_ref().map(|c| c.at),
                    f.after.as_ref().map(|c| c.id.as_str()),
                    i64::from(f.limit) + 1,
                ],
                audit_record,
            )
        })
        .await
    }
}
