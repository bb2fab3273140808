//! Passkeys as stored (contract §15.3), and the WebAuthn ceremonies waiting
//! for their answer (and, in the same table, the steps of a social sign-in
//! in the browser, §16).

use chrono::{DateTime, Utc};

use super::{PasskeyId, UserId};

/// A WebAuthn challenge works once and for this long (§15.3).
pub const CEREMONY_SECS: i64 = 300;

/// A registered passkey.
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub id: PasskeyId,
    pub user_id: UserId,
    /// base64url of the credential id, as authenticators send it.
    pub credential_id: String,
    pub name: String,
    /// The credential as webauthn-rs serialises it (public key, counter).
    pub credential: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a ceremony is for: each kind has its own key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Adding a passkey; keyed by the user (a new one replaces it).
    Register,
    /// A passwordless sign-in; keyed by a random ceremony id.
    Login,
    /// A passkey as second factor; keyed by the `mfa_token`'s jti.
    SecondFactor,
    /// A social sign-in in the browser between its start and the
    /// provider's callback (§16); keyed by its `state`.
    SocialState,
    /// The one-time code a browser sign-in ends with (§16); keyed by the
    /// code's SHA-256.
    SocialCode,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::Login => "login",
            CeremonyKind::SecondFactor => "mfa",
            CeremonyKind::SocialState => "social_state",
            CeremonyKind::SocialCode => "social_code",
        }
    }
}

/// A ceremony between its options and its answer.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub kind: CeremonyKind,
    pub key: String,
    /// The account it is for; none for a discoverable sign-in.
    pub user: Option<UserId>,
    /// The webauthn-rs state, serialised (kept server-side only).
    pub state: String,
    /// Unix seconds.
    pub expires_at: i64,
}
