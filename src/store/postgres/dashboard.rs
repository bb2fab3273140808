//! The dashboard's reads (contract §19): the live tail's poll by id, the
//! hourly counts of its charts, the users per role and state.

use super::Store;
use super::audit::StoredAudit;
use crate::error::Result;
use crate::store::contract::{AuditRecord, HourlyCount, UserCount};

const MICROS_PER_HOUR: i64 = 3_600_000_000;

impl Store {
    pub async fn audit_from_id(&self, from: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query_as!(
            StoredAudit,
            "SELECT id, at, action, outcome, user_id, actor_id, ip, user_agent, detail FROM audit_events
              WHERE id >= $1 ORDER BY id LIMIT $2",
            from,
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
    }

    pub async fn audit_hourly(&self, since: i64) -> Result<Vec<HourlyCount>> {
        let rows = sqlx::query!(
            r#"SELECT at / $2 AS "hour!", action, outcome, COUNT(*) AS "n!" FROM audit_events
                WHERE at >= $1 GROUP BY 1, 2, 3"#,
            since,
            MICROS_PER_HOUR,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| HourlyCount { hour: r.hour, action: r.action, outcome: r.outcome, count: r.n })
            .collect())
    }

    pub async fn user_counts(&self) -> Result<Vec<UserCount>> {
        let rows = sqlx::query!(
            r#"SELECT role, is_active, deleted_at IS NOT NULL AS "deleted!", COUNT(*) AS "n!" FROM users
                GROUP BY 1, 2, 3"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| UserCount { role: r.role, is_active: r.is_active, deleted: r.deleted, count: r.n })
            .collect())
    }
}
