use sqlx::AnyConnection;

use super::{Store, now_micros};
use crate::domain::AuditEvent;
use crate::error::Result;

impl Store {
    /// Records an event that goes with no other change (a failed login).
    pub async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        insert_audit(&mut conn, event).await
    }
}

/// Inserts an event on `conn`, inside the caller's transaction when there is
/// one, so the event and the change it records commit together.
pub(super) async fn insert_audit(conn: &mut AnyConnection, event: &AuditEvent) -> Result<()> {
    let row = AuditRow::of(event);
    sqlx::query(INSERT_AUDIT)
        .bind(row.id)
        .bind(row.at)
        .bind(row.action)
        .bind(row.outcome)
        .bind(row.user_id)
        .bind(row.actor_id)
        .bind(row.ip)
        .bind(row.user_agent)
        .bind(row.detail)
        .execute(conn)
        .await?;
    event.log();
    Ok(())
}

pub(super) const INSERT_AUDIT: &str =
    "INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// An event's columns, in the order of `INSERT_AUDIT`'s parameters.
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

impl AuditRow<'_> {
    pub(super) fn of(event: &AuditEvent) -> AuditRow<'_> {
        AuditRow {
            id: uuid::Uuid::now_v7().to_string(),
            at: now_micros(),
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
