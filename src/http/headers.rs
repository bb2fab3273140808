//! Headers every answer gets (contract §14.2): `nosniff` always,
//! `no-store` on the API's answers (they carry tokens, codes and user
//! data), and CORS for the browser origins `AUTHGATE_CORS_ORIGINS` lists.

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, CACHE_CONTROL, ORIGIN, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-Request-Id";
const EXPOSED_HEADERS: &str = "Retry-After, X-Request-Id";

pub async fn headers(State(svc): State<AppState>, req: Request, next: Next) -> Response {
    let origin = allowed_origin(&svc.config.cors_origins, req.headers());
    let preflight = req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let cacheable = is_document(req.uri().path());
    let mut res = match (&origin, preflight) {
        (Some(_), true) => preflight_answer(),
        _ => next.run(req).await,
    };
    let h = res.headers_mut();
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !cacheable {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if !svc.config.cors_origins.is_empty() {
        h.append(VARY, HeaderValue::from_static("Origin"));
    }
    if let Some(origin) = origin {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
    }
    res
}

/// The request's `Origin` if it is one of `allowed` (compared without
/// case, as origins are).
fn allowed_origin(allowed: &[String], headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(ORIGIN)?;
    let text = origin.to_str().ok()?;
    allowed.iter().any(|a| a.eq_ignore_ascii_case(text)).then(|| origin.clone())
}

fn preflight_answer() -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(METHODS));
    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    res
}

/// The OpenAPI document and its viewer hold no secrets and may be cached.
fn is_document(path: &str) -> bool {
    path.starts_with(super::openapi::UI_PATH) || path == super::openapi::DOCUMENT_PATH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_allowed_whatever_their_case() {
        let allowed = vec!["https://shop.example".to_string()];
        let mut h = HeaderMap::new();
        assert_eq!(allowed_origin(&allowed, &h), None);
        h.insert(ORIGIN, HeaderValue::from_static("https://Shop.example"));
        assert_eq!(allowed_origin(&allowed, &h).unwrap(), "https://Shop.example");
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert_eq!(allowed_origin(&allowed, &h), None);
        h.insert(ORIGIN, HeaderValue::from_static("https://shop.example.evil.example"));
        assert_eq!(allowed_origin(&allowed, &h), None);
    }
}
