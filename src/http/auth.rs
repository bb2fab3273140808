//! Handlers for sign-in, registration, tokens and codes: parse, call the
//! flow, shape the answer.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Auth, Client, JsonBody};
use super::forms::Form;
use super::reply::{created, ok};
use super::schemas::{Empty, Envelope, ErrorEnvelope, LoginData, RegisterData, TokenPair, UserData};
use crate::error::Result;
use crate::flows::{account, login, otp, register, tokens};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    /// An email address or a phone number.
    #[schema(required = true, nullable = false, example = "ana@example.com")]
    email_or_phone: Option<String>,
    #[schema(required = true, nullable = false, example = "correct horse battery staple")]
    password: Option<String>,
}

/// Sign in with an email or phone and a password.
///
/// An unknown account, a deleted one and a wrong password get the same 401.
/// After repeated failures for one email or phone, attempts for it are
/// delayed (429) without checking the password; the account is never
/// locked.
#[utoipa::path(post, path = "/auth/login/", request_body = LoginBody, responses(
    (status = 200, description = "Signed in: a new session and its tokens.", body = Envelope<LoginData>),
    (status = 400, description = "A field is missing or malformed.", body = ErrorEnvelope),
    (status = 401, description = "Invalid credentials.", body = ErrorEnvelope),
    (status = 403, description = "The account is inactive.", body = ErrorEnvelope),
    (status = 429, description = "Over the rate limit, or too many failed attempts for this email or phone: \
        \"Too many failed attempts for this account. Try again later.\" `Retry-After` says when to try again.",
        body = ErrorEnvelope),
))]
pub async fn login(
    State(svc): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let login_id = form.required("email_or_phone", body.email_or_phone);
    let password = form.password("password", body.password);
    let (Some(raw), Some(password)) = (login_id, password) else { return Err(form.into_error()) };
    let signed_in = login::login(&svc, &raw, &password, &client).await?;
    let user = signed_in.user.view();
    Ok(ok("Login successful.", LoginData { access: signed_in.tokens.access, refresh: signed_in.tokens.refresh, user }))
}

/// At least one of `email` and `phone` is required.
#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    #[schema(example = "ana@example.com")]
    email: Option<String>,
    /// E.164 after normalization; spaces, dashes and parentheses are accepted.
    #[schema(example = "+14155552671")]
    phone: Option<String>,
    #[schema(required = true, nullable = false, example = "correct horse battery staple")]
    password: Option<String>,
    #[schema(required = true, nullable = false, max_length = 150, example = "Ana")]
    first_name: Option<String>,
    #[schema(max_length = 150, example = "")]
    last_name: Option<String>,
    /// `client` (the default) or `vendor`.
    #[schema(example = "client")]
    role: Option<String>,
}

/// Create an account and send it a verification code.
#[utoipa::path(post, path = "/auth/register/", request_body = RegisterBody, responses(
    (status = 201, description = "Registered; a 6-digit code was sent by SMS or email.", body = Envelope<RegisterData>),
    (status = 400, description = "A field is invalid, the password fails the policy, or the email or phone is taken.",
        body = ErrorEnvelope),
))]
pub async fn register(
    State(svc): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let email = form.email(body.email);
    let phone = form.phone(body.phone);
    let password = form.password("password", body.password);
    let first_name = form.name("first_name", body.first_name, true);
    let last_name = form.name("last_name", body.last_name, false);
    let role = form.self_role(body.role);
    if matches!((&email, &phone), (Some(None), Some(None))) {
        form.errors.add("non_field_errors", "Provide an email or a phone number.");
    }
    let (Some(email), Some(phone), Some(password), Some(first_name), Some(last_name), Some(role)) =
        (email, phone, password, first_name, last_name, role)
    else {
        return Err(form.into_error());
    };
    form.errors.into_result()?;
    let reg = register::Registration { email, phone, password, first_name, last_name, role };
    let done = register::register(&svc, reg, &client).await?;
    let data = RegisterData { user: done.user.view(), otp: done.otp };
    Ok(created("Registration successful. A verification code has been sent.", data))
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    /// A refresh token.
    #[schema(required = true, nullable = false, example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…")]
    refresh: Option<String>,
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
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let Some(token) = form.required("refresh", body.refresh) else { return Err(form.into_error()) };
    let pair = tokens::refresh(&svc, &token, &client).await?;
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
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let Some(token) = form.required("refresh", body.refresh) else { return Err(form.into_error()) };
    account::logout(&svc, &me, &token, &client).await?;
    Ok(ok("Logout successful.", Empty {}))
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyOtpBody {
    #[schema(required = true, nullable = false, example = "ana@example.com")]
    email_or_phone: Option<String>,
    /// The 6-digit code sent at registration.
    #[schema(required = true, nullable = false, example = "123456")]
    otp: Option<String>,
}

/// Verify an account with the code it was sent.
#[utoipa::path(post, path = "/auth/verify-otp/", request_body = VerifyOtpBody, responses(
    (status = 200, description = "The account is verified.", body = Envelope<UserData>),
    (status = 400, description = "A field is missing, or the code is wrong or expired.", body = ErrorEnvelope),
))]
pub async fn verify_otp(
    State(svc): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<VerifyOtpBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let login_id = form.login_id("email_or_phone", body.email_or_phone);
    let code = form.required("otp", body.otp);
    let (Some(login_id), Some(code)) = (login_id, code) else { return Err(form.into_error()) };
    let user = otp::verify(&svc, &login_id, code.trim(), &client).await?;
    Ok(ok("Account verified.", UserData { user: user.view() }))
}

#[derive(Deserialize, ToSchema)]
pub struct ResendOtpBody {
    #[schema(required = true, nullable = false, example = "ana@example.com")]
    email_or_phone: Option<String>,
}

/// Send a new verification code; the answer is the same whether or not the
/// account exists.
#[utoipa::path(post, path = "/auth/resend-otp/", request_body = ResendOtpBody, responses(
    (status = 200, description = "A generic acknowledgement.", body = Envelope<Empty>),
    (status = 400, description = "`email_or_phone` is missing or malformed.", body = ErrorEnvelope),
))]
pub async fn resend_otp(
    State(svc): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<ResendOtpBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let Some(login_id) = form.login_id("email_or_phone", body.email_or_phone) else { return Err(form.into_error()) };
    otp::request_resend(&svc, login_id, client);
    Ok(ok("If the account exists and is not yet verified, a new code has been sent.", Empty {}))
}
