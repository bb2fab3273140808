use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Email, Phone, Role, UserId};

/// How an account came to be: registered with an email or a phone, or
/// created by a sign-in with a social provider (contract §16), named as
/// configured (`AUTHGATE_OIDC_PROVIDERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProvider {
    Email,
    Phone,
    Social(SocialName),
}

impl AuthProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthProvider::Email => "email",
            AuthProvider::Phone => "phone",
            AuthProvider::Social(name) => name.as_str(),
        }
    }

    pub fn from_stored(s: &str) -> AuthProvider {
        match s {
            "email" => AuthProvider::Email,
            "phone" => AuthProvider::Phone,
            other => AuthProvider::Social(SocialName::of(other)),
        }
    }
}

/// A social provider's name, interned: the process keeps each distinct
/// name once (a deployment has a handful), so a `User` stays small and
/// `Copy` holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SocialName(u32);

static SOCIAL_NAMES: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());

impl SocialName {
    pub fn of(name: &str) -> SocialName {
        let find = |names: &[&str]| names.iter().position(|n| *n == name);
        if let Some(i) = SOCIAL_NAMES.read().ok().and_then(|names| find(&names)) {
            return SocialName(i as u32);
        }
        let mut names = SOCIAL_NAMES.write().unwrap_or_else(|e| e.into_inner());
        let i = find(&names).unwrap_or_else(|| {
            names.push(Box::leak(name.to_owned().into_boxed_str()));
            names.len() - 1
        });
        SocialName(i as u32)
    }

    pub fn as_str(self) -> &'static str {
        SOCIAL_NAMES.read().ok().and_then(|names| names.get(self.0 as usize).copied()).unwrap_or("")
    }
}

impl std::fmt::Debug for SocialName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored account. `password_hash` is Django's encoded form and never
/// leaves the service (`to_json` and `Debug` leave it out).
#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub auth_provider: AuthProvider,
    pub is_active: bool,
    pub is_verified: bool,
    pub last_login: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The user object of contract §3, as every endpoint returns it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserView<'a> {
    /// A UUIDv7.
    #[schema(format = "uuid", example = "0193c1c4-5e1a-7c3b-9f00-2a4b6c8d0e1f")]
    pub id: String,
    #[schema(required = true, format = "email", example = "ana@example.com")]
    pub email: Option<&'a str>,
    /// E.164.
    #[schema(required = true, pattern = r"^\+[1-9][0-9]{6,14}$", example = "+14155552671")]
    pub phone: Option<&'a str>,
    #[schema(example = "Ana")]
    pub first_name: &'a str,
    #[schema(example = "")]
    pub last_name: &'a str,
    pub role: Role,
    /// `email` if registered with an email, else `phone`, or the name of the
    /// social provider (contract §16) whose sign-in created the account.
    #[schema(example = "email")]
    pub auth_provider: &'static str,
    pub is_active: bool,
    pub is_verified: bool,
    /// RFC 3339, UTC.
    #[schema(required = true, format = DateTime)]
    pub last_login: Option<String>,
    #[schema(format = DateTime, example = "2026-11-25T12:00:00.000000Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2026-11-25T12:00:00.000000Z")]
    pub updated_at: String,
    /// Only on soft-deleted users, as the admin API shows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub deleted_at: Option<String>,
}

impl User {
    /// The user object of contract §3.
    pub fn view(&self) -> UserView<'_> {
        UserView {
            id: self.id.to_string(),
            email: self.email.as_ref().map(Email::as_str),
            phone: self.phone.as_ref().map(Phone::as_str),
            first_name: &self.first_name,
            last_name: &self.last_name,
            role: self.role,
            auth_provider: self.auth_provider.as_str(),
            is_active: self.is_active,
            is_verified: self.is_verified,
            last_login: self.last_login.as_ref().map(rfc3339),
            created_at: rfc3339(&self.created_at),
            updated_at: rfc3339(&self.updated_at),
            deleted_at: self.deleted_at.as_ref().map(rfc3339),
        }
    }

    /// The user object of contract §3, as JSON.
    pub fn to_json(&self) -> Value {
        json!(self.view())
    }

    pub fn can_sign_in(&self) -> bool {
        self.is_active && self.deleted_at.is_none()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .field("deleted", &self.deleted_at.is_some())
            .finish_non_exhaustive()
    }
}
