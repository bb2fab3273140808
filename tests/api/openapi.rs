//! The OpenAPI document (`/api/openapi.json`) and the Swagger UI
//! (`/api/docs/`): the document names every route of every mount with its
//! methods, says which need a token, and the server agrees with it.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;
use super::keys::JWKS;

const DOCUMENT: &str = "/api/openapi.json";

/// Every route of contract §2 and §12–§20 as (path under `{v}`, legacy
/// path, methods, needs a token).
fn contract_routes() -> Vec<(&'static str, Option<&'static str>, &'static [&'static str], bool)> {
    vec![
        ("/auth/login/", Some("/auth/login/"), &["post"], false),
        ("/auth/register/", Some("/auth/register/"), &["post"], false),
        ("/auth/logout/", Some("/auth/logout/"), &["post"], true),
        ("/auth/token/refresh/", Some("/auth/token/refresh/"), &["post"], false),
        ("/password/reset-request/", Some("/auth/password-reset/"), &["post"], false),
        ("/password/reset-confirm/", Some("/auth/password-reset-confirm/"), &["post"], false),
        ("/password/change/", Some("/auth/password-change/"), &["post"], true),
        ("/auth/verify-otp/", None, &["post"], false),
        ("/auth/resend-otp/", None, &["post"], false),
        ("/auth/me/", None, &["get", "patch"], true),
        ("/auth/sessions/", None, &["get"], true),
        ("/auth/sessions/{id}/", None, &["delete"], true),
        ("/auth/logout-all/", None, &["post"], true),
        ("/admin/users/", None, &["get"], true),
        ("/admin/users/{id}/", None, &["get", "patch", "delete"], true),
        ("/admin/users/{id}/restore/", None, &["post"], true),
        ("/admin/audit/", None, &["get"], true),
        // A service's token, not a user's: not the `bearer` scheme (§17).
        ("/auth/introspect/", None, &["post"], false),
        ("/admin/users/{id}/sessions/", None, &["get"], true),
        ("/admin/users/{id}/sessions/{sid}/", None, &["delete"], true),
        ("/admin/users/{id}/logout-all/", None, &["post"], true),
        ("/auth/mfa/", None, &["get"], true),
        ("/auth/mfa/totp/setup/", None, &["post"], true),
        ("/auth/mfa/totp/confirm/", None, &["post"], true),
        ("/auth/mfa/totp/disable/", None, &["post"], true),
        ("/auth/mfa/recovery-codes/", None, &["post"], true),
        ("/auth/mfa/verify/", None, &["post"], false),
        ("/auth/mfa/webauthn/options/", None, &["post"], false),
        ("/auth/passkeys/", None, &["get"], true),
        ("/auth/passkeys/{id}/", None, &["patch", "delete"], true),
        ("/auth/passkeys/register/options/", None, &["post"], true),
        ("/auth/passkeys/register/", None, &["post"], true),
        ("/auth/passkeys/login/options/", None, &["post"], false),
        ("/auth/passkeys/login/", None, &["post"], false),
        ("/admin/users/{id}/mfa/reset/", None, &["post"], true),
        ("/auth/social/exchange/", None, &["post"], false),
        ("/auth/social/{provider}/start/", None, &["get"], false),
        ("/auth/social/{provider}/callback/", None, &["get"], false),
        ("/auth/social/{provider}/link/", None, &["post"], true),
        // The native sign-in needs no token; the unlink does.
        ("/auth/social/{provider}/", None, &["post"], false),
        ("/auth/social/{provider}/", None, &["delete"], true),
        ("/auth/challenge/", None, &["get"], false),
    ]
}

/// (path, method, needs a token) for every mount of every route, the
/// operational routes included.
fn every_operation() -> Vec<(String, &'static str, bool)> {
    let mut ops = vec![
        ("/healthz".to_string(), "get", false),
        ("/readyz".to_string(), "get", false),
        (JWKS.to_string(), "get", false),
    ];
    for (path, legacy, methods, auth) in contract_routes() {
        let mut mounts = vec![format!("/api/v1{path}"), format!("/api/v2{path}")];
        mounts.extend(legacy.map(str::to_string));
        for mount in mounts {
            ops.extend(methods.iter().map(|m| (mount.clone(), *m, auth)));
        }
    }
    ops
}

async fn document(app: &TestApp) -> Value {
    let r = app.get(DOCUMENT, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// Each (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.iter()
                .filter(|(m, _)| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
                .map(|(m, op)| (path.clone(), m.clone(), op.clone()))
        })
        .collect()
}

#[tokio::test]
async fn the_document_is_openapi_3_1_json() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc = document(&app).await;

    // Assert
    let version = doc["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3.1"), "openapi is {version}");
    assert_eq!(doc["info"]["title"], json!("authgate"));
    assert!(doc["info"]["description"].as_str().is_some_and(|d| d.contains("Trailing slashes")), "{}", doc["info"]);
    for schema in ["ErrorEnvelope", "User", "Role"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "no {schema} schema");
    }
}

