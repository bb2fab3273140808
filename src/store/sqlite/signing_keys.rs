//! Signing keys (contract §17) and the refresh token a session holds.

use rusqlite::params;

use super::Store;
use super::writer::{row, rows};
use crate::domain::{SessionId, UserId, from_micros, micros};
use crate::error::Result;
use crate::store::contract::StoredKey;

const INSERT: &str =
    "INSERT INTO signing_keys (kid, alg, private_key, created_at, retired_at) VALUES (?1, ?2, ?3, ?4, NULL)";

impl Store {
    pub async fn signing_keys(
        &self,
        alg: Option<&str>,
        retired_since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<StoredKey>> {
        let (alg, since) = (alg.map(str::to_owned), micros(retired_since));
        self.read(move |conn| {
            rows(
                conn,
                "SELECT kid, alg, private_key, created_at, retired_at FROM signing_keys
                  WHERE (?1 IS NULL OR alg = ?1) AND (?1 IS NULL OR retired_at IS NULL OR retired_at >= ?2)
                  ORDER BY created_at, kid",
                params![alg, since],
                |r| {
                    Ok(StoredKey {
                        kid: r.get(0)?,
                        alg: r.get(1)?,
                        sealed: r.get(2)?,
                        created_at: from_micros(r.get(3)?),
                        retired_at: r.get::<_, Option<i64>>(4)?.map(from_micros),
                    })
                },
            )
        })
        .await
    }

    pub async fn add_first_signing_key(&self, key: &StoredKey) -> Result<bool> {
        let key = key.clone();
        self.write(move |tx| {
            // The partial unique index on the active key makes a second
            // active key a conflict: the first stored wins.
            let added = tx.exec(
                "INSERT INTO signing_keys (kid, alg, private_key, created_at, retired_at)
                 VALUES (?1, ?2, ?3, ?4, NULL) ON CONFLICT DO NOTHING",
                params![key.kid, key.alg, key.sealed, micros(key.created_at)],
            )?;
            Ok(added == 1)
        })
        .await
    }

    pub async fn rotate_signing_key(&self, key: &StoredKey) -> Result<()> {
        let key = key.clone();
        self.write(move |tx| {
            let now = micros(tx.now());
            tx.exec(
                "UPDATE signing_keys SET retired_at = ?2 WHERE alg = ?1 AND retired_at IS NULL",
                params![key.alg, now],
            )?;
            tx.exec(INSERT, params![key.kid, key.alg, key.sealed, micros(key.created_at)])?;
            Ok(())
        })
        .await
    }

    pub async fn session_refresh_jti(&self, user: UserId, session: SessionId) -> Result<Option<String>> {
        let keys = [user.to_string(), session.to_string()];
        self.read_point(move |conn| {
            row(
                conn,
                "SELECT refresh_jti FROM sessions WHERE id = ?2 AND user_id = ?1 AND revoked_at IS NULL",
                params![keys[0], keys[1]],
                |r| r.get(0),
            )
        })
        .await
    }
}
