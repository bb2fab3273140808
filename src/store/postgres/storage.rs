//! The contract, served by the inherent methods of the other files. A write
//! that may revoke a session or change a user row reads the revocation feed
//! before it answers (`settled`, `feed.rs`), so this instance refuses a
//! revoked token from the answer on; other instances hear of it by
//! notification. A new write of that kind belongs in that list too (without
//! it, this instance still hears of it by its own notification, a few
//! milliseconds later).

use chrono::{DateTime, Utc};

use super::Store;
use crate::domain::import::{LegacyToken, Stored};
use crate::domain::mfa::{MfaStatus, MfaSummary};
use crate::domain::passkey::{Ceremony, CeremonyKind, StoredPasskey};
use crate::domain::recovery::{Attempt, NewCode, OtpPurpose, Spent};
use crate::domain::session::{NewSession, Opened, Rotate, Rotation, Session};
use crate::domain::social::{LinkOutcome, SocialCreated, SocialLink, UnlinkOutcome};
use crate::domain::soft_lock::{Charge, Failures, SoftLock, Verdict};
use crate::domain::{AuditEvent, Email, LoginId, PasskeyId, Phone, SessionId, User, UserId};
use crate::error::Result;
use crate::store::contract::{
    AdminWrite, AuditFilter, AuditRecord, HourlyCount, NewUser, PasswordChange, PoolUsage, Schema, Storage, StoredKey,
    UserChange, UserCount, UserFilter, UserTaken,
};

