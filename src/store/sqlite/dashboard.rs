//! The dashboard's reads (contract §19): the live tail's poll by id, the
//! hourly counts of its charts, the users per role and state.

use rusqlite::params;

use super::Store;
use super::audit::audit_record;
use super::writer::rows;
use crate::error::Result;
use crate::store::contract::{AuditRecord, HourlyCount, UserCount};

const MICROS_PER_HOUR: i64 = 3_600_000_000;

impl Store {
    pub async fn audit_from_id(&self, from: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        let from = from.to_owned();
        self.read(move |conn| {
            rows(
                conn,
                "SELECT id, at, action, outcome, user_id, actor_id, ip, user_agent, detail FROM audit_events
                  WHERE id >= ?1 ORDER BY id LIMIT ?2",
                params![from, i64::from(limit)],
                audit_record,
            )
        })
        .await
    }

    pub async fn audit_hourly(&self, since: i64) -> Result<Vec<HourlyCount>> {
        self.read(move |conn| {
            rows(
                conn,
                "SELECT at / ?2 AS hour, action, outcome, COUNT(*) AS n FROM audit_events
                  WHERE at >= ?1 GROUP BY hour, action, outcome",
                params![since, MICROS_PER_HOUR],
                |r| {
                    Ok(HourlyCount {
                        hour: r.get("hour")?,
                        action: r.get("action")?,
                        outcome: r.get("outcome")?,
                        count: r.get("n")?,
                    })
                },
            )
        })
        .await
    }

    pub async fn user_counts(&self) -> Result<Vec<UserCount>> {
        self.read(move |conn| {
            rows(
                conn,
                "SELECT role, is_active, deleted_at IS NOT NULL AS deleted, COUNT(*) AS n FROM users
                  GROUP BY role, is_active, deleted",
                [],
                |r| {
                    Ok(UserCount {
                        role: r.get("role")?,
                        is_active: r.get("is_active")?,
                        deleted: r.get("deleted")?,
                        count: r.get("n")?,
                    })
                },
            )
        })
        .await
    }
}
