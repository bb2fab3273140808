use sqlx::Row;

use super::Store;
use crate::error::Result;

impl Store {
    /// Stores `value` unless the key already has one, and returns the value
    /// that is stored: concurrent first starts agree on one secret.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(&self.pool).await?;
        Ok(row.get("value"))
    }
}
