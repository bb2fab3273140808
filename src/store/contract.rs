//! The storage contract: every operation the flows need, named for what it
//! does, with the values it takes and returns. Each database has one
//! implementation of it (`Storage`), with its own native driver; `Store`
//! holds the one a deployment uses. Each write that records an audit event
//! writes it in the same transaction as the change, and logs it once the
//! transaction has committed.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::import::{LegacyToken, Stored};
use crate::domain::mfa::{MfaStatus, MfaSummary};
use crate::domain::passkey::{Ceremony, CeremonyKind, StoredPasskey};
use crate::domain::recovery::{Attempt, NewCode, OtpPurpose, Spent};
use crate::domain::session::{NewSession, Opened, Rotate, Rotation, Session};
use crate::domain::social::{LinkOutcome, SocialCreated, SocialLink, UnlinkOutcome};
use crate::domain::soft_lock::{Charge, Failures, SoftLock, Verdict};
use crate::domain::{AuditEvent, Email, LoginId, PasskeyId, Phone, Role, SessionId, User, UserId};
use crate::error::Result;

/// Declares the operations once: the `Storage` trait every backend
/// implements, and `Store`'s methods, which hand each call to the backend
/// in use.
macro_rules! contract {
    ($( $(#[$doc:meta])* async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        /// The operations of the store, implemented once per database.
        pub(crate) trait Storage: Send + Sync + 'static {
            $( $(#[$doc])* fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = Result<$ret>> + Send; )*

            /// True when the database answers a trivial query within two
            /// seconds.
            fn ping(&self) -> impl Future<Output = bool> + Send;

            /// Closes every connection (at shutdown); later calls fail.
            fn close(&self) -> impl Future<Output = ()> + Send;

            /// Connections of each pool right now, for metrics.
            fn pool_usage(&self) -> Vec<(&'static str, PoolUsage)>;
        }

        // The SQLite store implements the operations as inherent methods,
        // spread over its files; these are the trait. (The PostgreSQL store
        // implements the trait itself, in `postgres/storage.rs`.)
        impl Storage for super::sqlite::Store {
            $( fn $name(&self $(, $arg: $ty)*) -> impl Future<Output = Result<$ret>> + Send {
                super::sqlite::Store::$name(self $(, $arg)*)
            } )*

            fn ping(&self) -> impl Future<Output = bool> + Send {
                super::sqlite::Store::ping(self)
            }

            fn close(&self) -> impl Future<Output = ()> + Send {
                super::sqlite::Store::close(self)
            }

            fn pool_usage(&self) -> Vec<(&'static str, PoolUsage)> {
                super::sqlite::Store::pool_usage(self)
            }
        }

        impl super::Store {
            $( $(#[$doc])* pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                self.count_operation();
                match self.backend() {
                    super::Inner::Sqlite(s) => Storage::$name(s $(, $arg)*).await,
                    super::Inner::Postgres(s) => Storage::$name(s $(, $arg)*).await,
                }
            } )*

            /// True when the database answers a trivial query within two
            /// seconds.
            pub async fn ping(&self) -> bool {
                match self.backend() {
                    super::Inner::Sqlite(s) => Storage::ping(s).await,
                    super::Inner::Postgres(s) => Storage::ping(s).await,
                }
            }

            /// Closes every connection (at shutdown).
            pub async fn close(&self) {
                match self.backend() {
                    super::Inner::Sqlite(s) => Storage::close(s).await,
                    super::Inner::Postgres(s) => Storage::close(s).await,
                }
            }

            /// Connections of each pool right now, for metrics.
            pub fn pool_usage(&self) -> Vec<(&'static str, PoolUsage)> {
                match self.backend() {
                    super::Inner::Sqlite(s) => Storage::pool_usage(s),
                    super::Inner::Postgres(s) => Storage::pool_usage(s),
                }
            }
        }
    };
}

contract! {
    // ------------------------------------------------------------- accounts

    /// The live (not deleted) account an email or phone signs in to.
    async fn find_user_by_login(&self, login: &LoginId) -> Option<User>;

    /// Any account by id, deleted or not.
    async fn find_user(&self, id: UserId) -> Option<User>;

    /// The user behind an access token, if its session is live (not
    /// revoked; the user may be inactive or deleted: the caller decides).
    async fn find_session_user(&self, id: UserId, session: SessionId) -> Option<User>;

    /// Which of these identifiers a live account already holds.
    async fn user_taken(&self, email: Option<&Email>, phone: Option<&Phone>) -> UserTaken;

    /// Creates the user, its first verification code (when given; counted
    /// as a code sent) and the audit event in one transaction. A
    /// concurrent twin loses on the unique index and gets `Err(taken)`.
    async fn create_user(
        &self,
        new: &NewUser,
        code: Option<&NewCode<'_>>,
        event: &AuditEvent,
    ) -> std::result::Result<User, UserTaken>;

    /// Renames the user, with the audit event, in one transaction.
    async fn update_user_names(&self, id: UserId, first_name: &str, last_name: &str, event: &AuditEvent) -> ();

    /// Replaces a hash with a stronger one after a successful sign-in,
    /// unless the password changed meanwhile (a compare-and-swap that loses
    /// quietly to any other password write). True when it replaced it.
    async fn upgrade_password_hash(&self, id: UserId, old_hash: &str, new_hash: &str) -> bool;

    /// Replaces the password, consumes the reset code, revokes every session
    /// of the user and ends its sign-ins waiting for a second factor, opens
    /// the new one and records the event, in one transaction. False (and nothing changed) when the hash (if given) or
    /// the code changed meanwhile.
    async fn replace_password(&self, change: &PasswordChange<'_>, event: &AuditEvent) -> bool;

    // ------------------------------------------------------------- sessions

    /// Records a sign-in: the session, the user's `last_login`, its network
    /// (trusted for §14.1 from now on), its (device, network) pair (§12)
    /// and the audit event, in one transaction. In the same transaction,
    /// beyond `session.max_sessions` the user's least recently used live
    /// sessions are revoked (`session_evicted` each; concurrent sign-ins
    /// at the limit leave exactly the limit), and a pair new for a user who
    /// had signed in before is audited `new_device` when
    /// `session.new_device_alerts`. Returns the evicted sessions and
    /// whether the device is new; `None`, with nothing written, when the
    /// user's row no longer has `session.user_updated_at` (it changed since
    /// the sign-in read it). The check holds the user's row, so a password
    /// write that revokes every session either comes first (and this sign-in
    /// opens nothing) or after (and revokes this session too).
    async fn open_session(&self, session: &NewSession, event: &AuditEvent) -> Option<Opened>;

    /// Rotates the session's refresh token from the presented one to
    /// `rotate.next`, recording the presenter as the session's latest
    /// client (ip, user agent, last used) in the same write. Decided under
    /// the database's write lock (the clock read once it is held), so among
    /// concurrent presenters of one token exactly one rotates; a stale
    /// token is judged by `domain::session::judge_stale` (a reuse revokes
    /// the session), and `domain::session::rotation_event` is written in
    /// the same transaction.
    async fn rotate_session(&self, rotate: &Rotate) -> Rotation;

    /// The user's live sessions (not revoked, refresh token not expired),
    /// newest first.
    async fn list_sessions(&self, user: UserId) -> Vec<Session>;

    /// Revokes one live session of `user`; false (and no event) when there
    /// was none.
    async fn revoke_session(&self, session: SessionId, user: UserId, reason: &str, event: &AuditEvent) -> bool;

    /// Revokes every live session of the user; returns how many.
    async fn revoke_all_sessions(&self, user: UserId, reason: &str, event: &AuditEvent) -> u64;

    // ---------------------------------------------------- codes and recovery

    /// Stores a new code for the requesting network (replacing only that
    /// network's), counts it and records the event, unless a code quota of
    /// `domain::recovery` is spent (then nothing changes).
    async fn replace_otp(&self, user: UserId, code: &NewCode<'_>, event: &AuditEvent) -> std::result::Result<(), Spent>;

    /// Counts a guess from `network` (unless a guess quota is spent) and
    /// returns the codes it is judged against (`domain::recovery::judged_against`),
    /// spending an attempt of the network's own code.
    async fn take_otp_attempt(&self, user: UserId, purpose: OtpPurpose, network: &str, now: DateTime<Utc>) -> Attempt;

    /// Counts a reset email to the user and records the event, unless a
    /// reset-email quota is spent (then nothing changes).
    async fn take_reset_email(
        &self,
        user: UserId,
        network: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> std::result::Result<(), Spent>;

    /// Consumes a verification code after a correct guess, with every other
    /// verification code of the user, and marks the user verified, with the
    /// event, in one transaction. False if the code was consumed or replaced
    /// meanwhile.
    async fn consume_verify_otp(&self, user: UserId, code_hash: &str, event: &AuditEvent) -> bool;

    // ------------------------------------------------------- sign-in defence

    /// Judges an attempt by the counter `charge` names and, when it may go
    /// ahead, counts it as a failure at once on every counter of `charge`,
    /// in one locked step (§14.1).
    async fn login_attempt(&self, lock: SoftLock, charge: &Charge, now: DateTime<Utc>) -> Verdict;

    /// Takes back the failure `login_attempt` counted (an attempt that was
    /// not wrong credentials).
    async fn forgive_login_attempt(&self, charge: &Charge) -> ();

    /// Every counter of the login id starts again (a successful sign-in).
    async fn reset_login_failures(&self, login: &str) -> ();

    /// The login id's own counter (every failure, from any network; §20's
    /// adaptive challenge reads it).
    async fn login_failures(&self, login: &str) -> Failures;

    /// Whether the account signed in from `network` since `since`; without
    /// an account the same work, for an id no account has.
    async fn network_trusted(&self, user: Option<UserId>, network: &str, since: DateTime<Utc>) -> bool;

    /// Deletes counters whose window ended before `failures_before` and
    /// trust older than `trusted_before`; returns how many rows went.
    async fn sweep_login_defence(&self, failures_before: DateTime<Utc>, trusted_before: DateTime<Utc>) -> u64;

    /// Deletes rows of the revocation feed older than `keep` (by the
    /// database's clock, which wrote them); returns how many went.
    async fn sweep_revocations(&self, keep: std::time::Duration) -> u64;

    // ------------------------------------------------------- abuse defence

    /// Records an event of `key` at `at`, kept until `expires` (§20).
    async fn note_event(&self, key: &str, at: DateTime<Utc>, expires: DateTime<Utc>) -> ();

    /// The events of `key` since `since`, counted up to `cap`.
    async fn count_events(&self, key: &str, since: DateTime<Utc>, cap: u32) -> u32;

    /// Records an event of `key` at `at` (kept until `expires`) unless
    /// `limit` of them happened since `since`, in one locked step; false
    /// when over the limit.
    async fn take_event(
        &self,
        key: &str,
        since: DateTime<Utc>,
        limit: u32,
        at: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> bool;

    /// Deletes the events whose `expires` is before `now`; returns how many.
    async fn sweep_events(&self, now: DateTime<Utc>) -> u64;

    // ------------------------------------------------------- audit and admin

    /// Records an event that goes with no other change (a failed login).
    async fn record_audit(&self, event: &AuditEvent) -> ();

    /// Audit events matching the filter, newest first, at most
    /// `limit + 1` (one more than a page, to tell whether another follows).
    async fn list_audit(&self, filter: &AuditFilter) -> Vec<AuditRecord>;

    /// Users matching the filter, newest first, at most `limit + 1`.
    async fn list_users(&self, filter: &UserFilter) -> Vec<User>;

    /// Audit events whose id sorts at or after `from`, oldest first, at
    /// most `limit` (ids are UUIDv7, so this reads them in the order they
    /// were made: the dashboard's live tail polls with it, §19).
    async fn audit_from_id(&self, from: &str, limit: u32) -> Vec<AuditRecord>;

    /// How many audit events of each action and outcome each hour has had
    /// since `since` (microseconds), for the dashboard's charts (§19).
    async fn audit_hourly(&self, since: i64) -> Vec<HourlyCount>;

    /// How many users there are of each role, activity and deletion (§19).
    async fn user_counts(&self) -> Vec<UserCount>;


    /// Applies an admin's changes to a live user; the last-admin rule is
    /// checked in the same serialized transaction; deactivation revokes
    /// every session.
    async fn change_user(&self, id: UserId, change: &UserChange, event: &AuditEvent) -> AdminWrite;

    /// Soft-deletes a live user and revokes every session.
    async fn soft_delete_user(&self, id: UserId, event: &AuditEvent) -> AdminWrite;

    /// Brings a soft-deleted user back, unless its email or phone has been
    /// taken meanwhile; of concurrent restores one wins.
    async fn restore_user(&self, id: UserId, event: &AuditEvent) -> AdminWrite;

    // ------------------------------------------------------- second factors

    /// The user's second factors as stored (§15).
    async fn mfa_status(&self, user: UserId) -> MfaStatus;

    /// Stores a pending TOTP secret, replacing a pending one; false (and
    /// nothing changed) when TOTP is active.
    async fn begin_totp(&self, user: UserId, secret: &str) -> bool;

    /// Activates the pending TOTP whose secret is `secret`, with `step` as
    /// its last accepted step, and replaces the recovery codes (their
    /// digests), with the event, in one transaction. False when the pending
    /// secret changed or was activated meanwhile.
    async fn confirm_totp(&self, user: UserId, secret: &str, step: i64, recovery: &[String], event: &AuditEvent) -> bool;

    /// Accepts `step` of the active TOTP unless a code of it or a later
    /// step was accepted already (a replay): false then.
    async fn accept_totp_step(&self, user: UserId, step: i64) -> bool;

    /// Removes TOTP and the recovery codes, with the event; false when TOTP
    /// was not active.
    async fn disable_totp(&self, user: UserId, event: &AuditEvent) -> bool;

    /// Replaces the recovery codes, with the event; false without an active
    /// second factor.
    async fn replace_recovery_codes(&self, user: UserId, recovery: &[String], event: &AuditEvent) -> bool;

    /// Spends an unused recovery code (its digest), with the event; false
    /// when it is not one (wrong, or used already).
    async fn use_recovery_code(&self, user: UserId, code_hash: &str, event: &AuditEvent) -> bool;

    /// Records a new `mfa_token` by its jti, alive until `expires` (unix
    /// seconds); challenges that expired `MFA_TOKEN_SECS` or more before
    /// it go (so the table holds about the last ten minutes).
    async fn open_mfa_challenge(&self, jti: &str, user: UserId, expires: i64) -> ();

    /// True while the challenge may be answered: not spent, not expired at
    /// `now` (unix seconds), fewer than `MFA_MAX_FAILURES` wrong answers.
    async fn mfa_challenge_live(&self, jti: &str, now: i64) -> bool;

    /// Counts a wrong answer to the challenge, with the event.
    async fn fail_mfa_challenge(&self, jti: &str, event: &AuditEvent) -> ();

    /// Spends the challenge on its one successful answer; false when it was
    /// spent, killed or expired meanwhile.
    async fn spend_mfa_challenge(&self, jti: &str, now: i64) -> bool;

    /// Removes every second factor of the user and revokes every session,
    /// with the event, in one transaction; returns the sessions revoked.
    async fn reset_mfa(&self, user: UserId, event: &AuditEvent) -> u64;

    /// Each user's second factors, for the admin user object.
    async fn mfa_summaries(&self, users: &[UserId]) -> Vec<(UserId, MfaSummary)>;

    // -------------------------------------------------------------- passkeys

    /// Stores a new passkey with the event, in one transaction; false (and
    /// nothing stored) when its credential id is registered already, to
    /// anyone.
    async fn add_passkey(&self, passkey: &StoredPasskey, event: &AuditEvent) -> bool;

    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, user: UserId) -> Vec<StoredPasskey>;

    /// The passkey of a credential id (base64url), whoever owns it.
    async fn find_passkey(&self, credential_id: &str) -> Option<StoredPasskey>;

    /// Renames one of the user's passkeys; none when it is not theirs.
    async fn rename_passkey(&self, user: UserId, id: PasskeyId, name: &str) -> Option<StoredPasskey>;

    /// Deletes one of the user's passkeys with the event; false (and no
    /// event) when it is not theirs.
    async fn delete_passkey(&self, user: UserId, id: PasskeyId, event: &AuditEvent) -> bool;

    /// Records a use of the passkey: its updated credential, the signature
    /// `counter` it showed and `last_used_at`, unless the stored counter
    /// reached `counter` meanwhile (a non-zero counter must grow): false
    /// then, and nothing changed.
    async fn use_passkey(&self, id: PasskeyId, credential: &str, counter: u32) -> bool;

    /// Stores a ceremony's state, replacing one of the same kind and key;
    /// ceremonies expired `CEREMONY_SECS` or more before it go.
    async fn open_ceremony(&self, ceremony: &Ceremony) -> ();

    /// Takes (deletes) the ceremony if it has not expired at `now` (unix
    /// seconds): of concurrent answers, one gets it.
    async fn take_ceremony(&self, kind: CeremonyKind, key: &str, now: i64) -> Option<Ceremony>;
    // ------------------------------------------------------- social sign-in

    /// The account a provider identity is linked to, deleted or not.
    async fn find_social_user(&self, issuer: &str, subject: &str) -> Option<User>;

    /// Creates an account for a provider identity (`auth_provider` the
    /// provider's name) with the identity linked and the event, in one
    /// transaction; nothing when the email or the identity was taken
    /// meanwhile.
    async fn create_social_user(&self, new: &NewUser, link: &SocialLink, event: &AuditEvent) -> SocialCreated;

    /// Links the identity to `link.user_id` with the event, unless it is
    /// linked already or the account has another identity of the provider.
    async fn link_social_identity(&self, link: &SocialLink, event: &AuditEvent) -> LinkOutcome;

    /// Unlinks the account's identity of `provider` with the event, unless
    /// the account would be left with no way to sign in (no usable password,
    /// no other identity): decided in the same transaction.
    async fn unlink_social_identity(&self, user: UserId, provider: &str, event: &AuditEvent) -> UnlinkOutcome;

    // ---------------------------------------------------------- signing keys

    /// The signing keys of `alg` that sign or were retired at or after
    /// `retired_since`, oldest first; with `alg` `None`, every key.
    async fn signing_keys(&self, alg: Option<&str>, retired_since: DateTime<Utc>) -> Vec<StoredKey>;

    /// Stores `key` as the active key of its algorithm unless one is active
    /// already: of concurrent first starts, one key wins. True if stored.
    async fn add_first_signing_key(&self, key: &StoredKey) -> bool;

    /// Retires the active key of `key.alg` (at the store's clock) and makes
    /// `key` the active one, in one transaction; rotations run one at a
    /// time across instances.
    async fn rotate_signing_key(&self, key: &StoredKey) -> ();

    /// The jti of the refresh token a live (not revoked) session of `user`
    /// holds now.
    async fn session_refresh_jti(&self, user: UserId, session: SessionId) -> Option<String>;

    // ------------------------------------------- the Django original (§18)

    /// Stores a batch of the original's users, matched by id: a new id is
    /// inserted, a known one replaced only when the source's `updated_at`
    /// is newer; a user whose email or phone a live account of another id
    /// holds is left out. One transaction, rolled back when `dry_run`; one
    /// outcome per user, in order.
    async fn import_users(&self, users: &[User], dry_run: bool) -> Vec<Stored>;

    /// Stores the original's outstanding refresh tokens whose user is here
    /// (a blacklisting sticks; a token that became a session is left as
    /// it is) and moves the default legacy window (`legacy_tokens_until`)
    /// to the latest expiry of one not blacklisted, in one transaction,
    /// rolled back when `dry_run`.
    async fn import_legacy_tokens(&self, tokens: &[LegacyToken], dry_run: bool) -> ();

    /// The end of the legacy window an import set (unix seconds).
    async fn legacy_tokens_until(&self) -> Option<i64>;

    /// The session an imported refresh token (`session.refresh.jti`, not
    /// blacklisted, of `session.user_id`) is: opened now as `session`,
    /// holding that token as its current one, at its first presentation;
    /// the same session at later ones. `None` for any other token.
    async fn adopt_legacy_refresh(&self, session: &NewSession) -> Option<SessionId>;

    // ------------------------------------------------------------ operation

    /// Stores `value` unless the key already has one, and returns the value
    /// that is stored: concurrent first starts agree on one secret.
    async fn setting_or_insert(&self, key: &str, value: &str) -> String;

    /// Applies pending migrations, exactly once however many instances
    /// start together.
    async fn migrate(&self) -> ();

    /// How the database's schema stands against this release's migrations,
    /// read without writing (`import-django --dry-run`).
    async fn schema(&self) -> Schema;
}

// ----------------------------------------------------------------- values

/// A database's schema against this release's migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// No migration applied: an empty database.
    Empty,
    /// Every migration applied.
    Current,
    /// Some applied, some pending.
    Behind,
    /// Migrated by a newer release.
    Newer,
}

impl Schema {
    /// The state of a ledger whose latest applied version is `applied`,
    /// against a release whose latest migration is `latest`.
    pub fn against(applied: Option<i64>, latest: Option<i64>) -> Schema {
        match (applied, latest) {
            (None, _) => Schema::Empty,
            (Some(a), Some(l)) if a < l => Schema::Behind,
            (Some(a), Some(l)) if a > l => Schema::Newer,
            _ => Schema::Current,
        }
    }
}

/// A user about to be created; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: crate::domain::Role,
    pub is_verified: bool,
}

/// A signing key as stored (contract §17); `sealed` is the private key
/// sealed by `crypto::sealing`.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub sealed: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Which identifiers already belong to a live account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserTaken {
    pub email: bool,
    pub phone: bool,
}

/// A password replacement and what goes with it.
pub struct PasswordChange<'a> {
    pub user_id: UserId,
    /// The hash the decision was made on (the current password was checked
    /// against it, or a reset link is bound to it): if it changed meanwhile,
    /// nothing happens and the caller decides again on the row as it is
    /// now. `None` when the decision does not rest on the hash (an SMS
    /// reset code, consumed in the same transaction).
    pub old_hash: Option<&'a str>,
    pub new_hash: &'a str,
    /// Why every session of the user is revoked.
    pub reason: &'static str,
    /// The digest of the SMS reset code to consume, if one was used.
    pub reset_code: Option<&'a str>,
    /// A session to open for the caller once the others are revoked.
    pub new_session: Option<&'a NewSession>,
}

/// A position in a newest-first listing: the last row's time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: String,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Lower-cased text searched in email, phone and names.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
    /// Soft-deleted users only (else live users only).
    pub deleted: bool,
    pub after: Option<Cursor>,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

/// Audit events of one action and outcome within one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyCount {
    /// Unix hours (`at` / 3,600,000,000 microseconds).
    pub hour: i64,
    pub action: String,
    pub outcome: String,
    pub count: i64,
}

/// Users of one role, activity and deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCount {
    pub role: String,
    pub is_active: bool,
    pub deleted: bool,
    pub count: i64,
}

/// One stored audit event.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: String,
    pub at: i64,
    pub action: String,
    pub outcome: String,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Value,
}

/// Field changes an admin asks for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Option<Role>,
}

/// What an admin write did.
#[derive(Debug)]
pub enum AdminWrite {
    Done(User),
    NotFound,
    /// It would leave no active admin.
    LastAdmin,
    /// Restore of a user who is not deleted.
    NotDeleted,
    /// Restore of a user whose email or phone is now someone else's.
    Taken(UserTaken),
}

/// A pool's connections: open (`size`), of which `idle`, and the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolUsage {
    pub fn in_use(&self) -> u32 {
        self.size.saturating_sub(self.idle)
    }
}
