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
    sqlx::query(
        "INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(now_micros())
    .bind(event.action)
    .bind(event.outcome.as_str())
    .bind(event.user_id.map(|u| u.to_string()))
    .bind(event.actor_id.map(|u| u.to_string()))
    .bind(event.ip.map(|i| i.to_string()))
    .bind(event.user_agent.as_deref())
    .bind(event.detail.to_string())
    .execute(conn)
    .await?;
    event.log();
    Ok(())
}