impl Storage for Store {
    async fn find_user_by_login(&self, login: &LoginId) -> Result<Option<User>> {
        Store::find_user_by_login(self, login).await
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>> {
        Store::find_user(self, id).await
    }

    async fn find_session_user(&self, id: UserId, session: SessionId) -> Result<Option<User>> {
        Store::find_session_user(self, id, session).await
    }

    async fn user_taken(&self, email: Option<&Email>, phone: Option<&Phone>) -> Result<UserTaken> {
        Store::user_taken(self, email, phone).await
    }

    async fn create_user(
        &self,
        new: &NewUser,
        code: Option<&NewCode<'_>>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<User, UserTaken>> {
        Store::create_user(self, new, code, event).await
    }

    async fn update_user_names(&self, id: UserId, first_name: &str, last_name: &str, event: &AuditEvent) -> Result<()> {
        Store::update_user_names(self, id, first_name, last_name, event).await?;
        self.settled().await;
        Ok(())
    }

    async fn upgrade_password_hash(&self, id: UserId, old_hash: &str, new_hash: &str) -> Result<bool> {
        let done = Store::upgrade_password_hash(self, id, old_hash, new_hash).await?;
        self.settled().await;
        Ok(done)
    }

    async fn replace_password(&self, change: &PasswordChange<'_>, event: &AuditEvent) -> Result<bool> {
        let done = Store::replace_password(self, change, event).await?;
        self.settled().await;
        Ok(done)
    }

    async fn open_session(&self, session: &NewSession, event: &AuditEvent) -> Result<Option<Opened>> {
        let opened = Store::open_session(self, session, event).await?;
        self.settled().await;
        Ok(opened)
    }

    async fn rotate_session(&self, rotate: &Rotate) -> Result<Rotation> {
        let outcome = Store::rotate_session(self, rotate).await?;
        if outcome == Rotation::Reused {
            self.settled().await;
        }
        Ok(outcome)
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>> {
        Store::list_sessions(self, user).await
    }

    async fn revoke_session(&self, session: SessionId, user: UserId, reason: &str, event: &AuditEvent) -> Result<bool> {
        let done = Store::revoke_session(self, session, user, reason, event).await?;
        self.settled().await;
        Ok(done)
    }

    async fn revoke_all_sessions(&self, user: UserId, reason: &str, event: &AuditEvent) -> Result<u64> {
        let done = Store::revoke_all_sessions(self, user, reason, event).await?;
        self.settled().await;
        Ok(done)
    }

    async fn replace_otp(
        &self,
        user: UserId,
        code: &NewCode<'_>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<(), Spent>> {
        Store::replace_otp(self, user, code, event).await
    }

    async fn take_otp_attempt(
        &self,
        user: UserId,
        purpose: OtpPurpose,
        network: &str,
        now: DateTime<Utc>,
    ) -> Result<Attempt> {
        Store::take_otp_attempt(self, user, purpose, network, now).await
    }

    async fn take_reset_email(
        &self,
        user: UserId,
        network: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<std::result::Result<(), Spent>> {
        Store::take_reset_email(self, user, network, now, event).await
    }

    async fn consume_verify_otp(&self, user: UserId, code_hash: &str, event: &AuditEvent) -> Result<bool> {
        let done = Store::consume_verify_otp(self, user, code_hash, event).await?;
        self.settled().await;
        Ok(done)
    }

    async fn login_attempt(&self, lock: SoftLock, charge: &Charge, now: DateTime<Utc>) -> Result<Verdict> {
        Store::login_attempt(self, lock, charge, now).await
    }

    async fn forgive_login_attempt(&self, charge: &Charge) -> Result<()> {
        Store::forgive_login_attempt(self, charge).await
    }

    async fn reset_login_failures(&self, login: &str) -> Result<()> {
        Store::reset_login_failures(self, login).await
    }

    async fn login_failures(&self, login: &str) -> Result<Failures> {
        Store::login_failures(self, login).await
    }

    async fn network_trusted(&self, user: Option<UserId>, network: &str, since: DateTime<Utc>) -> Result<bool> {
        Store::network_trusted(self, user, network, since).await
    }

    async fn sweep_login_defence(&self, failures_before: DateTime<Utc>, trusted_before: DateTime<Utc>) -> Result<u64> {
        Store::sweep_login_defence(self, failures_before, trusted_before).await
    }

    async fn sweep_revocations(&self, keep: std::time::Duration) -> Result<u64> {
        Store::sweep_revocations(self, keep).await
    }

    async fn note_event(&self, key: &str, at: DateTime<Utc>, expires: DateTime<Utc>) -> Result<()> {
        Store::note_event(self, key, at, expires).await
    }

    async fn count_events(&self, key: &str, since: DateTime<Utc>, cap: u32) -> Result<u32> {
        Store::count_events(self, key, since, cap).await
    }

    async fn take_event(
        &self,
        key: &str,
        since: DateTime<Utc>,
        limit: u32,
        at: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<bool> {
        Store::take_event(self, key, since, limit, at, expires).await
    }

    async fn sweep_events(&self, now: DateTime<Utc>) -> Result<u64> {
        Store::sweep_events(self, now).await
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        Store::record_audit(self, event).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        Store::list_audit(self, filter).await
    }

    async fn audit_from_id(&self, from: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        Store::audit_from_id(self, from, limit).await
    }

    async fn audit_hourly(&self, since: i64) -> Result<Vec<HourlyCount>> {
        Store::audit_hourly(self, since).await
    }

    async fn user_counts(&self) -> Result<Vec<UserCount>> {
        Store::user_counts(self).await
    }

    async fn list_users(&self, filter: &UserFilter) -> Result<Vec<User>> {
        Store::list_users(self, filter).await
    }

    async fn change_user(&self, id: UserId, change: &UserChange, event: &AuditEvent) -> Result<AdminWrite> {
        let done = Store::change_user(self, id, change, event).await?;
        self.settled().await;
        Ok(done)
    }

    async fn soft_delete_user(&self, id: UserId, event: &AuditEvent) -> Result<AdminWrite> {
        let done = Store::soft_delete_user(self, id, event).await?;
        self.settled().await;
        Ok(done)
    }

    async fn restore_user(&self, id: UserId, event: &AuditEvent) -> Result<AdminWrite> {
        let done = Store::restore_user(self, id, event).await?;
        self.settled().await;
        Ok(done)
    }

    async fn signing_keys(&self, alg: Option<&str>, retired_since: DateTime<Utc>) -> Result<Vec<StoredKey>> {
        Store::signing_keys(self, alg, retired_since).await
    }

    async fn add_first_signing_key(&self, key: &StoredKey) -> Result<bool> {
        Store::add_first_signing_key(self, key).await
    }

    async fn rotate_signing_key(&self, key: &StoredKey) -> Result<()> {
        Store::rotate_signing_key(self, key).await
    }

    async fn session_refresh_jti(&self, user: UserId, session: SessionId) -> Result<Option<String>> {
        Store::session_refresh_jti(self, user, session).await
    }

    async fn import_users(&self, users: &[User], dry_run: bool) -> Result<Vec<Stored>> {
        Store::import_users(self, users, dry_run).await
    }

    async fn import_legacy_tokens(&self, tokens: &[LegacyToken], dry_run: bool) -> Result<()> {
        Store::import_legacy_tokens(self, tokens, dry_run).await
    }

    async fn legacy_tokens_until(&self) -> Result<Option<i64>> {
        Store::legacy_tokens_until(self).await
    }

    async fn adopt_legacy_refresh(&self, session: &NewSession) -> Result<Option<SessionId>> {
        Store::adopt_legacy_refresh(self, session).await
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        Store::setting_or_insert(self, key, value).await
    }

    async fn migrate(&self) -> Result<()> {
        Store::migrate(self).await
    }

    async fn schema(&self) -> Result<Schema> {
        Store::schema(self).await
    }

    async fn ping(&self) -> bool {
        Store::ping(self).await
    }

    async fn close(&self) {
        Store::close(self).await
    }

    fn pool_usage(&self) -> Vec<(&'static str, PoolUsage)> {
        Store::pool_usage(self)
    }

    async fn mfa_status(&self, user: UserId) -> Result<MfaStatus> {
        Store::mfa_status(self, user).await
    }

    async fn begin_totp(&self, user: UserId, secret: &str) -> Result<bool> {
        Store::begin_totp(self, user, secret).await
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        secret: &str,
        step: i64,
        recovery: &[String],
        event: &AuditEvent,
    ) -> Result<bool> {
        Store::confirm_totp(self, user, secret, step, recovery, event).await
    }

    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        Store::accept_totp_step(self, user, step).await
    }

    async fn disable_totp(&self, user: UserId, event: &AuditEvent) -> Result<bool> {
        Store::disable_totp(self, user, event).await
    }

    async fn replace_recovery_codes(&self, user: UserId, recovery: &[String], event: &AuditEvent) -> Result<bool> {
        Store::replace_recovery_codes(self, user, recovery, event).await
    }

    async fn use_recovery_code(&self, user: UserId, code_hash: &str, event: &AuditEvent) -> Result<bool> {
        Store::use_recovery_code(self, user, code_hash, event).await
    }

    async fn open_mfa_challenge(&self, jti: &str, user: UserId, expires: i64) -> Result<()> {
        Store::open_mfa_challenge(self, jti, user, expires).await
    }

    async fn mfa_challenge_live(&self, jti: &str, now: i64) -> Result<bool> {
        Store::mfa_challenge_live(self, jti, now).await
    }

    async fn fail_mfa_challenge(&self, jti: &str, event: &AuditEvent) -> Result<()> {
        Store::fail_mfa_challenge(self, jti, event).await
    }

    async fn spend_mfa_challenge(&self, jti: &str, now: i64) -> Result<bool> {
        Store::spend_mfa_challenge(self, jti, now).await
    }

    async fn reset_mfa(&self, user: UserId, event: &AuditEvent) -> Result<u64> {
        let done = Store::reset_mfa(self, user, event).await?;
        self.settled().await;
        Ok(done)
    }

    async fn mfa_summaries(&self, users: &[UserId]) -> Result<Vec<(UserId, MfaSummary)>> {
        Store::mfa_summaries(self, users).await
    }

    async fn add_passkey(&self, passkey: &StoredPasskey, event: &AuditEvent) -> Result<bool> {
        Store::add_passkey(self, passkey, event).await
    }

    async fn list_passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>> {
        Store::list_passkeys(self, user).await
    }

    async fn find_passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        Store::find_passkey(self, credential_id).await
    }

    async fn rename_passkey(&self, user: UserId, id: PasskeyId, name: &str) -> Result<Option<StoredPasskey>> {
        Store::rename_passkey(self, user, id, name).await
    }

    async fn delete_passkey(&self, user: UserId, id: PasskeyId, event: &AuditEvent) -> Result<bool> {
        Store::delete_passkey(self, user, id, event).await
    }

    async fn use_passkey(&self, id: PasskeyId, credential: &str, counter: u32) -> Result<bool> {
        Store::use_passkey(self, id, credential, counter).await
    }

    async fn open_ceremony(&self, ceremony: &Ceremony) -> Result<()> {
        Store::open_ceremony(self, ceremony).await
    }

    async fn take_ceremony(&self, kind: CeremonyKind, key: &str, now: i64) -> Result<Option<Ceremony>> {
        Store::take_ceremony(self, kind, key, now).await
    }

    async fn find_social_user(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        Store::find_social_user(self, issuer, subject).await
    }

    async fn create_social_user(&self, new: &NewUser, link: &SocialLink, event: &AuditEvent) -> Result<SocialCreated> {
        Store::create_social_user(self, new, link, event).await
    }

    async fn link_social_identity(&self, link: &SocialLink, event: &AuditEvent) -> Result<LinkOutcome> {
        Store::link_social_identity(self, link, event).await
    }

    async fn unlink_social_identity(&self, user: UserId, provider: &str, event: &AuditEvent) -> Result<UnlinkOutcome> {
        Store::unlink_social_identity(self, user, provider, event).await
    }
}
