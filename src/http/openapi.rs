//! The OpenAPI 3.1 document (`GET /api/openapi.json`) and the Swagger UI
//! (`GET /api/docs/`, its assets inside the binary).
//!
//! Nothing here lists a route. The document is built from the route table
//! (`features()`): each feature's operations come from its handlers'
//! `#[utoipa::path]` annotations, written once with the path under `{v}`,
//! and are mounted here under every prefix the router mounts them on
//! (`VERSIONS`, then the legacy path). What every operation of a kind can
//! answer (a body that is not JSON, a missing token, the rate limit, a 500)
//! is added by rule from what the operation declares, so no annotation has
//! to repeat it.

use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem, Paths};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa_swagger_ui::SwaggerUi;

use super::schemas::{ErrorEnvelope, error_example};
use super::{VERSIONS, features, keys, ops};
use super::{links, rules};
use crate::domain::Outcome;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Where the document and the UI are served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
pub const UI_PATH: &str = "/api/docs";

const DESCRIPTION: &str = "\
Authentication service compatible with a Django REST framework + SimpleJWT back end.

**Mounts.** Every feature is served under `/api/v1` and `/api/v2` (identical behaviour) and, for \
the original routes, under a legacy `/auth/...` path. Operation ids and tags name the mount \
(`v1_login`, `legacy_login`).

**Trailing slashes.** Each path is documented in its canonical form: feature paths end with `/`, \
the operational `/healthz` and `/readyz` do not. Every path also answers, identically, in the other \
form (`/api/v1/auth/login` is `/api/v1/auth/login/`).

**Envelope.** Every answer is JSON, `{\"success\", \"message\", \"data\", \"errors\"}`: `errors` maps a \
field name to its messages, problems not tied to a field under `non_field_errors`. A 500 carries only \
`data.error_id`, which is also in the server log.

**Requests.** Bodies are JSON (`Content-Type: application/json`, else 415), at most 64 KiB (else \
413); JSON that does not parse, or that is not an object, is a 400. A field a body's schema does \
not name is ignored. An unknown path is a 404; a known path with a method it does not serve is a 405 \
with an `Allow` header.

**Rules.** Schemas state what the server checks: `format: email`; phones in E.164 with \
`format: phone` (valid per libphonenumber metadata); the password policy as configured \
(`NewPassword`); name lengths; role enums. A 400's `errors` names only the fields its schema lists. \
Links say which answer feeds which request (register, verify-otp, login, refresh, me, sessions, mfa, \
logout).

**Rate limits.** Every feature is throttled (burst or sustained scope); over the limit: 429 with \
`Retry-After` in seconds.";

#[derive(OpenApi)]
#[openapi(
    info(title = "authgate", description = DESCRIPTION),
    paths(ops::healthz, ops::readyz, keys::jwks),
    components(schemas(ErrorEnvelope, Outcome)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

/// The `bearer` security scheme that authenticated operations name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("An access token from login, refresh or password change."))
            .build();
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        let service = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("One of AUTHGATE_INTROSPECTION_TOKENS: a resource server's secret, not a user's token."))
            .build();
        components.add_security_scheme("introspection", SecurityScheme::Http(service));
    }
}

/// The whole document: the operational routes, then every feature under
/// every mount.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    for item in doc.paths.paths.values_mut() {
        complete(item, "ops", false);
    }
    let mut paths = Paths::new();
    let components = doc.components.get_or_insert_with(Default::default);
    for feature in features() {
        let (schemas, api, _) = (feature.api)();
        components.schemas.extend(schemas);
        for (_, mut item) in api.paths {
            let mounts = VERSIONS
                .iter()
                .map(|v| (v.trim_start_matches("/api/"), format!("{v}{}", feature.path)))
                .chain(feature.legacy.map(|l| ("legacy", l.to_string())));
            complete(&mut item, "", true);
            for (mount, path) in mounts {
                let mut item = item.clone();
                for op in operations(&mut item) {
                    op.operation_id = op.operation_id.take().map(|id| format!("{mount}_{id}"));
                    op.tags = Some(vec![mount.to_string()]);
                }
                merge(paths.paths.entry(path).or_default(), item);
            }
        }
    }
    doc.paths.paths.extend(paths.paths);
    doc
}

/// `GET /api/openapi.json` and the UI under `GET /api/docs/`.
pub fn routes() -> Router<AppState> {
    let ui: Router<AppState> = SwaggerUi::new(UI_PATH).config(utoipa_swagger_ui::Config::from(DOCUMENT_PATH)).into();
    ui.route(DOCUMENT_PATH, get(document_json))
}

/// The document as JSON, built on its first request and kept as bytes: the
/// structure it is built from takes megabytes, the JSON a small part of it,
/// and a server that nobody asks for it never builds it. Kept per password
/// policy, the one setting the document states.
async fn document_json(State(svc): State<AppState>) -> Result<Response> {
    static JSON: Mutex<Option<(usize, Bytes)>> = Mutex::new(None);
    let min_length = svc.config.password_min_length;
    let cached = JSON.lock().ok().and_then(|j| j.as_ref().filter(|(n, _)| *n == min_length).map(|(_, b)| b.clone()));
    let json = match cached {
        Some(json) => json,
        None => {
            let built = Bytes::from(serde_json::to_vec(&document_value(min_length)?).map_err(Error::internal)?);
            if let Ok(mut j) = JSON.lock() {
                *j = Some((min_length, built.clone()));
            }
            built
        }
    };
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response())
}

