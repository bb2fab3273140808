//! Social sign-in (contract §16): the browser flow's redirects and the
//! cookie that binds its `state` to the browser, the exchange of its
//! one-time code, the native flow, and link and unlink.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Client, Enrolled, FromRaw, Typed};
use super::forms::Form;
use super::reply::ok;
use super::schemas::{Empty, Envelope, ErrorEnvelope, LoginAnswer, UserData};
use crate::error::{Error, Result};
use crate::flows::social::{self, Callback};
use crate::social::Proof;
use crate::state::AppState;

/// The cookie that binds a browser sign-in's `state` to the browser.
const BINDING_COOKIE: &str = "authgate_social";

/// The value of the binding cookie the request carries, if well formed.
fn binding(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == BINDING_COOKIE && social::well_formed_binding(value))
        .map(|(_, value)| value.to_owned())
}

/// The query's parameters (the last of a repeated name wins).
fn query_param(query: &Option<String>, name: &str) -> Option<String> {
    let query = query.as_deref()?;
    url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k == name).map(|(_, v)| v.into_owned()).last()
}

/// A 302 to `location`, without a body.
fn found(location: &str) -> Result<Response> {
    let location = HeaderValue::from_str(location).map_err(Error::internal)?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

/// Start a sign-in in the browser.
///
/// Redirects to the provider with `state`, `nonce` and a PKCE (S256)
/// challenge; sets the `authgate_social` cookie (`HttpOnly`,
/// `SameSite=Lax`, `Path=/api/`) that binds the state to this browser.
#[utoipa::path(get, path = "/auth/social/{provider}/start/", operation_id = "social_start",
    params(
        ("provider" = String, Path, description = "A configured provider name (`AUTHGATE_OIDC_PROVIDERS`)."),
        ("next" = String, Query, description = "Where the browser goes at the end: one of \
            `AUTHGATE_SOCIAL_REDIRECT_URLS`, byte for byte."),
    ),
    responses(
        (status = 302, description = "To the provider's sign-in page.",
            headers(("Location" = String, description = "The provider's authorization URL."),
                ("Set-Cookie" = String, description = "The binding cookie."))),
        (status = 400, description = "`next` is missing or not allowed.", body = ErrorEnvelope),
        (status = 404, description = "No provider of that name.", body = ErrorEnvelope),
        (status = 503, description = "The provider could not be reached.", body = ErrorEnvelope),
    ))]
pub async fn start(
    State(svc): State<AppState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let browser = binding(&headers).unwrap_or_else(social::random_token);
    let next = query_param(&query, "next");
    let url = social::start(&svc, &provider, next.as_deref(), &browser).await?;
    let secure = svc.config.social.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
    let cookie = format!(
        "{BINDING_COOKIE}={browser}; Path=/api/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        crate::domain::social::STATE_SECS,
        if secure { "; Secure" } else { "" }
    );
    let mut res = found(&url)?;
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(Error::internal)?);
    Ok(res)
}

/// Where the provider sends the browser back.
///
/// Redeems the code, checks the ID token, applies the account rules, then
/// redirects to `next` with `code` (a one-time code for `exchange`, valid
/// 60 s) or, if the provider refused, `error`. Never tokens in a URL.
#[utoipa::path(get, path = "/auth/social/{provider}/callback/", operation_id = "social_callback",
    params(
        ("provider" = String, Path, description = "A configured provider name."),
        ("state" = Option<String>, Query, description = "The state of the start."),
        ("code" = Option<String>, Query, description = "The provider's authorization code."),
        ("error" = Option<String>, Query, description = "The provider's error, instead of a code."),
    ),
    responses(
        (status = 302, description = "To `next` with `code` or `error` added to its query.",
            headers(("Location" = String, description = "`next?code=…` or `next?error=…`."))),
        (status = 400, description = "A missing or wrong `state` (unknown, expired, used, or started in \
            another browser), a code the provider refused, or no email from the provider.", body = ErrorEnvelope),
        (status = 401, description = "The ID token failed verification.", body = ErrorEnvelope),
        (status = 404, description = "No provider of that name.", body = ErrorEnvelope),
        (status = 409, description = "An account with this email exists and may not be linked.",
            body = ErrorEnvelope),
        (status = 503, description = "The provider could not be reached.", body = ErrorEnvelope),
    ))]
