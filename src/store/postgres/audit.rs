//! Audit events: the columns of one, and its insert inside the transaction
//! of the change it records. Statements that make their change in one go
//! insert the event in a CTE of their own, from the same `AuditRow`.

use sqlx::PgConnection;

use super::Store;
use crate::domain::AuditEvent;
use crate::error::Result;
use crate::store::contract::AuditRecord;

/// An event's columns, as bound.
pub(super) struct AuditRow<'a> {
    pub id: String,
    pub at: i64,
    pub action: &'static str,
    pub outcome: &'static str,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<&'a str>,
    pub detail: String,
}

/// A stored event's columns as read back (`query_as!`): the admin listing
/// and the dashboard's tail.
pub(super) struct StoredAudit {
    pub id: String,
    pub at: i64,
    pub action: String,
    pub outcome: String,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

impl From<StoredAudit> for AuditRecord {
    fn from(r: StoredAudit) -> AuditRecord {
        AuditRecord {
            id: r.id,
            at: r.at,
            action: r.action,
            outcome: r.outcome,
            user_id: r.user_id,
            actor_id: r.actor_id,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl AuditRow<'_> {
    pub(super) fn of(event: &AuditEvent, at: i64) -> AuditRow<'_> {
        AuditRow {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            action: event.action_name(),
            outcome: event.outcome.as_str(),
            user_id: event.user_id.map(|u| u.to_string()),
            actor_id: event.actor_id.map(|u| u.to_string()),
            ip: event.ip.map(|i| i.to_string()),
            user_agent: event.user_agent.as_deref(),
            detail: event.detail.to_string(),
        }
    }
}

impl Store {
    /// Records an event that goes with no other change (a failed login).
    pub async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, event, self.now()).await?;
        event.log();
        Ok(())
    }
}

/// Inserts the event on `conn`, inside the caller's transaction; the caller
/// logs it once that has committed.
pub(super) async fn insert_audit(conn: &mut PgConnection, event: &AuditEvent, at: i64) -> Result<()> {
    let a = AuditRow::of(event, at);
    sqlx::query!(
        "INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
    .execute(conn)
    .await?;
    Ok(())
}
