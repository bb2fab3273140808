//! Second factors (contract §15.1, §15.2): TOTP enrolment, recovery codes
//! and the second step of a sign-in.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{Auth, Client, FromRaw, Typed};
use super::forms::Form;
use super::passkeys::{PasskeyView, PublicKeyData};
use super::reply::ok;
use super::rules;
use super::schemas::{Empty, Envelope, ErrorEnvelope, LoginData};
use crate::domain::Password;
use crate::error::{Error, Result};
use crate::flows::mfa::{self, Answer};
use crate::state::AppState;

/// `data` of a TOTP setup: shown once; pending until confirmed.
#[derive(Serialize, ToSchema)]
pub struct TotpSetupData {
    /// Base32 (RFC 4648), 160 bits.
    #[schema(schema_with = rules::base32)]
    secret: String,
    #[schema(
        pattern = "^otpauth://totp/",
        example = "otpauth://totp/authgate:ana@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=authgate"
    )]
    otpauth_uri: String,
    /// The `otpauth_uri` as a QR code: an SVG document.
    qr_svg: String,
}

/// `data` with new recovery codes, shown this once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesData {
    /// Ten codes of the form `xxxx-xxxx`; each works once.
    #[schema(example = json!(["k7vq-3xnp", "b2mh-9tdr"]), min_items = 10, max_items = 10)]
    recovery_codes: Vec<String>,
}

/// `data` of `GET mfa/`.
#[derive(Serialize, ToSchema)]
pub struct MfaStatusData {
    totp: bool,
    recovery_codes_left: u32,
    /// The caller's passkeys (§15.3).
    passkeys: Vec<PasskeyView>,
}

/// Second factors of the caller.
#[utoipa::path(get, path = "/auth/mfa/", operation_id = "mfa_status", security(("bearer" = [])), responses(
    (status = 200, description = "What second factors the caller has.", body = Envelope<MfaStatusData>),
))]
pub async fn status(State(svc): State<AppState>, Auth(me): Auth) -> Result<Response> {
    let status = mfa::status(&svc, &me.user).await?;
    let passkeys = crate::flows::passkeys::list(&svc, &me.user).await?.iter().map(PasskeyView::of).collect();
    let data = MfaStatusData { totp: status.totp_active(), recovery_codes_left: status.recovery_codes_left, passkeys };
    Ok(ok("Two-factor status.", data))
}

/// Start a TOTP enrolment (a new setup replaces a pending one).
#[utoipa::path(post, path = "/auth/mfa/totp/setup/", operation_id = "totp_setup", security(("bearer" = [])), responses(
    (status = 200, description = "The secret, its key URI and QR code; confirm with a code.",
        body = Envelope<TotpSetupData>),
    (status = 409, description = "TOTP is already active.", body = ErrorEnvelope),
))]
pub async fn totp_setup(State(svc): State<AppState>, Auth(me): Auth) -> Result<Response> {
    let e = mfa::setup_totp(&svc, &me.user).await?;
    let data = TotpSetupData { secret: e.secret, otpauth_uri: e.otpauth_uri, qr_svg: e.qr_svg };
    Ok(ok("Scan the code with an authenticator app, then confirm with a code.", data))
}

#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    #[schema(schema_with = rules::totp_code, required = true)]
    code: Option<String>,
}

pub struct CodeRequest {
    code: String,
}

impl FromRaw for CodeRequest {
    type Raw = CodeBody;
}

impl TryFrom<CodeBody> for CodeRequest {
    type Error = Error;

    fn try_from(body: CodeBody) -> Result<Self> {
        let mut form = Form::default();
        let code = form.required("code", body.code);
        code.map(|code| CodeRequest { code }).ok_or_else(|| form.into_error())
    }
}

