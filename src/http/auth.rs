//! Handlers for sign-in, registration, tokens and codes: parse, call the
//! flow, shape the answer.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Auth, Client, FromRaw, Typed};
use super::forms::Form;
use super::reply::{created, ok};
use super::rules;
use super::schemas::{
    Empty, Envelope, ErrorEnvelope, LoginAnswer, LoginData, MfaRequiredData, RegisterData, TokenPair, UserData,
};
use crate::domain::{LoginId, Password};
use crate::error::{Error, Result};
use crate::flows::bots::Proof;
use crate::flows::{account, login, otp, register, tokens};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    #[schema(schema_with = rules::login_id, required = true)]
    email_or_phone: Option<String>,
    #[schema(schema_with = rules::password, required = true)]
    password: Option<String>,
    /// A solved proof-of-work challenge (§20), when one is required.
    #[schema(schema_with = rules::altcha)]
    altcha: Option<String>,
    /// A CAPTCHA token (§20), in place of `altcha` when a provider is set.
    #[schema(schema_with = rules::captcha_token)]
    captcha_token: Option<String>,
}

/// A login as given: the login id is judged by the flow (an unparsable one
/// is just an unknown account, answered alike).
pub struct LoginRequest {
    login: String,
    password: Password,
    proof: Proof,
}

impl FromRaw for LoginRequest {
    type Raw = LoginBody;
}

impl TryFrom<LoginBody> for LoginRequest {
    type Error = Error;

    fn try_from(body: LoginBody) -> Result<Self> {
        let mut form = Form::default();
        let login = form.required("email_or_phone", body.email_or_phone);
        let password = form.password("password", body.password);
        let proof = Form::proof(body.altcha, body.captcha_token);
        let (Some(login), Some(password)) = (login, password) else { return Err(form.into_error()) };
        Ok(LoginRequest { login, password, proof })
    }
}

/// Sign in with an email or phone and a password.
///
/// An unknown account, a deleted one and a wrong password get the same 401.
/// After repeated failures for one email or phone, attempts for it are
/// delayed (429) without checking the password; the account is never
/// locked.
#[utoipa::path(post, path = "/auth/login/", request_body = LoginBody, responses(
    (status = 200, description = "Signed in: a new session and its tokens; or, for an account with a second \
        factor, `mfa_required` and an `mfa_token` for `mfa/verify`.", body = Envelope<LoginAnswer>),
    (status = 400, description = "A field is missing or malformed, or a required challenge (`altcha`, or \
        `captcha_token`) is missing, wrong or used already.", body = ErrorEnvelope),
    (status = 401, description = "Invalid credentials.", body = ErrorEnvelope),
    (status = 403, description = "The account is inactive, or the client's address is on a blocklist.",
        body = ErrorEnvelope),
    (status = 429, description = "Over the rate limit, or too many failed attempts for this email or phone: \
        \"Too many failed attempts for this account. Try again later.\" `Retry-After` says when to try again.",
        body = ErrorEnvelope),
    (status = 503, description = "A CAPTCHA provider that must be asked cannot be reached.", body = ErrorEnvelope),
))]
pub async fn login(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<LoginRequest>,
) -> Result<Response> {
    Ok(logged_in(login::login(&svc, &req.login, &req.password, &req.proof, &client).await?))
}

/// The answer of a first sign-in step: the pair, or `mfa_required`.
pub(super) fn logged_in(outcome: login::LoggedIn) -> Response {
    match outcome {
        login::LoggedIn::SignedIn(signed_in) => {
            let (tokens, user) = (signed_in.tokens, signed_in.user.view());
            let data = LoginAnswer::SignedIn(LoginData { access: tokens.access, refresh: tokens.refresh, user });
            ok("Login successful.", data)
        }
        login::LoggedIn::SecondFactor(next) => {
            let data = MfaRequiredData { mfa_required: true, mfa_token: next.mfa_token, methods: next.methods };
            ok("Two-factor authentication required.", LoginAnswer::MfaRequired(data))
        }
    }
}

