//! Passkeys and WebAuthn ceremonies (contract §15.3).

use super::audit::insert_audit;
use super::{Store, parse_id};
use crate::domain::passkey::{CEREMONY_SECS, Ceremony, CeremonyKind, StoredPasskey};
use crate::domain::{AuditEvent, PasskeyId, UserId, from_micros};
use crate::error::Result;

/// A `passkeys` row as the queries read it.
struct PasskeyRow {
    id: String,
    user_id: String,
    credential_id: String,
    name: String,
    credential: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<PasskeyRow> for StoredPasskey {
    type Error = crate::error::Error;

    fn try_from(r: PasskeyRow) -> Result<StoredPasskey> {
        Ok(StoredPasskey {
            id: parse_id(&r.id)?,
            user_id: parse_id(&r.user_id)?,
            credential_id: r.credential_id,
            name: r.name,
            credential: r.credential,
            created_at: from_micros(r.created_at),
            last_used_at: r.last_used_at.map(from_micros),
        })
    }
}

impl Store {
    /// Stores a new passkey with the event; false when its credential id
    /// is registered already.
    pub async fn add_passkey(&self, p: &StoredPasskey, event: &AuditEvent) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query!(
            "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO NOTHING",
            p.id.to_string(),
            p.user_id.to_string(),
            p.credential_id,
            p.name,
            p.credential,
            crate::domain::micros(p.created_at),
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, event, self.now()).await?;
        tx.commit().await?;
        event.log();
        Ok(true)
    }

    /// The user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>> {
        let rows = sqlx::query_as!(
            PasskeyRow,
            "SELECT id, user_id, credential_id, name, credential, created_at, last_used_at
               FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
            user.to_string(),
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(StoredPasskey::try_from).collect()
    }

    /// The passkey of a credential id, whoever owns it.
    pub async fn find_passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        let row = sqlx::query_as!(
            PasskeyRow,
            "SELECT id, user_id, credential_id, name, credential, created_at, last_used_at
               FROM passkeys WHERE credential_id = $1",
            credential_id,
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(StoredPasskey::try_from).transpose()
    }

    /// Renames one of the user's passkeys; none when it is not theirs.
    pub async fn rename_passkey(&self, user: UserId, id: PasskeyId, name: &str) -> Result<Option<StoredPasskey>> {
        let row = sqlx::query_as!(
            PasskeyRow,
            "UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2
             RETURNING id, user_id, credential_id, name, credential, created_at, last_used_at",
            id.to_string(),
            user.to_string(),
            name,
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(StoredPasskey::try_from).transpose()
    }

    /// Deletes one of the user's passkeys with the event; false when it is
    /// not theirs.
    pub async fn delete_passkey(&self, user: UserId, id: PasskeyId, event: &AuditEvent) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query!("DELETE FROM passkeys WHERE id = $1 AND user_id = $2", id.to_string(), user.to_string())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, event, self.now()).await?;
        tx.commit().await?;
        event.log();
        Ok(true)
    }

    /// Records a use of the passkey unless its stored counter reached
    /// `counter` meanwhile.
    pub async fn use_passkey(&self, id: PasskeyId, credential: &str, counter: u32) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE passkeys SET credential = $2, counter = $3, last_used_at = $4
              WHERE id = $1 AND (counter < $3 OR $3 = 0)",
            id.to_string(),
            credential,
            i64::from(counter),
            self.now(),
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a ceremony's state, replacing one of the same kind and key;
    /// long-expired ceremonies go.
    pub async fn open_ceremony(&self, c: &Ceremony) -> Result<()> {
        sqlx::query!(
            "WITH old AS (DELETE FROM webauthn_ceremonies WHERE expires_at < $6)
             INSERT INTO webauthn_ceremonies (kind, key, user_id, state, expires_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kind, key) DO UPDATE SET user_id = excluded.user_id, state = excluded.state,
                                                 expires_at = excluded.expires_at",
            c.kind.as_str(),
            c.key,
            c.user.map(|u| u.to_string()),
            c.state,
            c.expires_at,
            c.expires_at - 2 * CEREMONY_SECS,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes (deletes) the ceremony unless it expired at `now`.
    pub async fn take_ceremony(&self, kind: CeremonyKind, key: &str, now: i64) -> Result<Option<Ceremony>> {
        let taken = sqlx::query!(
            "DELETE FROM webauthn_ceremonies WHERE kind = $1 AND key = $2 RETURNING user_id, state, expires_at",
            kind.as_str(),
            key,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.filter(|r| r.expires_at > now).map(|r| Ceremony {
            kind,
            key: key.to_owned(),
            user: r.user_id.and_then(|u| u.parse().ok()),
            state: r.state,
            expires_at: r.expires_at,
        }))
    }
}
