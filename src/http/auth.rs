//! Handlers for sign-in, registration, tokens and codes: parse, call the
//! flow, shape the answer.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::extract::{Auth, Client, JsonBody};
use super::forms::Form;
use super::reply::{created, ok};
use crate::error::{Error, Result};
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
    form.errors.into_result()?;
    let (Some(raw), Some(password)) = (login_id, password) else { unreachable!("errors were reported") };
    // A well-formed request for an address that cannot exist is still just
    // "invalid credentials", with the same work done.
    let Ok(login_id) = crate::domain::LoginId::parse(&raw) else {
        svc.hashing.burn(&password).await?;
        return Err(Error::Unauthorized(login::INVALID_CREDENTIALS));
    };
    let signed_in = login::login(&svc, &login_id, &password, &client).await?;
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
    form.errors.into_result()?;
    let (Some(email), Some(phone), Some(password), Some(first_name), Some(last_name), Some(role)) =
        (email, phone, password, first_name, last_name, role)
    else {
        unreachable!("errors were reported")
    };
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
    let token = form.required("refresh", body.refresh);
    form.errors.into_result()?;
    let pair = tokens::refresh(&svc, &token.unwrap_or_default(), &client).await?;
    Ok(ok("Token refreshed.", json!({"access": pair.access, "refresh": pair.refresh})))
}

pub async fn logout(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let token = form.required("refresh", body.refresh);
    form.errors.into_result()?;
    account::logout(&svc, &me, &token.unwrap_or_default(), &client).await?;
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
    form.errors.into_result()?;
    let (Some(login_id), Some(code)) = (login_id, code) else { unreachable!("errors were reported") };
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
    let login_id = form.login_id("email_or_phone", body.email_or_phone);
    form.errors.into_result()?;
    if let Some(login_id) = login_id {
        otp::resend(&svc, &login_id, &client).await?;
    }
    Ok(ok("If the account exists and is not yet verified, a new code has been sent.", json!({})))
}