/// At least one of `email` and `phone` is required (null or `""` counts
/// as absent).
#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    #[schema(schema_with = rules::email)]
    email: Option<String>,
    #[schema(schema_with = rules::phone)]
    phone: Option<String>,
    #[schema(schema_with = rules::new_password, required = true)]
    password: Option<String>,
    #[schema(schema_with = rules::first_name, required = true)]
    first_name: Option<String>,
    #[schema(schema_with = rules::last_name)]
    last_name: Option<String>,
    #[schema(schema_with = rules::self_role)]
    role: Option<String>,
    /// A solved proof-of-work challenge (§20), when one is required.
    #[schema(schema_with = rules::altcha)]
    altcha: Option<String>,
    /// A CAPTCHA token (§20), in place of `altcha` when a provider is set.
    #[schema(schema_with = rules::captcha_token)]
    captcha_token: Option<String>,
}

impl FromRaw for register::Registration {
    type Raw = RegisterBody;
}

impl TryFrom<RegisterBody> for register::Registration {
    type Error = Error;

    fn try_from(body: RegisterBody) -> Result<Self> {
        let mut form = Form::default();
        let email = form.email(body.email);
        let phone = form.phone(body.phone);
        let password = form.password("password", body.password);
        let first_name = form.name("first_name", body.first_name, true);
        let last_name = form.name("last_name", body.last_name, false);
        let role = form.self_role(body.role);
        let proof = Form::proof(body.altcha, body.captcha_token);
        if matches!((&email, &phone), (Some(None), Some(None))) {
            form.errors.add("non_field_errors", "Provide an email or a phone number.");
        }
        let (Some(email), Some(phone), Some(password), Some(first_name), Some(last_name), Some(role)) =
            (email, phone, password, first_name, last_name, role)
        else {
            return Err(form.into_error());
        };
        form.errors.into_result()?;
        Ok(register::Registration { email, phone, password, first_name, last_name, role, proof })
    }
}

/// Create an account and send it a verification code.
#[utoipa::path(post, path = "/auth/register/", request_body = RegisterBody, responses(
    (status = 201, description = "Registered; a 6-digit code was sent by SMS or email.", body = Envelope<RegisterData>),
    (status = 400, description = "A field is invalid, the password fails the policy, the email or phone is taken, \
        the phone's country is not accepted, or a required challenge is missing or wrong.", body = ErrorEnvelope),
    (status = 403, description = "The client's address is on a blocklist.", body = ErrorEnvelope),
    (status = 503, description = "A CAPTCHA provider that must be asked cannot be reached.", body = ErrorEnvelope),
))]
pub async fn register(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(reg): Typed<register::Registration>,
) -> Result<Response> {
    let done = register::register(&svc, reg, &client).await?;
    let data = RegisterData { user: done.user.view(), otp: done.otp };
    Ok(created("Registration successful. A verification code has been sent.", data))
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    #[schema(schema_with = rules::token, required = true)]
    refresh: Option<String>,
}

/// A refresh token, for a refresh or a logout.
pub struct RefreshRequest {
    refresh: String,
}

impl FromRaw for RefreshRequest {
    type Raw = RefreshBody;
}

impl TryFrom<RefreshBody> for RefreshRequest {
    type Error = Error;

    fn try_from(body: RefreshBody) -> Result<Self> {
        let mut form = Form::default();
        let Some(refresh) = form.required("refresh", body.refresh) else { return Err(form.into_error()) };
        Ok(RefreshRequest { refresh })
    }
}

/// Rotate a refresh token: the presented one is retired, a new pair returned.
#[utoipa::path(post, path = "/auth/token/refresh/", request_body = RefreshBody, responses(
    (status = 200, description = "A new access and refresh token.", body = Envelope<TokenPair>),
    (status = 400, description = "`refresh` is missing.", body = ErrorEnvelope),
    (status = 401, description = "Invalid, expired, revoked or reused token, or an access token.", body = ErrorEnvelope),
))]
pub async fn refresh(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<RefreshRequest>,
) -> Result<Response> {
    let pair = tokens::refresh(&svc, &req.refresh, &client).await?;
    Ok(ok("Token refreshed.", TokenPair { access: pair.access, refresh: pair.refresh }))
}

