//! Signing keys seen from outside (contract §17): the JWK Set, and token
//! introspection for resource servers.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{FromRaw, Typed, bearer_token};
use super::forms::Form;
use super::reply::ok;
use super::rules;
use super::schemas::{Envelope, ErrorEnvelope};
use crate::error::{Error, Result};
use crate::flows::introspect::{self, Introspection};
use crate::state::AppState;

/// A JWK Set (RFC 7517).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    "kid": "q4hW0pXkqvNq2p8yT0yH6A", "alg": "EdDSA", "use": "sig"}]}))]
pub struct JwkSet {
    /// Public keys (`kty`, `kid`, `alg`, `use`, and `crv`/`x`/`y` or
    /// `n`/`e`); empty with HS256.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// The public keys that may still verify a live token (RFC 7517), without
/// the envelope: `{"keys": []}` with HS256.
#[utoipa::path(get, path = "/.well-known/jwks.json", responses(
    (status = 200, description = "A JWK Set (RFC 7517), not in the envelope.", body = JwkSet),
))]
pub async fn jwks(State(svc): State<AppState>) -> Response {
    Json(JwkSet { keys: svc.keys.published(svc.clock.unix()) }).into_response()
}

/// A caller holding one of `AUTHGATE_INTROSPECTION_TOKENS`.
pub struct IntrospectionClient;

impl FromRequestParts<AppState> for IntrospectionClient {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer_token(&parts.headers).map_err(Error::Unauthorized)?;
        if !introspect::service_allowed(state, token) {
            return Err(Error::Unauthorized("Invalid introspection credentials."));
        }
        Ok(IntrospectionClient)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct IntrospectBody {
    /// An access or refresh token.
    #[schema(schema_with = rules::jwt, required = true)]
    token: Option<String>,
}

pub struct IntrospectRequest {
    token: String,
}

impl FromRaw for IntrospectRequest {
    type Raw = IntrospectBody;
}

impl TryFrom<IntrospectBody> for IntrospectRequest {
    type Error = Error;

    fn try_from(body: IntrospectBody) -> Result<Self> {
        let mut form = Form::default();
        let Some(token) = form.required("token", body.token) else { return Err(form.into_error()) };
        Ok(IntrospectRequest { token })
    }
}

/// RFC 7662's answer: `active`, and the rest only when it is true.
#[derive(Serialize, ToSchema)]
pub struct IntrospectionData {
    active: bool,
    /// `access` or `refresh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = rules::introspected_type)]
    token_type: Option<&'static str>,
    /// The user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = rules::uuid)]
    sub: Option<String>,
    /// The session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = rules::uuid)]
    sid: Option<String>,
    /// The user's role now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = rules::role)]
    role: Option<&'static str>,
    /// Expiry, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    exp: Option<i64>,
    /// Issued at, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iat: Option<i64>,
}

impl From<Option<Introspection>> for IntrospectionData {
    fn from(found: Option<Introspection>) -> Self {
        let Some(i) = found else {
            return IntrospectionData {
                active: false,
                token_type: None,
                sub: None,
                sid: None,
                role: None,
                exp: None,
                iat: None,
            };
        };
        let token_type = match i.token_type {
            crate::crypto::jwt::TokenType::Access => "access",
            crate::crypto::jwt::TokenType::Refresh => "refresh",
            // Introspection answers access and refresh tokens only (an
            // `mfa` token is inactive there), so this is never sent.
            crate::crypto::jwt::TokenType::Mfa => "mfa",
        };
        IntrospectionData {
            active: true,
            token_type: Some(token_type),
            sub: Some(i.sub),
            sid: Some(i.sid),
            role: Some(i.role),
            exp: Some(i.exp),
            iat: Some(i.iat),
        }
    }
}

/// Whether a token would be accepted now (RFC 7662), for resource servers
/// holding an introspection token (`Authorization: Bearer <one of
/// AUTHGATE_INTROSPECTION_TOKENS>`, not a user's token).
#[utoipa::path(post, path = "/auth/introspect/", request_body = IntrospectBody,
    security(("introspection" = [])), responses(
    (status = 200, description = "`active` true with the token's members, or `active` false and nothing else.",
        body = Envelope<IntrospectionData>),
    (status = 400, description = "`token` is missing.", body = ErrorEnvelope),
    (status = 401, description = "No introspection token, or not one of AUTHGATE_INTROSPECTION_TOKENS.",
        body = ErrorEnvelope),
))]
pub async fn introspect(
    State(svc): State<AppState>,
    _caller: IntrospectionClient,
    Typed(req): Typed<IntrospectRequest>,
) -> Result<Response> {
    let found = introspect::introspect(&svc, &req.token).await?;
    Ok(ok("Token introspected.", IntrospectionData::from(found)))
}
