//! Password reset and change (contract §5).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::extract::{Auth, Client, JsonBody};
use super::forms::Form;
use super::reply::ok;
use crate::error::Result;
use crate::flows::passwords;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ResetRequestBody {
    email_or_phone: Option<String>,
}

pub async fn reset_request(
    State(svc): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<ResetRequestBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let Some(login) = form.login_id("email_or_phone", body.email_or_phone) else { return Err(form.into_error()) };
    passwords::request_reset(&svc, login, client);
    Ok(ok("If an account matches, a password reset link or code has been sent.", json!({})))
}

#[derive(Deserialize)]
pub struct ResetConfirmBody {
    uidb64: Option<String>,
    token: Option<String>,
    email_or_phone: Option<String>,
    otp: Option<String>,
    new_password: Option<String>,
}

pub async fn reset_confirm(
    State(svc): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<ResetConfirmBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let new = form.password("new_password", body.new_password);
    if body.uidb64.is_some() || body.token.is_some() {
        let uid = form.required("uidb64", body.uidb64);
        let token = form.required("token", body.token);
        let (Some(uid), Some(token), Some(new)) = (uid, token, new) else { return Err(form.into_error()) };
        passwords::confirm_with_link(&svc, uid.trim(), token.trim(), &new, &client).await?;
    } else if body.email_or_phone.is_some() || body.otp.is_some() {
        let login = form.login_id("email_or_phone", body.email_or_phone);
        let code = form.required("otp", body.otp);
        let (Some(login), Some(code), Some(new)) = (login, code, new) else { return Err(form.into_error()) };
        passwords::confirm_with_code(&svc, &login, code.trim(), &new, &client).await?;
    } else {
        form.errors.add("non_field_errors", "Provide uidb64 and token, or email_or_phone and otp.");
        return Err(form.into_error());
    }
    Ok(ok("Your password has been reset. Sign in with the new password.", json!({})))
}

#[derive(Deserialize)]
pub struct ChangeBody {
    current_password: Option<String>,
    new_password: Option<String>,
}

pub async fn change(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    JsonBody(body): JsonBody<ChangeBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let current = form.password("current_password", body.current_password);
    let new = form.password("new_password", body.new_password);
    let (Some(current), Some(new)) = (current, new) else { return Err(form.into_error()) };
    let pair = passwords::change(&svc, &me.user, &current, &new, &client).await?;
    Ok(ok("Password changed.", json!({"access": pair.access, "refresh": pair.refresh})))
}
