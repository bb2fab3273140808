//! Passkeys (contract §15.3): registration, the caller's list, rename and
//! delete, and passwordless sign-in.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::{Auth, Client, FromRaw, Typed};
use super::forms::Form;
use super::reply::{created, ok};
use super::rules;
use super::schemas::{Empty, Envelope, ErrorEnvelope, LoginAnswer};
use crate::domain::passkey::StoredPasskey;
use crate::domain::rfc3339;
use crate::error::{Error, Result};
use crate::flows::passkeys;
use crate::state::AppState;

/// One passkey of the caller.
#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    #[schema(schema_with = rules::uuid)]
    id: String,
    #[schema(example = "MacBook Touch ID")]
    name: String,
    #[schema(schema_with = rules::date_time)]
    created_at: String,
    /// When it last signed in; null if never.
    #[schema(schema_with = rules::date_time_or_null, required = true)]
    last_used_at: Option<String>,
}

impl PasskeyView {
    pub fn of(p: &StoredPasskey) -> PasskeyView {
        PasskeyView {
            id: p.id.to_string(),
            name: p.name.clone(),
            created_at: rfc3339(&p.created_at),
            last_used_at: p.last_used_at.as_ref().map(rfc3339),
        }
    }
}

/// `data` with WebAuthn options for `navigator.credentials` (binary
/// fields base64url).
#[derive(Serialize, ToSchema)]
pub struct PublicKeyData {
    /// `PublicKeyCredentialCreationOptions` or `PublicKeyCredentialRequestOptions` as JSON.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: Value,
}

/// `data` of a passwordless sign-in's options.
#[derive(Serialize, ToSchema)]
pub struct LoginOptionsData {
    /// `PublicKeyCredentialRequestOptions` as JSON.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: Value,
    /// Send it back with the credential.
    ceremony: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyData {
    passkey: PasskeyView,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeysData {
    passkeys: Vec<PasskeyView>,
}

/// Options to create a passkey (a new request replaces a pending one).
#[utoipa::path(post, path = "/auth/passkeys/register/options/", operation_id = "passkey_register_options",
    security(("bearer" = [])), responses(
    (status = 200, description = "Creation options; the challenge works once, for 5 minutes.",
        body = Envelope<PublicKeyData>),
))]
pub async fn register_options(State(svc): State<AppState>, Auth(me): Auth) -> Result<Response> {
    let public_key = passkeys::registration_options(&svc, &me.user).await?;
    Ok(ok("Create the passkey with these options.", PublicKeyData { public_key }))
}

// A component name of its own: the document's components are keyed by
// name, and `RegisterBody` is the account registration's (auth.rs).
#[derive(Deserialize, ToSchema)]
#[schema(as = PasskeyRegisterBody)]
pub struct RegisterBody {
    /// The `RegistrationResponseJSON` of `navigator.credentials.create`.
    #[schema(required = true, nullable = false, value_type = Object)]
    credential: Option<Value>,
    #[schema(schema_with = rules::passkey_name, required = true)]
    name: Option<String>,
}

pub struct RegisterRequest {
    credential: Value,
    name: String,
}

impl FromRaw for RegisterRequest {
    type Raw = RegisterBody;
}

impl TryFrom<RegisterBody> for RegisterRequest {
    type Error = Error;

    fn try_from(body: RegisterBody) -> Result<Self> {
        let mut form = Form::default();
        let credential = credential(&mut form, body.credential);
        let name = form.name("name", body.name, true);
        let (Some(credential), Some(name)) = (credential, name) else { return Err(form.into_error()) };
        Ok(RegisterRequest { credential, name })
    }
}

/// A present JSON object.
fn credential(form: &mut Form, value: Option<Value>) -> Option<Value> {
    match value {
        Some(v) if v.is_object() => Some(v),
        Some(_) => {
            form.errors.add("credential", "Not a valid WebAuthn credential.");
            None
        }
        None => {
            form.errors.add("credential", "This field is required.");
            None
        }
    }
}

/// Register a passkey with the authenticator's answer.
#[utoipa::path(post, path = "/auth/passkeys/register/", operation_id = "passkey_register", request_body = RegisterBody,
    security(("bearer" = [])), responses(
    (status = 201, description = "The passkey is registered.", body = Envelope<PasskeyData>),
    (status = 400, description = "No pending registration (or it was used), another origin or RP ID, a \
        malformed credential, or a blank name.", body = ErrorEnvelope),
))]
pub async fn register(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    Typed(req): Typed<RegisterRequest>,
) -> Result<Response> {
    let passkey = passkeys::register(&svc, &me.user, &req.credential, &req.name, &client).await?;
    Ok(created("Passkey registered.", PasskeyData { passkey: PasskeyView::of(&passkey) }))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(get, path = "/auth/passkeys/", operation_id = "list_passkeys", security(("bearer" = [])), responses(
    (status = 200, description = "The caller's passkeys.", body = Envelope<PasskeysData>),
))]
pub async fn list(State(svc): State<AppState>, Auth(me): Auth) -> Result<Response> {
    let passkeys = passkeys::list(&svc, &me.user).await?.iter().map(PasskeyView::of).collect();
    Ok(ok("Passkeys.", PasskeysData { passkeys }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PasskeyRenameBody)]
pub struct RenameBody {
    #[schema(schema_with = rules::passkey_name, required = true)]
    name: Option<String>,
}

pub struct RenameRequest {
    name: String,
}

impl FromRaw for RenameRequest {
    type Raw = RenameBody;
}

impl TryFrom<RenameBody> for RenameRequest {
    type Error = Error;

    fn try_from(body: RenameBody) -> Result<Self> {
        let mut form = Form::default();
        let name = form.name("name", body.name, true);
        name.map(|name| RenameRequest { name }).ok_or_else(|| form.into_error())
    }
}

/// Rename one of the caller's passkeys.
#[utoipa::path(patch, path = "/auth/passkeys/{id}/", operation_id = "rename_passkey", request_body = RenameBody,
    params(("id" = String, Path, format = "uuid", description = "A passkey id from the list (a UUID).")),
    security(("bearer" = [])), responses(
    (status = 200, description = "The renamed passkey.", body = Envelope<PasskeyData>),
    (status = 400, description = "A blank or too long name.", body = ErrorEnvelope),
    (status = 404, description = "Not a passkey of the caller.", body = ErrorEnvelope),
))]
pub async fn rename(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Path(id): Path<String>,
    Typed(req): Typed<RenameRequest>,
) -> Result<Response> {
    let passkey = passkeys::rename(&svc, &me.user, &id, &req.name).await?;
    Ok(ok("Passkey renamed.", PasskeyData { passkey: PasskeyView::of(&passkey) }))
}

