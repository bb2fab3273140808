use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Email, Phone, Role};

pub type UserId = Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProvider {
    Email,
    Phone,
    Google,
}

impl AuthProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthProvider::Email => "email",
            AuthProvider::Phone => "phone",
            AuthProvider::Google => "google",
        }
    }

    pub fn from_stored(s: &str) -> AuthProvider {
        match s {
            "phone" => AuthProvider::Phone,
            "google" => AuthProvider::Google,
            _ => AuthProvider::Email,
        }
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

#[derive(Serialize)]
struct UserJson<'a> {
    id: String,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    first_name: &'a str,
    last_name: &'a str,
    role: Role,
    auth_provider: &'static str,
    is_active: bool,
    is_verified: bool,
    last_login: Option<String>,
    created_at: String,
    updated_at: String,
}

impl User {
    /// The user object of contract §3.
    pub fn to_json(&self) -> Value {
        let mut v = json!(UserJson {
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
        });
        if let Some(deleted_at) = &self.deleted_at {
            v["deleted_at"] = json!(rfc3339(deleted_at));
        }
        v
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