#[tokio::test]
async fn every_route_of_every_mount_is_documented_with_exactly_its_methods() {
    // Arrange
    let app = spawn_app().await;
    let expected: BTreeSet<(String, String)> =
        every_operation().into_iter().map(|(p, m, _)| (p, m.to_string())).collect();

    // Act
    let doc = document(&app).await;

    // Assert
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(p, m, _)| (p, m)).collect();
    let missing: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(missing.is_empty(), "not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not in the contract: {extra:?}");
    let ops = operations(&doc);
    let ids: Vec<&str> = ops.iter().filter_map(|(_, _, op)| op["operationId"].as_str()).collect();
    assert_eq!(ids.len(), documented.len(), "every operation has an id");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "operation ids are unique: {ids:?}");
}

#[tokio::test]
async fn every_documented_operation_is_served_with_and_without_the_trailing_slash() {
    // Arrange
    let app = spawn_app().await;
    let doc = document(&app).await;
    let id = uuid::Uuid::new_v4().to_string();

    for (path, method, _) in operations(&doc) {
        let path = path.replace("{id}", &id);
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let other = match path.strip_suffix('/') {
            Some(bare) => bare.to_string(),
            None => format!("{path}/"),
        };

        // Act
        let canonical = app.send(method.clone(), &path, None, Some(&json!({}))).await;
        let alias = app.send(method.clone(), &other, None, Some(&json!({}))).await;

        // Assert: answered by the route's handler, not the fallback.
        assert_ne!(canonical.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {}", canonical.body);
        assert_ne!(canonical.message(), "Not found.", "{method} {path}: {}", canonical.body);
        assert_eq!(alias.status, canonical.status, "{method} {other}: {}", alias.body);
    }
}

#[tokio::test]
async fn authenticated_operations_carry_the_bearer_requirement_and_refuse_anonymous_callers() {
    // Arrange
    let app = spawn_app().await;
    let doc = document(&app).await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], json!("http"), "{scheme}");
    assert_eq!(scheme["scheme"], json!("bearer"), "{scheme}");
    let needs_token: BTreeSet<(String, String)> =
        every_operation().into_iter().filter(|(_, _, auth)| *auth).map(|(p, m, _)| (p, m.to_string())).collect();

    for (path, method, op) in operations(&doc) {
        let requires_bearer =
            op["security"].as_array().is_some_and(|s| s.iter().any(|req| req.get("bearer").is_some()));

        // Assert: the document says what the contract says.
        let expected = needs_token.contains(&(path.clone(), method.clone()));
        assert_eq!(requires_bearer, expected, "{method} {path}: security {}", op["security"]);
        if requires_bearer {
            assert!(op["responses"]["401"].is_object(), "{method} {path}: no 401 documented");
        }

        // Act: and so does the server.
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let r = app.send(m, &path.replace("{id}", "x"), None, Some(&json!({}))).await;
        // Introspection refuses callers without a service token (§17).
        let refused = expected || path.ends_with("/auth/introspect/");
        assert_eq!(r.status == StatusCode::UNAUTHORIZED, refused, "{method} {path} anonymously: {}", r.body);
    }
}

#[tokio::test]
async fn every_operation_documents_its_error_answers_in_the_envelope() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc = document(&app).await;

    // Assert
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        let mut expected = vec!["500"];
        if op.get("requestBody").is_some() {
            expected.extend(["400", "413", "415"]);
        }
        if path != "/healthz" && path != "/readyz" && path != JWKS {
            expected.push("429");
            let header = &responses["429"]["headers"]["Retry-After"];
            assert!(header.is_object(), "{method} {path}: 429 without Retry-After");
        }
        if path.contains("{id}") {
            expected.push("404");
        }
        for status in expected {
            assert!(responses.contains_key(status), "{method} {path}: no {status}");
        }
        for (status, response) in responses {
            let schema = &response["content"]["application/json"]["schema"]["allOf"][0]["$ref"];
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(schema, &json!("#/components/schemas/ErrorEnvelope"), "{method} {path} {status}");
            } else if status.starts_with('3') {
                // Redirects (the browser flow of §16) carry no body.
                assert!(response["headers"]["Location"].is_object(), "{method} {path} {status}: no Location");
            } else {
                assert!(response["content"]["application/json"]["schema"].is_object(), "{method} {path} {status}");
            }
        }
    }
    assert!(doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object(), "readyz documents its 503");
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    // Arrange
    let app = spawn_app().await;
    let no_redirects = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build();
    let no_redirects = no_redirects.expect("a client");

    // Act
    let redirect = no_redirects.get(app.url("/api/docs")).send().await.expect("answered");
    let page = app.request(Method::GET, "/api/docs/").send_raw().await.expect("answered");

    // Assert
    assert!(redirect.status().is_redirection(), "{}", redirect.status());
    assert_eq!(redirect.headers()["location"], "/api/docs/");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().unwrap_or("").starts_with("text/html"));
    let html = page.text().await.expect("a page");
    assert!(html.contains("swagger-ui"), "{html}");
    for (asset, content_type, needle) in [
        ("swagger-ui.css", "text/css", ".swagger-ui"),
        ("swagger-ui-bundle.js", "javascript", "SwaggerUIBundle"),
        ("swagger-initializer.js", "javascript", DOCUMENT),
    ] {
        let r = app.request(Method::GET, &format!("/api/docs/{asset}")).send_raw().await.expect("answered");
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        let ct = r.headers()["content-type"].to_str().unwrap_or("").to_string();
        assert!(ct.contains(content_type), "{asset}: {ct}");
        let body = r.text().await.expect("an asset");
        assert!(body.contains(needle), "{asset} does not mention {needle}");
    }
}
