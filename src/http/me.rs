//! The current user (contract §5 me).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Auth, Client, FromRaw, Typed};
use super::forms::Form;
use super::reply::ok;
use super::rules;
use super::schemas::{Envelope, ErrorEnvelope, UserData};
use crate::error::{Error, Result};
use crate::flows::account::{self, NameChange};
use crate::state::AppState;

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me/", operation_id = "me", security(("bearer" = [])), responses(
    (status = 200, description = "The caller's user object.", body = Envelope<UserData>),
))]
pub async fn get(Auth(me): Auth) -> Response {
    ok("Current user.", UserData { user: me.user.view() })
}

/// Absent fields are left as they are.
#[derive(Deserialize, ToSchema)]
#[schema(as = MePatchBody)]
pub struct PatchBody {
    #[schema(schema_with = rules::first_name)]
    first_name: Option<String>,
    #[schema(schema_with = rules::last_name)]
    last_name: Option<String>,
}

impl FromRaw for NameChange {
    type Raw = PatchBody;
}

impl TryFrom<PatchBody> for NameChange {
    type Error = Error;

    fn try_from(body: PatchBody) -> Result<Self> {
        let mut form = Form::default();
        let change = NameChange {
            first_name: body.first_name.map(|v| form.name("first_name", Some(v), true)).unwrap_or_default(),
            last_name: body.last_name.map(|v| form.name("last_name", Some(v), false)).unwrap_or_default(),
        };
        form.errors.into_result()?;
        Ok(change)
    }
}

/// Change the signed-in user's names.
#[utoipa::path(patch, path = "/auth/me/", operation_id = "update_me", request_body = PatchBody,
    security(("bearer" = [])), responses(
    (status = 200, description = "The updated user.", body = Envelope<UserData>),
    (status = 400, description = "A name is blank (first name), too long or holds control characters.",
        body = ErrorEnvelope),
))]
pub async fn patch(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    Typed(change): Typed<NameChange>,
) -> Result<Response> {
    let user = account::update_names(&svc, &me, change, &client).await?;
    Ok(ok("Profile updated.", UserData { user: user.view() }))
}