/// Delete one of the caller's passkeys.
#[utoipa::path(delete, path = "/auth/passkeys/{id}/", operation_id = "delete_passkey",
    params(("id" = String, Path, format = "uuid", description = "A passkey id from the list (a UUID).")),
    security(("bearer" = [])), responses(
    (status = 200, description = "The passkey is deleted.", body = Envelope<Empty>),
    (status = 404, description = "Not a passkey of the caller.", body = ErrorEnvelope),
))]
pub async fn delete(
    State(svc): State<AppState>,
    Auth(me): Auth,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response> {
    passkeys::delete(&svc, &me.user, &id, &client).await?;
    Ok(ok("Passkey deleted.", Empty {}))
}

/// Optional: with it, the options list that account's passkeys.
#[derive(Deserialize, ToSchema)]
#[schema(as = PasskeyLoginOptionsBody)]
pub struct LoginOptionsBody {
    #[schema(example = "ana@example.com")]
    email_or_phone: Option<String>,
}

pub struct LoginOptionsRequest {
    login: Option<String>,
}

impl FromRaw for LoginOptionsRequest {
    type Raw = LoginOptionsBody;
}

impl TryFrom<LoginOptionsBody> for LoginOptionsRequest {
    type Error = Error;

    fn try_from(body: LoginOptionsBody) -> Result<Self> {
        Ok(LoginOptionsRequest { login: body.email_or_phone.filter(|l| !l.trim().is_empty()) })
    }
}

/// Options for a passwordless sign-in.
///
/// An unknown email or phone gets the same shape as a known one.
#[utoipa::path(post, path = "/auth/passkeys/login/options/", operation_id = "passkey_login_options",
    request_body = LoginOptionsBody, responses(
    (status = 200, description = "Request options and the ceremony id; the challenge works once, for 5 minutes.",
        body = Envelope<LoginOptionsData>),
))]
pub async fn login_options(State(svc): State<AppState>, Typed(req): Typed<LoginOptionsRequest>) -> Result<Response> {
    let options = passkeys::login_options(&svc, req.login.as_deref()).await?;
    let data = LoginOptionsData { public_key: options.public_key, ceremony: options.ceremony };
    Ok(ok("Sign in with a passkey using these options.", data))
}

// Not `LoginBody`: that is the password sign-in's (auth.rs).
#[derive(Deserialize, ToSchema)]
#[schema(as = PasskeyLoginBody)]
pub struct LoginBody {
    /// The `ceremony` of the options.
    #[schema(required = true, nullable = false)]
    ceremony: Option<String>,
    /// The `AuthenticationResponseJSON` of `navigator.credentials.get`.
    #[schema(required = true, nullable = false, value_type = Object)]
    credential: Option<Value>,
}

pub struct LoginRequest {
    ceremony: String,
    credential: Value,
}

impl FromRaw for LoginRequest {
    type Raw = LoginBody;
}

impl TryFrom<LoginBody> for LoginRequest {
    type Error = Error;

    fn try_from(body: LoginBody) -> Result<Self> {
        let mut form = Form::default();
        let ceremony = form.required("ceremony", body.ceremony);
        let credential = credential(&mut form, body.credential);
        let (Some(ceremony), Some(credential)) = (ceremony, credential) else { return Err(form.into_error()) };
        Ok(LoginRequest { ceremony, credential })
    }
}

/// Sign in with a passkey.
#[utoipa::path(post, path = "/auth/passkeys/login/", operation_id = "passkey_login", request_body = LoginBody,
    responses(
    (status = 200, description = "Signed in: a new session and its tokens; or, for a passkey without user \
        verification on an account with another factor, `mfa_required`.", body = Envelope<LoginAnswer>),
    (status = 400, description = "An expired or used ceremony, another origin or RP ID, a signature counter \
        that went backwards, or a malformed credential.", body = ErrorEnvelope),
    (status = 401, description = "An unknown credential or a bad signature.", body = ErrorEnvelope),
    (status = 403, description = "The account is inactive.", body = ErrorEnvelope),
))]
pub async fn login(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<LoginRequest>,
) -> Result<Response> {
    Ok(super::auth::logged_in(passkeys::login(&svc, &req.ceremony, &req.credential, &client).await?))
}
