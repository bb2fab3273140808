//! Turning request bodies into domain values: every field is checked and
//! all problems are reported at once, as DRF does.

use crate::domain::{Email, LoginId, Password, Phone, Role};
use crate::error::{Error, FieldErrors};

const REQUIRED: &str = "This field is required.";
const BLANK: &str = "This field may not be blank.";
pub const NAME_MAX: usize = 150;

/// Collects field errors while parsing a body.
#[derive(Default)]
pub struct Form {
    pub errors: FieldErrors,
}

impl Form {
    /// A present, non-blank string.
    pub fn required(&mut self, field: &str, value: Option<String>) -> Option<String> {
        match value {
            None => self.fail(field, REQUIRED),
            Some(v) if v.trim().is_empty() => self.fail(field, BLANK),
            Some(v) => Some(v),
        }
    }

    pub fn login_id(&mut self, field: &str, value: Option<String>) -> Option<LoginId> {
        let raw = self.required(field, value)?;
        LoginId::parse(&raw).map_err(|m| self.errors.add(field, m)).ok()
    }

    pub fn password(&mut self, field: &str, value: Option<String>) -> Option<Password> {
        let raw = match value {
            None => return self.fail(field, REQUIRED),
            Some(v) => v,
        };
        Password::parse(&raw).map_err(|m| self.errors.add(field, m)).ok()
    }

    /// `Some(None)` when absent or null: the field is optional.
    pub fn email(&mut self, value: Option<String>) -> Option<Option<Email>> {
        match value.filter(|v| !v.trim().is_empty()) {
            None => Some(None),
            Some(v) => Email::parse(&v).map(Some).map_err(|m| self.errors.add("email", m)).ok(),
        }
    }

    pub fn phone(&mut self, value: Option<String>) -> Option<Option<Phone>> {
        match value.filter(|v| !v.trim().is_empty()) {
            None => Some(None),
            Some(v) => Phone::parse(&v).map(Some).map_err(|m| self.errors.add("phone", m)).ok(),
        }
    }

    /// A trimmed name of at most 150 characters; `blank_ok` for last names.
    pub fn name(&mut self, field: &str, value: Option<String>, required: bool) -> Option<String> {
        let v = match value {
            None if required => return self.fail(field, REQUIRED),
            None => return Some(String::new()),
            Some(v) => v.trim().to_string(),
        };
        if required && v.is_empty() {
            return self.fail(field, BLANK);
        }
        if v.chars().count() > NAME_MAX {
            return self.fail(field, "Ensure this field has no more than 150 characters.");
        }
        if v.chars().any(char::is_control) {
            return self.fail(field, "This field may not contain control characters.");
        }
        Some(v)
    }

    /// A self-assignable role; absent or null means `client`.
    pub fn self_role(&mut self, value: Option<String>) -> Option<Role> {
        let Some(raw) = value else { return Some(Role::Client) };
        match raw.parse::<Role>() {
            Ok(role) if role.self_assignable() => Some(role),
            Ok(_) => self.fail("role", "This role cannot be chosen at registration (client or vendor)."),
            Err(_) => self.fail("role", format!("\"{raw}\" is not a valid choice (client or vendor).")),
        }
    }

    /// A request's proof that it comes from a person (§20), judged by the
    /// flow only when one is required.
    pub fn proof(altcha: Option<String>, captcha_token: Option<String>) -> crate::flows::bots::Proof {
        crate::flows::bots::Proof { altcha, captcha_token }
    }

    /// The 400 carrying every problem found.
    pub fn into_error(self) -> Error {
        Error::Validation(self.errors)
    }

    fn fail<T>(&mut self, field: &str, message: impl Into<String>) -> Option<T> {
        self.errors.add(field, message);
        None
    }
}
