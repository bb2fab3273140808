//! Self-registration (contract §5 register).

use super::bots::Proof;
use super::otp;
use crate::domain::password_policy::Attributes;
use crate::domain::recovery::OtpPurpose;
use crate::domain::{AuditAction, AuditEvent, ClientInfo, Email, Outcome, Password, Phone, Role, User, UserId};
use crate::error::{Error, FieldErrors, Result};
use crate::state::Services;
use crate::store::NewUser;

/// A registration as parsed at the edge.
#[derive(Debug)]
pub struct Registration {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub password: Password,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    /// The request's proof that it comes from a person (§20).
    pub proof: Proof,
}

pub struct Registered {
    pub user: User,
    /// The verification code, only when `AUTHGATE_EXPOSE_OTP` is on.
    pub otp: Option<String>,
}

pub async fn register(svc: &Services, reg: Registration, client: &ClientInfo) -> Result<Registered> {
    let ids = [reg.email.as_ref().map(Email::as_str), reg.phone.as_ref().map(Phone::as_str)];
    super::bots::guard(svc, &reg.proof, &ids.into_iter().flatten().collect::<Vec<_>>(), client).await?;
    let mut errors = FieldErrors::new();
    let attrs = Attributes {
        email: reg.email.as_ref().map(Email::as_str),
        phone: reg.phone.as_ref().map(Phone::as_str),
        first_name: &reg.first_name,
        last_name: &reg.last_name,
    };
    errors.extend(super::passwords::password_errors(svc, &reg.password, &attrs, "password").await);
    if reg.phone.as_ref().is_some_and(|p| !super::pumping::country_allowed(svc, p)) {
        errors.add("phone", super::pumping::COUNTRY_REFUSED);
    }
    // An early, friendly answer; the unique index below is the real guard.
    let taken = svc.store.user_taken(reg.email.as_ref(), reg.phone.as_ref()).await?;
    errors.extend(super::taken_errors(taken));
    if taken.email || taken.phone {
        refused(svc, client).await?;
    }
    errors.into_result()?;

    let new = NewUser {
        id: UserId::new(),
        password_hash: svc.hashing.hash(&reg.password).await?,
        email: reg.email,
        phone: reg.phone,
        first_name: reg.first_name,
        last_name: reg.last_name,
        role: reg.role,
        is_verified: false,
    };
    let now = svc.clock.now();
    let code = otp::issue(svc, new.id, OtpPurpose::Verify, now);
    let network = otp::network_key(client);
    let event = AuditEvent::new(AuditAction::Register, Outcome::Success, Some(new.id), client);
    let user = match svc.store.create_user(&new, Some(&code.stored(OtpPurpose::Verify, &network, now)), &event).await? {
        Ok(user) => user,
        Err(taken) => {
            refused(svc, client).await?;
            return Err(Error::Validation(super::taken_errors(taken)));
        }
    };
    otp::deliver(svc, &user, &code.plain, OtpPurpose::Verify, client).await?;
    let otp = svc.config.expose_otp.then_some(code.plain);
    Ok(Registered { user, otp })
}

/// Audits a registration refused because the email or phone is taken.
async fn refused(svc: &Services, client: &ClientInfo) -> Result<()> {
    let event = AuditEvent::new(AuditAction::Register, Outcome::Failure, None, client)
        .with_detail(serde_json::json!({"reason": "taken"}));
    svc.store.record_audit(&event).await
}
