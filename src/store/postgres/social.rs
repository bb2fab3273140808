//! Provider identities linked to accounts (contract §16).

use super::Store;
use super::audit::insert_audit;
use super::users::{UserRow, name_key, taken_from, user};
use crate::domain::social::{LinkOutcome, SocialCreated, SocialLink, UnlinkOutcome, usable_password};
use crate::domain::{AuditEvent, AuthProvider, Email, User, UserId, from_micros, micros};
use crate::error::Result;
use crate::store::contract::NewUser;

impl Store {
    /// The account a provider identity is linked to, deleted or not.
    pub async fn find_social_user(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let row = sqlx::query_as!(
            UserRow,
            "SELECT u.id, u.email, u.phone, u.password, u.first_name, u.last_name, u.role, u.auth_provider,
                    u.is_active, u.is_verified, u.last_login, u.created_at, u.updated_at, u.deleted_at
               FROM social_identities s JOIN users u ON u.id = s.user_id
              WHERE s.issuer = $1 AND s.subject = $2",
            issuer,
            subject,
        )
        .fetch_optional(&self.pool)
        .await?;
        user(row)
    }

    /// Creates the account with the identity linked and the event, in one
    /// transaction.
    pub async fn create_social_user(
        &self,
        new: &NewUser,
        link: &SocialLink,
        event: &AuditEvent,
    ) -> Result<SocialCreated> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query!(
            "INSERT INTO users (id, email, email_key, phone, password, first_name, last_name, role,
                                auth_provider, is_active, is_verified, created_at, updated_at, name_key)
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, TRUE, $9, $10, $10, $11)",
            new.id.to_string(),
            new.email.as_ref().map(Email::as_str),
            new.email.as_ref().map(Email::key),
            new.password_hash,
            new.first_name,
            new.last_name,
            new.role.as_str(),
            link.provider,
            new.is_verified,
            now,
            name_key(&new.first_name, &new.last_name),
        )
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return match taken_from(&e) {
                Some(_) => Ok(SocialCreated::EmailTaken),
                None => Err(e.into()),
            };
        }
        if !insert_link(&mut tx, link, new.id).await? {
            return Ok(SocialCreated::IdentityTaken);
        }
        insert_audit(&mut tx, event, now).await?;
        tx.commit().await?;
        event.log();
        Ok(SocialCreated::Created(User {
            id: new.id,
            email: new.email.clone(),
            phone: None,
            password_hash: new.password_hash.clone(),
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            role: new.role,
            auth_provider: AuthProvider::from_stored(&link.provider),
            is_active: true,
            is_verified: new.is_verified,
            last_login: None,
            created_at: from_micros(now),
            updated_at: from_micros(now),
            deleted_at: None,
        }))
    }

    /// Links the identity with the event, unless it is linked already or
    /// the account has another identity of the provider.
    pub async fn link_social_identity(&self, link: &SocialLink, event: &AuditEvent) -> Result<LinkOutcome> {
        let mut tx = self.pool.begin().await?;
        if !insert_link(&mut tx, link, link.user_id).await? {
            let owner = sqlx::query_scalar!(
                "SELECT user_id FROM social_identities WHERE issuer = $1 AND subject = $2",
                link.issuer,
                link.subject,
            )
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(match owner {
                Some(owner) if owner == link.user_id.to_string() => LinkOutcome::AlreadyLinked,
                Some(_) => LinkOutcome::OtherAccount,
                None => LinkOutcome::ProviderTaken,
            });
        }
        insert_audit(&mut tx, event, self.now()).await?;
        tx.commit().await?;
        event.log();
        Ok(LinkOutcome::Linked)
    }

    /// Unlinks the account's identity of `provider` unless it is the
    /// account's last way to sign in. The user's row is held meanwhile, so
    /// two unlinks of one account are decided one after the other.
    pub async fn unlink_social_identity(
        &self,
        user: UserId,
        provider: &str,
        event: &AuditEvent,
    ) -> Result<UnlinkOutcome> {
        let id = user.to_string();
        let mut tx = self.pool.begin().await?;
        let password = sqlx::query_scalar!("SELECT password FROM users WHERE id = $1 FOR UPDATE", id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(password) = password else { return Ok(UnlinkOutcome::NotLinked) };
        let counts = sqlx::query!(
            r#"SELECT COUNT(*) FILTER (WHERE provider = $2) AS "this!", COUNT(*) FILTER (WHERE provider <> $2) AS "others!"
                 FROM social_identities WHERE user_id = $1"#,
            id,
            provider,
        )
        .fetch_one(&mut *tx)
        .await?;
        if counts.this == 0 {
            return Ok(UnlinkOutcome::NotLinked);
        }
        if counts.others == 0 && !usable_password(&password) {
            return Ok(UnlinkOutcome::LastWay);
        }
        sqlx::query!("DELETE FROM social_identities WHERE user_id = $1 AND provider = $2", id, provider)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, event, self.now()).await?;
        tx.commit().await?;
        event.log();
        Ok(UnlinkOutcome::Unlinked)
    }
}

/// Inserts the link for `user` unless the identity, or the account's
/// identity of that provider, exists: whether it did.
async fn insert_link(tx: &mut sqlx::PgConnection, link: &SocialLink, user: UserId) -> Result<bool> {
    let done = sqlx::query!(
        "INSERT INTO social_identities (issuer, subject, user_id, provider, email, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        link.issuer,
        link.subject,
        user.to_string(),
        link.provider,
        link.email,
        micros(link.created_at),
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
