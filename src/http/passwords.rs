//! Password reset and change (contract §5).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Client, Enrolled, FromRaw, Typed};
use super::forms::Form;
use super::reply::ok;
use super::rules;
use super::schemas::{Empty, Envelope, ErrorEnvelope, TokenPair};
use crate::domain::{LoginId, Password};
use crate::error::{Error, Result};
use crate::flows::bots::Proof;
use crate::flows::passwords;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct ResetRequestBody {
    #[schema(schema_with = rules::email_or_phone, required = true)]
    email_or_phone: Option<String>,
    /// A solved proof-of-work challenge (§20), when one is required.
    #[schema(schema_with = rules::altcha)]
    altcha: Option<String>,
    /// A CAPTCHA token (§20), in place of `altcha` when a provider is set.
    #[schema(schema_with = rules::captcha_token)]
    captcha_token: Option<String>,
}

pub struct ResetRequest {
    login: LoginId,
    proof: Proof,
}

impl FromRaw for ResetRequest {
    type Raw = ResetRequestBody;
}

impl TryFrom<ResetRequestBody> for ResetRequest {
    type Error = Error;

    fn try_from(body: ResetRequestBody) -> Result<Self> {
        let mut form = Form::default();
        let proof = Form::proof(body.altcha, body.captcha_token);
        let Some(login) = form.login_id("email_or_phone", body.email_or_phone) else { return Err(form.into_error()) };
        Ok(ResetRequest { login, proof })
    }
}

/// Ask for a password reset: a link by email, or a 6-digit code by SMS. The
/// answer is the same whether or not an account matches.
#[utoipa::path(post, path = "/password/reset-request/", request_body = ResetRequestBody, responses(
    (status = 200, description = "A generic acknowledgement.", body = Envelope<Empty>),
    (status = 400, description = "`email_or_phone` is missing or malformed, or a required challenge is missing \
        or wrong.", body = ErrorEnvelope),
    (status = 403, description = "The client's address is on a blocklist.", body = ErrorEnvelope),
    (status = 503, description = "A CAPTCHA provider that must be asked cannot be reached.", body = ErrorEnvelope),
))]
pub async fn reset_request(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<ResetRequest>,
) -> Result<Response> {
    passwords::request_reset(&svc, req.login, &req.proof, client).await?;
    Ok(ok("If an account matches, a password reset link or code has been sent.", Empty {}))
}

/// Either `uidb64` and `token` (from the emailed link), or `email_or_phone`
/// and `otp` (the code sent by SMS); always `new_password`.
#[derive(Deserialize, ToSchema)]
pub struct ResetConfirmBody {
    #[schema(
        nullable = false,
        min_length = 1,
        pattern = r"\S",
        example = "MDE5M2MxYzQtNWUxYS03YzNiLTlmMDAtMmE0YjZjOGQwZTFm"
    )]
    uidb64: Option<String>,
    #[schema(nullable = false, min_length = 1, pattern = r"\S", example = "dillc0-ca1095f4c40489f9f1e0a9458609c5cb")]
    token: Option<String>,
    #[schema(schema_with = rules::email_or_phone)]
    email_or_phone: Option<String>,
    #[schema(schema_with = rules::code)]
    otp: Option<String>,
    #[schema(schema_with = rules::new_password, required = true)]
    new_password: Option<String>,
}

/// A reset proven by a link's `uidb64` and `token` or by a code; the
/// strings trimmed.
pub enum ResetConfirmRequest {
    Link { uid: String, token: String, new: Password },
    Code { login: LoginId, code: String, new: Password },
}

impl FromRaw for ResetConfirmRequest {
    type Raw = ResetConfirmBody;
}

impl TryFrom<ResetConfirmBody> for ResetConfirmRequest {
    type Error = Error;

    fn try_from(body: ResetConfirmBody) -> Result<Self> {
        let mut form = Form::default();
        let new = form.password("new_password", body.new_password);
        if body.uidb64.is_some() || body.token.is_some() {
            let uid = form.required("uidb64", body.uidb64);
            let token = form.required("token", body.token);
            let (Some(uid), Some(token), Some(new)) = (uid, token, new) else { return Err(form.into_error()) };
            Ok(ResetConfirmRequest::Link { uid: uid.trim().into(), token: token.trim().into(), new })
        } else if body.email_or_phone.is_some() || body.otp.is_some() {
            let login = form.login_id("email_or_phone", body.email_or_phone);
            let code = form.required("otp", body.otp);
            let (Some(login), Some(code), Some(new)) = (login, code, new) else { return Err(form.into_error()) };
            Ok(ResetConfirmRequest::Code { login, code: code.trim().into(), new })
        } else {
            form.errors.add("non_field_errors", "Provide uidb64 and token, or email_or_phone and otp.");
            Err(form.into_error())
        }
    }
}

/// Set a new password with a reset link's token or a reset code; every
/// session of the user is revoked.
#[utoipa::path(post, path = "/password/reset-confirm/", request_body = ResetConfirmBody, responses(
    (status = 200, description = "The password is reset.", body = Envelope<Empty>),
    (status = 400, description = "A field is missing, the token or code is invalid, expired or used, or the new \
        password fails the policy.", body = ErrorEnvelope),
))]
pub async fn reset_confirm(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<ResetConfirmRequest>,
) -> Result<Response> {
    match req {
        ResetConfirmRequest::Link { uid, token, new } => {
            passwords::confirm_with_link(&svc, &uid, &token, &new, &client).await?;
        }
        ResetConfirmRequest::Code { login, code, new } => {
            passwords::confirm_with_code(&svc, &login, &code, &new, &client).await?;
        }
    }
    Ok(ok("Your password has been reset. Sign in with the new password.", Empty {}))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeBody {
    #[schema(schema_with = rules::password, required = true)]
    current_password: Option<String>,
    #[schema(schema_with = rules::new_password, required = true)]
    new_password: Option<String>,
}

pub struct ChangeRequest {
    current: Password,
    new: Password,
}

impl FromRaw for ChangeRequest {
    type Raw = ChangeBody;
}

impl TryFrom<ChangeBody> for ChangeRequest {
    type Error = Error;

    fn try_from(body: ChangeBody) -> Result<Self> {
        let mut form = Form::default();
        let current = form.password("current_password", body.current_password);
        let new = form.password("new_password", body.new_password);
        let (Some(current), Some(new)) = (current, new) else { return Err(form.into_error()) };
        Ok(ChangeRequest { current, new })
    }
}

/// Change the caller's password; every other session is revoked and this
/// one gets fresh tokens.
#[utoipa::path(post, path = "/password/change/", operation_id = "change_password", request_body = ChangeBody, security(("bearer" = [])), responses(
    (status = 200, description = "Changed: a fresh access and refresh token.", body = Envelope<TokenPair>),
    (status = 400, description = "The current password is wrong, or the new one is the same or fails the policy.",
        body = ErrorEnvelope),
))]
pub async fn change(
    State(svc): State<AppState>,
    Enrolled(me): Enrolled,
    Client(client): Client,
    Typed(req): Typed<ChangeRequest>,
) -> Result<Response> {
    let pair = passwords::change(&svc, &me.user, &req.current, &req.new, &client).await?;
    Ok(ok("Password changed.", TokenPair { access: pair.access, refresh: pair.refresh }))
}