pub async fn callback(
    State(svc): State<AppState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    Client(client): Client,
    headers: HeaderMap,
) -> Result<Response> {
    let (state, code, error) =
        (query_param(&query, "state"), query_param(&query, "code"), query_param(&query, "error"));
    let back = Callback { state: state.as_deref(), code: code.as_deref(), error: error.as_deref() };
    let browser = binding(&headers);
    found(&social::callback(&svc, &provider, &back, browser.as_deref(), &client).await?)
}

#[derive(Deserialize, ToSchema)]
#[schema(as = SocialExchangeBody)]
pub struct ExchangeBody {
    /// The one-time `code` the callback added to `next`.
    #[schema(required = true, nullable = false, min_length = 1)]
    code: Option<String>,
}

pub struct ExchangeRequest {
    code: String,
}

impl FromRaw for ExchangeRequest {
    type Raw = ExchangeBody;
}

impl TryFrom<ExchangeBody> for ExchangeRequest {
    type Error = Error;

    fn try_from(body: ExchangeBody) -> Result<Self> {
        let mut form = Form::default();
        let code = form.required("code", body.code);
        code.map(|code| ExchangeRequest { code }).ok_or_else(|| form.into_error())
    }
}

/// Exchange the one-time code of a browser sign-in for the token pair.
#[utoipa::path(post, path = "/auth/social/exchange/", operation_id = "social_exchange", request_body = ExchangeBody,
    responses(
        (status = 200, description = "Signed in, as a login answers: the pair and `user`, or `mfa_required` \
            for an account with a second factor.", body = Envelope<LoginAnswer>),
        (status = 400, description = "An unknown, used or expired code.", body = ErrorEnvelope),
        (status = 403, description = "The account is inactive.", body = ErrorEnvelope),
    ))]
pub async fn exchange(
    State(svc): State<AppState>,
    Client(client): Client,
    Typed(req): Typed<ExchangeRequest>,
) -> Result<Response> {
    Ok(super::auth::logged_in(social::exchange(&svc, &req.code, &client).await?))
}

/// An ID token (with an optional `nonce`), or an authorization code with
/// its PKCE `code_verifier` and the `redirect_uri` it was issued for.
#[derive(Deserialize, ToSchema)]
#[schema(as = SocialSignInBody)]
pub struct ProofBody {
    /// The provider's ID token (OpenID Connect providers).
    #[schema(nullable = false, min_length = 1)]
    id_token: Option<String>,
    /// The nonce the client sent the provider; the ID token's must match.
    #[schema(nullable = false, min_length = 1)]
    nonce: Option<String>,
    /// An authorization code the client obtained.
    #[schema(nullable = false, min_length = 1)]
    code: Option<String>,
    /// The PKCE verifier of the code's request.
    #[schema(nullable = false, min_length = 1)]
    code_verifier: Option<String>,
    /// The redirect URI the code was issued for.
    #[schema(nullable = false, min_length = 1)]
    redirect_uri: Option<String>,
}

pub enum ProofRequest {
    IdToken { id_token: String, nonce: Option<String> },
    Code { code: String, code_verifier: String, redirect_uri: String, nonce: Option<String> },
}

impl ProofRequest {
    fn proof(&self) -> Proof<'_> {
        match self {
            ProofRequest::IdToken { id_token, nonce } => Proof::IdToken { id_token, nonce: nonce.as_deref() },
            ProofRequest::Code { code, code_verifier, redirect_uri, nonce } => {
                Proof::Code { code, code_verifier: Some(code_verifier), redirect_uri, nonce: nonce.as_deref() }
            }
        }
    }
}

impl FromRaw for ProofRequest {
    type Raw = ProofBody;
}

impl TryFrom<ProofBody> for ProofRequest {
    type Error = Error;

