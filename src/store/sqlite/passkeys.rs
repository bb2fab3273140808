//! Passkeys and WebAuthn ceremonies (contract §15.3).

use rusqlite::{OptionalExtension, params};

use super::Store;
use super::rows::parsed;
use super::writer::{row, rows};
use crate::domain::passkey::{CEREMONY_SECS, Ceremony, CeremonyKind, StoredPasskey};
use crate::domain::{AuditEvent, PasskeyId, UserId, from_micros, micros};
use crate::error::Result;

const PASSKEY_COLUMNS: &str =
    "SELECT id, user_id, credential_id, name, credential, created_at, last_used_at FROM passkeys";

fn passkey(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPasskey> {
    Ok(StoredPasskey {
        id: parsed(r, 0)?,
        user_id: parsed(r, 1)?,
        credential_id: r.get(2)?,
        name: r.get(3)?,
        credential: r.get(4)?,
        created_at: from_micros(r.get(5)?),
        last_used_at: r.get::<_, Option<i64>>(6)?.map(from_micros),
    })
}

impl Store {
    /// Stores a new passkey with the event; false when its credential id
    /// is registered already.
    pub async fn add_passkey(&self, passkey: &StoredPasskey, event: &AuditEvent) -> Result<bool> {
        let (p, event) = (passkey.clone(), event.clone());
        self.write(move |tx| {
            let n = tx.exec(
                "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (credential_id) DO NOTHING",
                params![
                    p.id.to_string(),
                    p.user_id.to_string(),
                    p.credential_id,
                    p.name,
                    p.credential,
                    micros(p.created_at)
                ],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.audit(event)?;
            Ok(true)
        })
        .await
    }

    /// The user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>> {
        let id = user.to_string();
        let sql = format!("{PASSKEY_COLUMNS} WHERE user_id = ?1 ORDER BY created_at, id");
        self.read(move |conn| rows(conn, &sql, [id], passkey)).await
    }

    /// The passkey of a credential id, whoever owns it.
    pub async fn find_passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        let cred = credential_id.to_owned();
        let sql = format!("{PASSKEY_COLUMNS} WHERE credential_id = ?1");
        self.read(move |conn| row(conn, &sql, [cred], passkey)).await
    }

    /// Renames one of the user's passkeys; none when it is not theirs.
    pub async fn rename_passkey(&self, user: UserId, id: PasskeyId, name: &str) -> Result<Option<StoredPasskey>> {
        let (user, id, name) = (user.to_string(), id.to_string(), name.to_owned());
        let sql = format!("{PASSKEY_COLUMNS} WHERE id = ?1");
        self.write(move |tx| {
            let n = tx.exec("UPDATE passkeys SET name = ?3 WHERE id = ?1 AND user_id = ?2", params![id, user, name])?;
            if n == 0 {
                return Ok(None);
            }
            row(tx.conn, &sql, [id], passkey)
        })
        .await
    }

    /// Deletes one of the user's passkeys with the event; false when it is
    /// not theirs.
    pub async fn delete_passkey(&self, user: UserId, id: PasskeyId, event: &AuditEvent) -> Result<bool> {
        let (user, id, event) = (user.to_string(), id.to_string(), event.clone());
        self.write(move |tx| {
            let n = tx.exec("DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2", [id, user])?;
            if n == 0 {
                return Ok(false);
            }
            tx.audit(event)?;
            Ok(true)
        })
        .await
    }

    /// Records a use of the passkey unless its stored counter reached
    /// `counter` meanwhile.
    pub async fn use_passkey(&self, id: PasskeyId, credential: &str, counter: u32) -> Result<bool> {
        let (id, credential) = (id.to_string(), credential.to_owned());
        self.write(move |tx| {
            let n = tx.exec(
                "UPDATE passkeys SET credential = ?2, counter = ?3, last_used_at = ?4
                  WHERE id = ?1 AND (counter < ?3 OR ?3 = 0)",
                params![id, credential, counter, micros(tx.now())],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Stores a ceremony's state, replacing one of the same kind and key;
    /// long-expired ceremonies go.
    pub async fn open_ceremony(&self, ceremony: &Ceremony) -> Result<()> {
        let c = ceremony.clone();
        self.write(move |tx| {
            tx.exec("DELETE FROM webauthn_ceremonies WHERE expires_at < ?1", [c.expires_at - 2 * CEREMONY_SECS])?;
            tx.exec(
                "INSERT INTO webauthn_ceremonies (kind, key, user_id, state, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, key) DO UPDATE SET user_id = excluded.user_id, state = excluded.state,
                                                     expires_at = excluded.expires_at",
                params![c.kind.as_str(), c.key, c.user.map(|u| u.to_string()), c.state, c.expires_at],
            )
            .map(drop)
        })
        .await
    }

    /// Takes (deletes) the ceremony unless it expired at `now`.
    pub async fn take_ceremony(&self, kind: CeremonyKind, key: &str, now: i64) -> Result<Option<Ceremony>> {
        let key = key.to_owned();
        self.write(move |tx| {
            let taken = tx
                .conn
                .prepare_cached(
                    "DELETE FROM webauthn_ceremonies WHERE kind = ?1 AND key = ?2
                     RETURNING user_id, state, expires_at",
                )?
                .query_row(params![kind.as_str(), key], |r| {
                    let user: Option<String> = r.get(0)?;
                    Ok((user, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                })
                .optional()?;
            Ok(taken.filter(|(_, _, expires_at)| *expires_at > now).map(|(user, state, expires_at)| Ceremony {
                kind,
                key,
                user: user.and_then(|u| u.parse().ok()),
                state,
                expires_at,
            }))
        })
        .await
    }
}
