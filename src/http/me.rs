//! The current user (contract §5 me).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::extract::{Auth, Client, JsonBody};
use super::forms::Form;
use super::reply::ok;
use crate::error::Result;
use crate::flows::account::{self, NameChange};
use crate::state::AppState;

pub async fn get(Auth(me): Auth) -> Response {
    ok("Current user.", json!({"user": me.user.to_json()}))
}

#[derive(Deserialize)]
pub struct PatchBody {
    first_name: Option<String>,
    last_name: Option<String>,
}

pub async fn patch(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    JsonBody(body): JsonBody<PatchBody>,
) -> Result<Response> {
    let mut form = Form::default();
    let change = NameChange {
        first_name: body.first_name.map(|v| form.name("first_name", Some(v), true)).unwrap_or_default(),
        last_name: body.last_name.map(|v| form.name("last_name", Some(v), false)).unwrap_or_default(),
    };
    form.errors.into_result()?;
    let user = account::update_names(&svc, &me, change, &client).await?;
    Ok(ok("Profile updated.", json!({"user": user.to_json()})))
}
