//! Administration that does not go through HTTP: the first superuser.

use serde_json::json;
use uuid::Uuid;

use super::policy::{self, Attributes};
use crate::domain::{AuditEvent, ClientInfo, Email, Outcome, Password, Phone, Role, User};
use crate::error::{Error, FieldErrors, Result};
use crate::state::Services;
use crate::store::NewUser;

/// Creates a verified `admin` account, with the same password policy and
/// uniqueness rules as registration.
pub async fn create_superuser(svc: &Services, email: Email, phone: Option<Phone>, password: Password) -> Result<User> {
    let mut errors = FieldErrors::new();
    let attrs = Attributes {
        email: Some(email.as_str()),
        phone: phone.as_ref().map(Phone::as_str),
        first_name: "",
        last_name: "",
    };
    for message in policy::check(password.expose(), svc.config.password_min_length, &attrs) {
        errors.add("password", message);
    }
    errors.into_result()?;
    let new = NewUser {
        id: Uuid::now_v7(),
        password_hash: svc.hashing.hash(&password).await?,
        email: Some(email),
        phone,
        first_name: String::new(),
        last_name: String::new(),
        role: Role::Admin,
        is_verified: true,
    };
    let event = |id| {
        AuditEvent::new("user_create", Outcome::Success, Some(id), &ClientInfo::default())
            .with_detail(json!({"role": "admin", "via": "createsuperuser"}))
    };
    match svc.store.create_user(&new, None, event).await? {
        Ok(user) => Ok(user),
        Err(taken) => {
            let mut errors = FieldErrors::new();
            if taken.email {
                errors.add("email", "A user with this email already exists.");
            }
            if taken.phone {
                errors.add("phone", "A user with this phone number already exists.");
            }
            Err(Error::Validation(errors))
        }
    }
}