    fn try_from(body: ProofBody) -> Result<Self> {
        let present = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let nonce = present(body.nonce);
        if let Some(id_token) = present(body.id_token) {
            return Ok(ProofRequest::IdToken { id_token, nonce });
        }
        let mut form = Form::default();
        if body.code.is_none() {
            form.errors.add("id_token", "Send an id_token, or a code with its code_verifier and redirect_uri.");
            return Err(form.into_error());
        }
        let code = form.required("code", body.code);
        let code_verifier = form.required("code_verifier", body.code_verifier);
        let redirect_uri = form.required("redirect_uri", body.redirect_uri);
        let (Some(code), Some(code_verifier), Some(redirect_uri)) = (code, code_verifier, redirect_uri) else {
            return Err(form.into_error());
        };
        Ok(ProofRequest::Code { code, code_verifier, redirect_uri, nonce })
    }
}

/// Sign in with a provider's ID token or code (native apps, single-page
/// apps).
#[utoipa::path(post, path = "/auth/social/{provider}/", operation_id = "social_sign_in", request_body = ProofBody,
    params(("provider" = String, Path, description = "A configured provider name.")),
    responses(
        (status = 200, description = "Signed in, as a login answers: the pair and `user`, or `mfa_required` \
            for an account with a second factor.", body = Envelope<LoginAnswer>),
        (status = 400, description = "No proof, a code the provider refused, or no email from the provider.",
            body = ErrorEnvelope),
        (status = 401, description = "The ID token failed verification: \"Invalid ID token.\"", body = ErrorEnvelope),
        (status = 403, description = "The account is inactive.", body = ErrorEnvelope),
        (status = 404, description = "No provider of that name.", body = ErrorEnvelope),
        (status = 409, description = "An account with this email exists and may not be linked.",
            body = ErrorEnvelope),
        (status = 503, description = "The provider could not be reached.", body = ErrorEnvelope),
    ))]
pub async fn native(
    State(svc): State<AppState>,
    Path(provider): Path<String>,
    Client(client): Client,
    Typed(req): Typed<ProofRequest>,
) -> Result<Response> {
    Ok(super::auth::logged_in(social::native(&svc, &provider, &req.proof(), &client).await?))
}

/// Link a provider identity to the caller's account.
#[utoipa::path(post, path = "/auth/social/{provider}/link/", operation_id = "social_link", request_body = ProofBody,
    params(("provider" = String, Path, description = "A configured provider name.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The identity is linked (or was already).", body = Envelope<UserData>),
        (status = 400, description = "No proof, or a code the provider refused.", body = ErrorEnvelope),
        (status = 401, description = "The ID token failed verification.", body = ErrorEnvelope),
        (status = 404, description = "No provider of that name.", body = ErrorEnvelope),
        (status = 409, description = "The identity is linked to another account, or the account to another \
            identity of this provider.", body = ErrorEnvelope),
        (status = 503, description = "The provider could not be reached.", body = ErrorEnvelope),
    ))]
pub async fn link(
    State(svc): State<AppState>,
    Path(provider): Path<String>,
    Enrolled(me): Enrolled,
    Client(client): Client,
    Typed(req): Typed<ProofRequest>,
) -> Result<Response> {
    let user = social::link(&svc, &me.user, &provider, &req.proof(), &client).await?;
    Ok(ok("Identity linked.", UserData { user: user.view() }))
}

/// Unlink the caller's identity of a provider.
#[utoipa::path(delete, path = "/auth/social/{provider}/", operation_id = "social_unlink",
    params(("provider" = String, Path, description = "A configured provider name.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The identity is unlinked.", body = Envelope<Empty>),
        (status = 400, description = "It is the account's only way to sign in (no usable password, no other \
            identity).", body = ErrorEnvelope),
        (status = 404, description = "No provider of that name, or none of its identities is linked.",
            body = ErrorEnvelope),
    ))]
pub async fn unlink(
    State(svc): State<AppState>,
    Path(provider): Path<String>,
    Enrolled(me): Enrolled,
    Client(client): Client,
) -> Result<Response> {
    social::unlink(&svc, &me.user, &provider, &client).await?;
    Ok(ok("Identity unlinked.", Empty {}))
}
