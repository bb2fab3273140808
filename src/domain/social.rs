//! Social sign-in (contract §16): what a provider says about its user, the
//! link between a provider identity and an account, and the account rules.

use chrono::{DateTime, Utc};

use super::{User, UserId};

/// A one-time code of the browser flow works once and for this long.
pub const EXCHANGE_CODE_SECS: i64 = 60;
/// A browser sign-in may take this long between its start and the
/// provider's callback (the user signs in at the provider meanwhile).
pub const STATE_SECS: i64 = 600;

/// A provider's user, as its verified ID token (or, for GitHub, its API)
/// describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The configured provider name (`google`, `github`, ...).
    pub provider: String,
    /// Who vouches for the subject: the ID token's `iss` (for GitHub, its
    /// authorization server's origin).
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider marks `email` as verified.
    pub email_verified: bool,
    pub given_name: String,
    pub family_name: String,
}

/// A provider identity linked to an account, as stored.
#[derive(Debug, Clone)]
pub struct SocialLink {
    pub user_id: UserId,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl SocialLink {
    pub fn of(identity: &Identity, user_id: UserId, now: DateTime<Utc>) -> SocialLink {
        SocialLink {
            user_id,
            provider: identity.provider.clone(),
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            created_at: now,
        }
    }
}

/// What creating an account for an identity did.
#[derive(Debug)]
pub enum SocialCreated {
    Created(User),
    /// A live account took the email meanwhile.
    EmailTaken,
    /// The identity was linked meanwhile (a concurrent first sign-in).
    IdentityTaken,
}

/// What linking an identity to an account did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked,
    /// It was linked to this account already (nothing changed).
    AlreadyLinked,
    /// It is linked to another account.
    OtherAccount,
    /// The account has another identity of this provider.
    ProviderTaken,
}

/// What unlinking an account's identity of a provider did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlinkOutcome {
    Unlinked,
    NotLinked,
    /// It is the account's last way to sign in: no usable password, no
    /// other identity.
    LastWay,
}

/// The account rule for an identity that is not linked yet (§16), given
/// the live account its email names, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Link the identity to this account and sign it in.
    Link(UserId),
    /// Create a new account for the identity.
    Create,
    /// An account has this email but may not be linked (409).
    Conflict,
    /// The provider shared no email address (400).
    NoEmail,
}

/// A verified email that matches a verified account links to it; any other
/// match is refused (an unverified account, or an email the provider does
/// not vouch for); no match creates an account.
pub fn decide(identity: &Identity, by_email: Option<&User>) -> Decision {
    if identity.email.is_none() {
        return Decision::NoEmail;
    }
    match by_email {
        Some(user) if identity.email_verified && user.is_verified => Decision::Link(user.id),
        Some(_) => Decision::Conflict,
        None => Decision::Create,
    }
}

/// Whether a stored hash is one a password can match (Django's unusable
/// passwords start with `!`).
pub fn usable_password(hash: &str) -> bool {
    !hash.is_empty() && !hash.starts_with('!')
}

/// A password hash no password matches, as Django writes one
/// (`set_unusable_password`): `!` and 40 random characters.
pub fn unusable_password() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let tail: String = rand::rng().sample_iter(&Alphanumeric).take(40).map(char::from).collect();
    format!("!{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthProvider, Email, Role};

    fn identity(email: Option<&str>, verified: bool) -> Identity {
        Identity {
            provider: "google".into(),
            issuer: "https://accounts.google.com".into(),
            subject: "1234".into(),
            email: email.map(str::to_owned),
            email_verified: verified,
            given_name: "Ana".into(),
            family_name: String::new(),
        }
    }

    fn user(verified: bool) -> User {
        let now = Utc::now();
        User {
            id: UserId::new(),
            email: Some(Email::parse("ana@example.com").unwrap()),
            phone: None,
            password_hash: "!x".into(),
            first_name: "Ana".into(),
            last_name: String::new(),
            role: Role::Client,
            auth_provider: AuthProvider::Email,
            is_active: true,
            is_verified: verified,
            last_login: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    #[test]
    fn the_account_rules_of_the_contract() {
        let verified = identity(Some("ana@example.com"), true);
        let account = user(true);
        assert_eq!(decide(&verified, Some(&account)), Decision::Link(account.id));
        assert_eq!(decide(&verified, Some(&user(false))), Decision::Conflict, "an unverified account");
        let unvouched = identity(Some("ana@example.com"), false);
        assert_eq!(decide(&unvouched, Some(&account)), Decision::Conflict, "never links");
        assert_eq!(decide(&unvouched, None), Decision::Create);
        assert_eq!(decide(&verified, None), Decision::Create);
        assert_eq!(decide(&identity(None, true), None), Decision::NoEmail);
    }

    #[test]
    fn unusable_passwords_are_recognised() {
        let hash = unusable_password();
        assert_eq!(hash.len(), 41);
        assert!(!usable_password(&hash));
        assert!(!usable_password(""));
        assert!(usable_password("argon2$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"));
    }
}