/// The document as served: `document()` and the rules it cannot carry as
/// types (`finish`).
pub fn document_value(password_min_length: usize) -> Result<Value> {
    let mut doc = serde_json::to_value(document()).map_err(Error::internal)?;
    finish(&mut doc, password_min_length);
    Ok(doc)
}

/// Adds the operations of `item` to `into` (two features may share a path
/// with different methods).
fn merge(into: &mut PathItem, item: PathItem) {
    let PathItem { get, put, post, delete, patch, parameters, .. } = item;
    for (slot, op) in [
        (&mut into.get, get),
        (&mut into.put, put),
        (&mut into.post, post),
        (&mut into.delete, delete),
        (&mut into.patch, patch),
    ] {
        if op.is_some() {
            *slot = op;
        }
    }
    if into.parameters.is_none() {
        into.parameters = parameters;
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}

/// Adds to each operation of `item` the answers every operation of its kind
/// can give, tags it `tag` if given, and gives each error answer the
/// envelope's schema and an example.
fn complete(item: &mut PathItem, tag: &str, throttled: bool) {
    for op in operations(item) {
        if !tag.is_empty() {
            op.tags = Some(vec![tag.to_string()]);
        }
        let params = op.parameters.iter().flatten().filter_map(|p| match p {
            RefOr::T(p) => Some(p.parameter_in.clone()),
            RefOr::Ref(_) => None,
        });
        let (mut in_path, mut in_query) = (false, false);
        for place in params {
            in_path |= matches!(place, ParameterIn::Path);
            in_query |= matches!(place, ParameterIn::Query);
        }
        let mut extra: Vec<(u16, &str)> = Vec::new();
        if op.request_body.is_some() {
            extra.extend([
                (400, "The body is not valid JSON, not an object, or a field is invalid."),
                (413, "The body is over 64 KiB."),
                (415, "The body is not sent as `application/json`."),
            ]);
        }
        if in_path {
            extra.extend([(400, "A path parameter is malformed."), (404, "Nothing matches the path.")]);
        }
        if in_query {
            extra.push((400, "A query parameter is invalid."));
        }
        if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
            extra.push((401, "No access token, or an invalid, expired or revoked one."));
        }
        if throttled {
            extra.push((429, "Over the rate limit; `Retry-After` says when to try again."));
        }
        extra.push((500, "An unexpected failure; `data.error_id` is also in the server log."));
        for (status, description) in extra {
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| ResponseBuilder::new().description(description).build().into());
        }
        for (status, response) in op.responses.responses.iter_mut() {
            let (Ok(code), RefOr::T(response)) = (status.parse::<u16>(), response) else { continue };
            if code < 400 {
                continue;
            }
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .example(Some(error_example(code)))
                .build();
            response.content.insert("application/json".to_string(), RefOr::T(content));
            if code == 429 {
                let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
                let header = HeaderBuilder::new()
                    .schema(Some(seconds))
                    .description(Some("Seconds until a request is allowed again."))
                    .example(Some(Value::from(42)))
                    .build();
                response.headers.insert("Retry-After".to_string(), RefOr::T(header));
            }
            if code == 401 {
                let header = HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some("`Bearer realm=\"api\"`"))
                    .build();
                response.headers.insert("WWW-Authenticate".to_string(), RefOr::T(header));
            }
        }
    }
}

/// Adds to the document what depends on the configuration or spans more
/// than a type: the password policy, rules over whole bodies, the field
/// names each error answer can carry, and the links between operations.
fn finish(doc: &mut Value, password_min_length: usize) {
    let schemas = &mut doc["components"]["schemas"];
    schemas[rules::NEW_PASSWORD] = rules::new_password_component(password_min_length);
    for (name, rule) in rules::body_rules() {
        if let (Some(schema), Some(rule)) = (schemas[name].as_object_mut(), rule.as_object()) {
            schema.extend(rule.clone());
        }
    }
    let bodies = doc["components"]["schemas"].clone();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in item.values_mut() {
                error_fields(op, &bodies);
            }
        }
    }
    links::add(doc);
}

/// Narrows each error answer of `op` to the names its `errors` can carry:
/// a 400 the body's fields and the parameters, a 409 `email` and `phone`,
/// every error `non_field_errors`.
fn error_fields(op: &mut Value, schemas: &Value) {
    let body_ref = op.pointer("/requestBody/content/application~1json/schema/$ref").and_then(Value::as_str);
    let body = body_ref.and_then(|r| r.strip_prefix("#/components/schemas/")).map(|name| &schemas[name]);
    let mut fields: Vec<String> =
        body.and_then(|b| b["properties"].as_object()).map(|p| p.keys().cloned().collect()).unwrap_or_default();
    let params = op["parameters"].as_array().into_iter().flatten();
    fields.extend(params.filter_map(|p| p["name"].as_str()).map(str::to_string));
    let Some(responses) = op["responses"].as_object_mut() else { return };
    for (status, response) in responses {
        if status.parse::<u16>().is_ok_and(|code| code < 400) {
            continue;
        }
        let Some(content) = response.pointer_mut("/content/application~1json") else { continue };
        let mut names: Vec<String> = match status.as_str() {
            "400" => fields.clone(),
            "409" => vec!["email".into(), "phone".into()],
            _ => Vec::new(),
        };
        names.push("non_field_errors".into());
        if status == "400" {
            content["example"]["errors"] = json!({names[0].clone(): ["This field is required."]});
        }
        content["schema"] = json!({"allOf": [
            {"$ref": "#/components/schemas/ErrorEnvelope"},
            {"properties": {"errors": {"propertyNames": {"enum": names}}}},
        ]});
    }
}
