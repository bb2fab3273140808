//! Signing keys (contract §17) and the refresh token a session holds.

use chrono::{DateTime, Utc};

use super::Store;
use crate::domain::{SessionId, UserId, from_micros, micros};
use crate::error::Result;
use crate::store::contract::StoredKey;

/// The advisory lock rotations take, so two at once retire each other's
/// key instead of colliding on the one-active index.
const ROTATION: &str = "signing_keys";

impl Store {
    pub async fn signing_keys(&self, alg: Option<&str>, retired_since: DateTime<Utc>) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query!(
            "SELECT kid, alg, private_key, created_at, retired_at FROM signing_keys
              WHERE ($1::TEXT IS NULL OR alg = $1) AND ($1::TEXT IS NULL OR retired_at IS NULL OR retired_at >= $2)
              ORDER BY created_at, kid",
            alg,
            micros(retired_since),
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredKey {
                kid: r.kid,
                alg: r.alg,
                sealed: r.private_key,
                created_at: from_micros(r.created_at),
                retired_at: r.retired_at.map(from_micros),
            })
            .collect())
    }

    pub async fn add_first_signing_key(&self, key: &StoredKey) -> Result<bool> {
        // The partial unique index on the active key makes a second active
        // key a conflict: the first stored wins.
        let added = sqlx::query!(
            "INSERT INTO signing_keys (kid, alg, private_key, created_at, retired_at)
             VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING",
            key.kid,
            key.alg,
            key.sealed,
            micros(key.created_at),
        )
        .execute(&self.pool)
        .await?;
        Ok(added.rows_affected() == 1)
    }

    pub async fn rotate_signing_key(&self, key: &StoredKey) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        Store::lock_for(&mut tx, ROTATION).await?;
        let now = self.now();
        sqlx::query!("UPDATE signing_keys SET retired_at = $2 WHERE alg = $1 AND retired_at IS NULL", key.alg, now)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "INSERT INTO signing_keys (kid, alg, private_key, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)",
            key.kid,
            key.alg,
            key.sealed,
            micros(key.created_at),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn session_refresh_jti(&self, user: UserId, session: SessionId) -> Result<Option<String>> {
        let jti = sqlx::query_scalar!(
            "SELECT refresh_jti FROM sessions WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL",
            user.to_string(),
            session.to_string(),
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(jti)
    }
}