/// Sign out: revoke the session of the given refresh token.
#[utoipa::path(post, path = "/auth/logout/", request_body = RefreshBody, security(("bearer" = [])), responses(
    (status = 200, description = "The session is revoked.", body = Envelope<Empty>),
    (status = 400, description = "`refresh` is missing, invalid or another user's.", body = ErrorEnvelope),
))]
pub async fn logout(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    Typed(req): Typed<RefreshRequest>,
) -> Result<Response> {
    account::logout(&svc, &me, &req.refresh, &client).await?;
    Ok(ok("Logout successful.", Empty {}))
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyOtpBody {
    #[schema(schema_with = rules::email_or_phone, required = true)]
    email_or_phone: Option<String>,
    /// The 6-digit code sent at registration.
    #[schema(schema_with = rules::code, required = true)]
    otp: Option<String>,
}

pub struct VerifyOtpRequest {
    login: LoginId,
    /// Trimmed.
    code: String,
}

impl FromRaw for VerifyOtpRequest {
    type Raw = VerifyOtpBody;
}

impl TryFrom<VerifyOtpBody> for VerifyOtpRequest {
    type Error = Error;

    fn try_from(body: VerifyOtpBody) -> Result<Self> {
        let mut form = Form::default();
        let login = form.login_id("email_or_phone", body.email_or_phone);
        let code = form.required("otp", body.otp);
        let (Some(login), Some(code)) = (login, code) else { return Err(form.into_error()) };
        Ok(VerifyOtpRequest { login, code: code.trim().to_string() })
    }
}

/// Verify an account with the code it was sent.
#[utoipa::path(post, path = "/auth/verify-otp/", request_body = VerifyOtpBody, responses(
    (status = 200, description = "The account is verified.", body = Envelope<UserData>),
    (status = 400, description = "A field is missing, or the code is wrong or expired.", body = ErrorEnvelope),
))]
pub async fn verify_otp(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<VerifyOtpRequest>,
) -> Result<Response> {
    let user = otp::verify(&svc, &req.login, &req.code, &client).await?;
    Ok(ok("Account verified.", UserData { user: user.view() }))
}

#[derive(Deserialize, ToSchema)]
pub struct ResendOtpBody {
    #[schema(schema_with = rules::email_or_phone, required = true)]
    email_or_phone: Option<String>,
    /// A solved proof-of-work challenge (§20), when one is required.
    #[schema(schema_with = rules::altcha)]
    altcha: Option<String>,
    /// A CAPTCHA token (§20), in place of `altcha` when a provider is set.
    #[schema(schema_with = rules::captcha_token)]
    captcha_token: Option<String>,
}

pub struct ResendOtpRequest {
    login: LoginId,
    proof: Proof,
}

impl FromRaw for ResendOtpRequest {
    type Raw = ResendOtpBody;
}

impl TryFrom<ResendOtpBody> for ResendOtpRequest {
    type Error = Error;

    fn try_from(body: ResendOtpBody) -> Result<Self> {
        let mut form = Form::default();
        let proof = Form::proof(body.altcha, body.captcha_token);
        let Some(login) = form.login_id("email_or_phone", body.email_or_phone) else { return Err(form.into_error()) };
        Ok(ResendOtpRequest { login, proof })
    }
}

/// Send a new verification code; the answer is the same whether or not the
/// account exists.
#[utoipa::path(post, path = "/auth/resend-otp/", request_body = ResendOtpBody, responses(
    (status = 200, description = "A generic acknowledgement.", body = Envelope<Empty>),
    (status = 400, description = "`email_or_phone` is missing or malformed, or a required challenge is missing \
        or wrong.", body = ErrorEnvelope),
    (status = 403, description = "The client's address is on a blocklist.", body = ErrorEnvelope),
    (status = 503, description = "A CAPTCHA provider that must be asked cannot be reached.", body = ErrorEnvelope),
))]
pub async fn resend_otp(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<ResendOtpRequest>,
) -> Result<Response> {
    otp::request_resend(&svc, req.login, &req.proof, client).await?;
    Ok(ok("If the account exists and is not yet verified, a new code has been sent.", Empty {}))
}
