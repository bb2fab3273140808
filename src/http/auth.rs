//! Handlers for sign-in, registration, tokens and codes: parse, call the
//! flow, shape the answer.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::extract::{Auth, Client, JsonBody};
use super::forms::Form;
use super::reply::{created, ok};
use crate::error::Result;
use crate::flows::{account, login, otp, register, tokens};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginBody {
    email_or_phone: Option<String>,
    password: Option<String>,
}

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
    Ok(ok(
        "Login successful.",
        json!({"access": signed_in.tokens.access, "refresh": signed_in.tokens.refresh, "user": signed_in.user.to_json()}),
    ))
}

#[derive(Deserialize)]
pub struct RegisterBody {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    role: Option<String>,
}

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
    let mut data = json!({"user": done.user.to_json()});
    if let Some(code) = done.otp {
        data["otp"] = json!(code);
    }
    Ok(created("Registration successful. A verification code has been sent.", data))
}

#[derive(Deserialize)]
pub struct RefreshBody {
    refresh: Option<String>,
}

pub async fn refresh(
    State(svc): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let Some(token) = form.required("refresh", body.refresh) else { return Err(form.into_error()) };
    let pair = tokens::refresh(&svc, &token, &client).await?;
    Ok(ok("Token refreshed.", json!({"access": pair.access, "refresh": pair.refresh})))
}

pub async fn logout(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let Some(token) = form.required("refresh", body.refresh) else { return Err(form.into_error()) };
    account::logout(&svc, &me, &token, &client).await?;
    Ok(ok("Logout successful.", json!({})))
}

#[derive(Deserialize)]
pub struct VerifyOtpBody {
    email_or_phone: Option<String>,
    otp: Option<String>,
}

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
    Ok(ok("Account verified.", json!({"user": user.to_json()})))
}

#[derive(Deserialize)]
pub struct ResendOtpBody {
    email_or_phone: Option<String>,
}

pub async fn resend_otp(
    State(svc): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<ResendOtpBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let Some(login_id) = form.login_id("email_or_phone", body.email_or_phone) else { return Err(form.into_error()) };
    otp::request_resend(&svc, login_id, client);
    Ok(ok("If the account exists and is not yet verified, a new code has been sent.", json!({})))
}
