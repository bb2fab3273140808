//! Provider identities linked to accounts (contract §16).

use rusqlite::{OptionalExtension, params};

use super::rows::user;
use super::users::{insert_user_as, load, taken};
use super::writer::row;
use super::{Store, Tx};
use crate::domain::social::{LinkOutcome, SocialCreated, SocialLink, UnlinkOutcome, usable_password};
use crate::domain::{AuditEvent, User, UserId, micros};
use crate::error::Result;
use crate::store::contract::NewUser;

const SOCIAL_USER: &str =
    select_users!("JOIN social_identities s ON s.user_id = u.id WHERE s.issuer = ?1 AND s.subject = ?2");

impl Store {
    /// The account a provider identity is linked to, deleted or not.
    pub async fn find_social_user(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let keys = [issuer.to_owned(), subject.to_owned()];
        self.read(move |conn| row(conn, SOCIAL_USER, params![keys[0], keys[1]], user)).await
    }

    /// Creates the account with the identity linked and the event, in one
    /// write.
    pub async fn create_social_user(
        &self,
        new: &NewUser,
        link: &SocialLink,
        event: &AuditEvent,
    ) -> Result<SocialCreated> {
        let (new, link, event) = (new.clone(), link.clone(), event.clone());
        self.write(move |tx| {
            if let Err(e) = insert_user_as(tx, &new, &link.provider) {
                return taken(&e).map(|_| SocialCreated::EmailTaken).ok_or(e);
            }
            if !insert_link(tx, &link, new.id)? {
                return Ok(tx.undo(SocialCreated::IdentityTaken));
            }
            tx.audit(event)?;
            Ok(SocialCreated::Created(load(tx.conn, new.id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?))
        })
        .await
    }

    /// Links the identity with the event, unless it is linked already or
    /// the account has another identity of the provider.
    pub async fn link_social_identity(&self, link: &SocialLink, event: &AuditEvent) -> Result<LinkOutcome> {
        let (link, event) = (link.clone(), event.clone());
        self.write(move |tx| {
            if insert_link(tx, &link, link.user_id)? {
                tx.audit(event)?;
                return Ok(LinkOutcome::Linked);
            }
            let owner: Option<String> = tx
                .conn
                .prepare_cached("SELECT user_id FROM social_identities WHERE issuer = ?1 AND subject = ?2")?
                .query_row(params![link.issuer, link.subject], |r| r.get(0))
                .optional()?;
            Ok(match owner {
                Some(owner) if owner == link.user_id.to_string() => LinkOutcome::AlreadyLinked,
                Some(_) => LinkOutcome::OtherAccount,
                None => LinkOutcome::ProviderTaken,
            })
        })
        .await
    }

    /// Unlinks the account's identity of `provider` unless it is the
    /// account's last way to sign in (decided under the write lock).
    pub async fn unlink_social_identity(
        &self,
        user: UserId,
        provider: &str,
        event: &AuditEvent,
    ) -> Result<UnlinkOutcome> {
        let (id, provider, event) = (user.to_string(), provider.to_owned(), event.clone());
        self.write(move |tx| {
            let password: Option<String> = tx
                .conn
                .prepare_cached("SELECT password FROM users WHERE id = ?1")?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            let Some(password) = password else { return Ok(UnlinkOutcome::NotLinked) };
            let (this, others): (i64, i64) = tx
                .conn
                .prepare_cached(
                    "SELECT COUNT(*) FILTER (WHERE provider = ?2), COUNT(*) FILTER (WHERE provider <> ?2)
                       FROM social_identities WHERE user_id = ?1",
                )?
                .query_row(params![id, provider], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if this == 0 {
                return Ok(UnlinkOutcome::NotLinked);
            }
            if others == 0 && !usable_password(&password) {
                return Ok(UnlinkOutcome::LastWay);
            }
            tx.exec("DELETE FROM social_identities WHERE user_id = ?1 AND provider = ?2", params![id, provider])?;
            tx.audit(event)?;
            Ok(UnlinkOutcome::Unlinked)
        })
        .await
    }
}

/// Inserts the link for `user` unless the identity, or the account's
/// identity of that provider, exists: whether it did.
fn insert_link(tx: &Tx<'_>, link: &SocialLink, user: UserId) -> rusqlite::Result<bool> {
    let n = tx.exec(
        "INSERT INTO social_identities (issuer, subject, user_id, provider, email, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        params![link.issuer, link.subject, user.to_string(), link.provider, link.email, micros(link.created_at)],
    )?;
    Ok(n == 1)
}