/// Confirm the pending TOTP enrolment with a code.
#[utoipa::path(post, path = "/auth/mfa/totp/confirm/", operation_id = "totp_confirm", request_body = CodeBody,
    security(("bearer" = [])), responses(
    (status = 200, description = "TOTP is active; the recovery codes are shown this once.",
        body = Envelope<RecoveryCodesData>),
    (status = 400, description = "A wrong or replayed code, or no pending setup.", body = ErrorEnvelope),
))]
pub async fn totp_confirm(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    Typed(req): Typed<CodeRequest>,
) -> Result<Response> {
    let recovery_codes = mfa::confirm_totp(&svc, &me.user, &req.code, &client).await?;
    Ok(ok("Two-factor authentication is enabled. Keep the recovery codes safe.", RecoveryCodesData { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
pub struct DisableBody {
    #[schema(schema_with = rules::password, required = true)]
    password: Option<String>,
    #[schema(schema_with = rules::second_factor_code, required = true)]
    code: Option<String>,
}

pub struct DisableRequest {
    password: Password,
    code: String,
}

impl FromRaw for DisableRequest {
    type Raw = DisableBody;
}

impl TryFrom<DisableBody> for DisableRequest {
    type Error = Error;

    fn try_from(body: DisableBody) -> Result<Self> {
        let mut form = Form::default();
        let password = form.password("password", body.password);
        let code = form.required("code", body.code);
        let (Some(password), Some(code)) = (password, code) else { return Err(form.into_error()) };
        Ok(DisableRequest { password, code })
    }
}

/// Turn TOTP off (the recovery codes go too).
#[utoipa::path(post, path = "/auth/mfa/totp/disable/", operation_id = "totp_disable", request_body = DisableBody,
    security(("bearer" = [])), responses(
    (status = 200, description = "TOTP and the recovery codes are removed.", body = Envelope<Empty>),
    (status = 400, description = "A wrong password or code, or TOTP is not active.", body = ErrorEnvelope),
))]
pub async fn totp_disable(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    Typed(req): Typed<DisableRequest>,
) -> Result<Response> {
    mfa::disable_totp(&svc, &me.user, &req.password, &req.code, &client).await?;
    Ok(ok("Two-factor authentication is disabled.", Empty {}))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    #[schema(schema_with = rules::password, required = true)]
    password: Option<String>,
}

pub struct PasswordRequest {
    password: Password,
}

impl FromRaw for PasswordRequest {
    type Raw = PasswordBody;
}

impl TryFrom<PasswordBody> for PasswordRequest {
    type Error = Error;

    fn try_from(body: PasswordBody) -> Result<Self> {
        let mut form = Form::default();
        let password = form.password("password", body.password);
        password.map(|password| PasswordRequest { password }).ok_or_else(|| form.into_error())
    }
}

/// Ten new recovery codes; the old ones stop working.
#[utoipa::path(post, path = "/auth/mfa/recovery-codes/", operation_id = "regenerate_recovery_codes",
    request_body = PasswordBody, security(("bearer" = [])), responses(
    (status = 200, description = "The new codes, shown this once.", body = Envelope<RecoveryCodesData>),
    (status = 400, description = "A wrong password, or no second factor.", body = ErrorEnvelope),
))]
pub async fn recovery_codes(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    Typed(req): Typed<PasswordRequest>,
) -> Result<Response> {
    let recovery_codes = mfa::regenerate_recovery_codes(&svc, &me.user, &req.password, &client).await?;
    Ok(ok("New recovery codes. The old ones no longer work.", RecoveryCodesData { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
pub struct MfaTokenBody {
    /// The `mfa_token` the login answered.
    #[schema(required = true, nullable = false)]
    mfa_token: Option<String>,
}

pub struct MfaTokenRequest {
    mfa_token: String,
}

impl FromRaw for MfaTokenRequest {
    type Raw = MfaTokenBody;
}

impl TryFrom<MfaTokenBody> for MfaTokenRequest {
    type Error = Error;

    fn try_from(body: MfaTokenBody) -> Result<Self> {
        let mut form = Form::default();
        let mfa_token = form.required("mfa_token", body.mfa_token);
        mfa_token.map(|mfa_token| MfaTokenRequest { mfa_token }).ok_or_else(|| form.into_error())
    }
}

/// Options to answer the second step with a passkey; then `mfa/verify`
/// with `webauthn`.
#[utoipa::path(post, path = "/auth/mfa/webauthn/options/", operation_id = "mfa_webauthn_options",
    request_body = MfaTokenBody, responses(
    (status = 200, description = "Request options for the account's passkeys; the challenge works once, for         5 minutes.", body = Envelope<PublicKeyData>),
    (status = 400, description = "No `mfa_token`, or the account has no passkey.", body = ErrorEnvelope),
    (status = 401, description = "Not a live `mfa_token`.", body = ErrorEnvelope),
))]
pub async fn webauthn_options(State(svc): State<AppState>, Typed(req): Typed<MfaTokenRequest>) -> Result<Response> {
    let public_key = mfa::webauthn_options(&svc, &req.mfa_token).await?;
    Ok(ok("Answer with a passkey using these options.", PublicKeyData { public_key }))
}

/// The second step of a sign-in: one of `code`, `recovery_code`, `webauthn`.
#[derive(Deserialize, ToSchema)]
pub struct VerifyBody {
    #[schema(schema_with = rules::mfa_token, required = true)]
    mfa_token: Option<String>,
    #[schema(schema_with = rules::totp_code)]
    code: Option<String>,
    #[schema(schema_with = rules::recovery_code)]
    recovery_code: Option<String>,
    /// A WebAuthn assertion (§15.3): the `AuthenticationResponseJSON` of
    /// `navigator.credentials.get` with the options of `mfa/webauthn/options`.
    #[schema(value_type = Object, required = false)]
    webauthn: Option<serde_json::Value>,
}

pub struct VerifyRequest {
    mfa_token: String,
    answer: Answer,
}

impl FromRaw for VerifyRequest {
    type Raw = VerifyBody;
}

impl TryFrom<VerifyBody> for VerifyRequest {
    type Error = Error;

    fn try_from(body: VerifyBody) -> Result<Self> {
        let mut form = Form::default();
        let mfa_token = form.required("mfa_token", body.mfa_token);
        let answer = match (body.code, body.recovery_code, body.webauthn) {
            (Some(code), None, None) => form.required("code", Some(code)).map(Answer::Code),
            (None, Some(code), None) => form.required("recovery_code", Some(code)).map(Answer::RecoveryCode),
            (None, None, Some(assertion)) if assertion.is_object() => Some(Answer::Webauthn(assertion)),
            (None, None, Some(_)) => {
                form.errors.add("webauthn", "Not a valid WebAuthn credential.");
                None
            }
            (None, None, None) => {
                form.errors.add("code", "Give a code, a recovery_code or a webauthn assertion.");
                None
            }
            _ => {
                form.errors.add("non_field_errors", "Give only one of code, recovery_code and webauthn.");
                None
            }
        };
        let (Some(mfa_token), Some(answer)) = (mfa_token, answer) else { return Err(form.into_error()) };
        Ok(VerifyRequest { mfa_token, answer })
    }
}

/// Finish a sign-in that answered `mfa_required`.
///
/// Five wrong answers end the `mfa_token`; it serves one successful verify.
#[utoipa::path(post, path = "/auth/mfa/verify/", operation_id = "mfa_verify", request_body = VerifyBody, responses(
    (status = 200, description = "Signed in: a new session and its tokens.", body = Envelope<LoginData>),
    (status = 400, description = "A wrong or replayed code, or a malformed body.", body = ErrorEnvelope),
    (status = 401, description = "Not a live `mfa_token`.", body = ErrorEnvelope),
))]
pub async fn verify(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<VerifyRequest>,
) -> Result<Response> {
    let signed_in = mfa::verify(&svc, &req.mfa_token, &req.answer, &client).await?;
    let user = signed_in.user.view();
    Ok(ok("Login successful.", LoginData { access: signed_in.tokens.access, refresh: signed_in.tokens.refresh, user }))
}
