//! Extractors: the JSON body, the caller's identity, the client's address.
//! Each rejects with the crate's `Error`, so every failure is an envelope.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::{ClientInfo, Role};
use crate::error::{Error, FieldErrors};
use crate::flows::auth::{Principal, authenticate};
use crate::state::AppState;

pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON object body deserialized into `T`. An empty body counts as `{}`,
/// so missing fields are reported per field.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Error> {
        let is_json =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT).await.map_err(|e| unreadable(&e))?;
        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else if is_json != Some(true) {
            return Err(Error::UnsupportedMediaType);
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::BadRequest(format!("JSON parse error: the body could not be parsed ({e}).")))?
        };
        if !value.is_object() {
            let kind = match value {
                Value::Array(_) => "list",
                Value::String(_) => "str",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            };
            return Err(Error::BadRequest(format!("Invalid data. Expected a dictionary, but got {kind}.")));
        }
        serde_path_to_error::deserialize(value).map(JsonBody).map_err(|e| {
            let field = e.path().to_string();
            let field = if field.is_empty() || field == "." { "non_field_errors".to_string() } else { field };
            Error::Validation(FieldErrors::single(&field, format!("Invalid value: {}.", e.inner())))
        })
    }
}

/// Why a body could not be read: too large (413), not in time (408: the
/// server's body deadline, or a timeout of an embedding application's),
/// or broken off (400).
fn unreadable(e: &axum::Error) -> Error {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return Error::PayloadTooLarge;
        }
        let timed_out = c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
        if c.is::<crate::server::BodyTimeout>() || c.is::<tokio::time::error::Elapsed>() || timed_out {
            return Error::RequestTimeout;
        }
        cause = c.source();
    }
    Error::BadRequest("The request body could not be read.".into())
}

/// A request body that checks itself: `Raw` is the JSON as sent (every
/// field optional, so each missing one is reported under its own name),
/// and `TryFrom<Raw>` the checks, which report every field's problems at
/// once (contract §1's 400).
pub trait FromRaw: TryFrom<Self::Raw, Error = Error> {
    type Raw: DeserializeOwned;
}

/// A handler's body, read as JSON (`JsonBody`) and checked (`FromRaw`).
pub struct Typed<T>(pub T);

impl<S: Send + Sync, T: FromRaw> FromRequest<S> for Typed<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let JsonBody(raw) = JsonBody::<T::Raw>::from_request(req, state).await?;
        T::try_from(raw).map(Typed)
    }
}

/// The token of `Authorization: Bearer <token>`, or why there is none (in
/// SimpleJWT's words).
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, &'static str> {
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut words = header.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => Ok(token),
        (Some(scheme), _, _) if scheme.eq_ignore_ascii_case("bearer") => {
            Err("Authorization header must contain two space-delimited values.")
        }
        _ => Err("Authentication credentials were not provided."),
    }
}

/// The signed-in caller, from `Authorization: Bearer <access token>`.
pub struct Auth(pub Principal);

/// The caller the throttle already authenticated (`http::throttle`), for
/// `Auth` to take instead of checking the token a second time.
#[derive(Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let me = match parts.extensions.remove::<Authenticated>() {
            Some(Authenticated(me)) => me, // checked by the throttle already
            None => authenticate(state, bearer_token(&parts.headers).map_err(Error::Unauthorized)?).await?,
        };
        super::observe::note_user(&parts.extensions, &me.user.id);
        Ok(Auth(me))
    }
}

/// A signed-in caller who has the second factor their role requires
/// (§15.2; 403 otherwise): every Bearer route but `me`, sign-out and the
/// enrolment routes takes this.
pub struct Enrolled(pub Principal);

impl FromRequestParts<AppState> for Enrolled {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Auth(me) = Auth::from_request_parts(parts, state).await?;
        crate::flows::mfa::require_enrolment(state, &me.user).await?;
        Ok(Enrolled(me))
    }
}

/// A signed-in staff member or admin (401 anonymous, 403 other roles).
pub struct Staff;

/// A signed-in admin (401 anonymous, 403 other roles).
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Staff {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Enrolled(me) = Enrolled::from_request_parts(parts, state).await?;
        match me.user.role {
            Role::Staff | Role::Admin => Ok(Staff),
            _ => Err(Error::Forbidden("You do not have permission to perform this action.")),
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Enrolled(me) = Enrolled::from_request_parts(parts, state).await?;
        match me.user.role {
            Role::Admin => Ok(Admin(me)),
            _ => Err(Error::Forbidden("You do not have permission to perform this action.")),
        }
    }
}

/// The client's IP address and user agent.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let ip = peer.map(|p| client_ip(p, &parts.headers, &state.config.trusted_proxies));
        let user_agent =
            parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(|ua| ua.chars().take(512).collect());
        Ok(Client(ClientInfo { ip, user_agent }))
    }
}

/// The socket peer, unless it is a trusted proxy: then the right-most
/// address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if !is_trusted(&peer) {
        return peer.to_canonical();
    }
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut client = peer.to_canonical();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip.to_canonical(),
            Ok(ip) => return ip.to_canonical(),
            // A garbled entry: stop at the last address we could trust.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<ipnet::IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let mut xff = HeaderMap::new();
        xff.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.0.0.2".parse().unwrap());
        assert_eq!(client_ip(peer, &xff, &[]), peer);
        let ip = client_ip(peer, &xff, &nets(&["10.0.0.0/8"]));
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &nets(&["10.0.0.0/8"])), peer);
    }
}
