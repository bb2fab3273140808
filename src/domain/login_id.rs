use super::{Email, Phone};

/// What a person signs in with: an email, or a phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginId {
    Email(Email),
    Phone(Phone),
}

impl LoginId {
    /// Anything with an `@` is an email; everything else must be a phone.
    pub fn parse(raw: &str) -> Result<LoginId, &'static str> {
        if raw.trim().is_empty() {
            return Err("This field may not be blank.");
        }
        if raw.contains('@') {
            Email::parse(raw).map(LoginId::Email)
        } else {
            Phone::parse(raw).map(LoginId::Phone).map_err(|_| "Enter a valid email address or phone number.")
        }
    }

    /// The email or the E.164 number, as stored.
    pub fn as_str(&self) -> &str {
        match self {
            LoginId::Email(email) => email.as_str(),
            LoginId::Phone(phone) => phone.as_str(),
        }
    }
}
