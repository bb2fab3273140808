//! The OpenAPI document states the rules the server checks (formats,
//! patterns, lengths, enums, required fields, the error fields), and the
//! server holds to them: what the document calls invalid is refused, under
//! a field name the document lists.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

async fn document(app: &TestApp) -> Value {
    let r = app.get("/api/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no {name} component");
    s
}

/// The `$ref` of the JSON body `POST path` takes.
fn request_body<'a>(doc: &'a Value, path: &str) -> &'a Value {
    &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
}

/// The field names a 400 of `POST path` can carry, as documented.
fn error_fields(doc: &Value, path: &str, method: &str, status: &str) -> Vec<String> {
    let schema = &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert_eq!(schema["allOf"][0]["$ref"], json!("#/components/schemas/ErrorEnvelope"), "{path} {status}");
    let names = schema["allOf"][1]["properties"]["errors"]["propertyNames"]["enum"].as_array();
    names.expect("the error fields are listed").iter().map(|n| n.as_str().expect("a name").to_string()).collect()
}

#[tokio::test]
async fn the_password_policy_is_stated_as_configured_and_enforced_alike() {
    // Arrange
    let app = spawn_app_with(|c| c.password_min_length = 12).await;

    // Act
    let doc = document(&app).await;
    let short = app
        .post(
            "/api/v1/auth/register/",
            &json!({"email": "a@example.com", "password": "k3yb0ard-mo", "first_name": "Ana"}),
        )
        .await;
    let long = app
        .post(
            "/api/v1/auth/register/",
            &json!({"email": "b@example.com", "password": "k3yb0ard-mon", "first_name": "Bo"}),
        )
        .await;

    // Assert
    let policy = schema(&doc, "NewPassword");
    assert_eq!(policy["minLength"], json!(12), "{policy}");
    assert_eq!(policy["maxLength"], json!(4096), "{policy}");
    let register = schema(&doc, "RegisterBody");
    assert_eq!(register["properties"]["password"]["$ref"], json!("#/components/schemas/NewPassword"));
    assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.body);
    assert!(short.body["errors"]["password"].is_array(), "{}", short.body);
    assert_eq!(long.status, StatusCode::CREATED, "{}", long.body);
}

#[tokio::test]
async fn request_bodies_state_formats_patterns_lengths_enums_and_required_fields() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc = document(&app).await;

    // Assert
    let register = schema(&doc, "RegisterBody");
    let fields = &register["properties"];
    assert_eq!(fields["email"]["format"], json!("email"));
    assert_eq!(fields["phone"]["pattern"], json!(r"^\+[1-9][0-9]{6,14}$"));
    assert_eq!(fields["first_name"]["maxLength"], json!(150));
    assert_eq!(fields["first_name"]["minLength"], json!(1));
    assert_eq!(fields["role"]["enum"], json!(["client", "vendor"]));
    assert_eq!(register["required"], json!(["password", "first_name"]));
    assert_eq!(register["anyOf"], json!([{"required": ["email"]}, {"required": ["phone"]}]));
    let admin_patch = schema(&doc, "AdminUserPatchBody");
    assert_eq!(admin_patch["properties"]["role"]["enum"], json!(["client", "vendor", "staff", "admin"]));
    assert_eq!(schema(&doc, "LoginBody")["required"], json!(["email_or_phone", "password"]));
    let verify = &schema(&doc, "VerifyOtpBody")["properties"];
    assert_eq!(verify["otp"]["pattern"], json!("^[0-9]{6}$"));
    let either = verify["email_or_phone"]["anyOf"].as_array().expect("an email or a phone");
    assert_eq!(either.len(), 2);
    for path in ["/api/v1/auth/sessions/{id}/", "/api/v1/admin/users/{id}/"] {
        let item = doc["paths"][path].as_object().expect("a path item");
        for op in item.values() {
            assert_eq!(op["parameters"][0]["schema"]["format"], json!("uuid"), "{path}");
        }
    }
    let audit = doc["paths"]["/api/v1/admin/audit/"]["get"]["parameters"].as_array().expect("parameters");
    let limit = audit.iter().find(|p| p["name"] == "limit").expect("limit");
    assert_eq!((&limit["schema"]["minimum"], &limit["schema"]["maximum"]), (&json!(1), &json!(100)));
    let since = audit.iter().find(|p| p["name"] == "since").expect("since");
    assert_eq!(since["schema"]["format"], json!("date-time"));
}

#[tokio::test]
async fn answers_state_enums_formats_and_what_may_be_null() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc = document(&app).await;

    // Assert
    let user = &schema(&doc, "User")["properties"];
    assert_eq!(user["id"]["format"], json!("uuid"));
    assert_eq!(user["created_at"]["format"], json!("date-time"));
    assert_eq!(user["last_login"]["type"], json!(["string", "null"]));
    assert_eq!(user["last_login"]["format"], json!("date-time"));
    assert_eq!(schema(&doc, "Role")["enum"], json!(["client", "vendor", "staff", "admin"]));
    // `email`, `phone`, or the name of a configured social provider (§16).
    assert_eq!(schema(&doc, "User")["properties"]["auth_provider"]["type"], json!("string"));
    let event = &schema(&doc, "AuditEventView")["properties"];
    assert_eq!(event["outcome"]["enum"], json!(["success", "failure"]));
    let actions = event["action"]["enum"].as_array().expect("the actions");
    assert!(actions.contains(&json!("login")) && actions.contains(&json!("admin_user_restore")), "{actions:?}");
    assert_eq!(event["user_id"]["type"], json!(["string", "null"]));
}

#[tokio::test]
async fn a_refused_body_names_only_fields_its_error_answer_lists() {
    // Arrange
    let app = spawn_app().await;
    let doc = document(&app).await;
    let allowed = error_fields(&doc, "/api/v1/auth/register/", "post", "400");

    // Act
    let bad = json!({"email": "not an email", "phone": "12", "password": "1", "first_name": " ", "role": "admin"});
    let r = app.post("/api/v1/auth/register/", &bad).await;

    // Assert
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let sent: Vec<&String> = r.body["errors"].as_object().expect("errors").keys().collect();
    assert!(sent.len() >= 4, "{}", r.body);
    for field in sent {
        assert!(allowed.contains(field), "{field} is not among {allowed:?}");
    }
    assert!(allowed.contains(&"non_field_errors".to_string()));
    assert_eq!(error_fields(&doc, "/api/v1/auth/login/", "post", "401"), vec!["non_field_errors"]);
}

#[tokio::test]
async fn links_lead_from_registration_and_sign_in_to_the_next_steps() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc = document(&app).await;

    // Assert
    let register = &doc["paths"]["/api/v1/auth/register/"]["post"]["responses"]["201"]["links"];
    assert_eq!(register["VerifyOtp"]["operationId"], json!("v1_verify_otp"));
    assert_eq!(register["VerifyOtp"]["requestBody"]["otp"], json!("$response.body#/data/otp"));
    assert_eq!(register["Login"]["operationId"], json!("v1_login"));
    let legacy = &doc["paths"]["/auth/register/"]["post"]["responses"]["201"]["links"];
    assert_eq!(legacy["VerifyOtp"]["operationId"], json!("v1_verify_otp"), "the legacy mount has no verify-otp");
    let login = &doc["paths"]["/api/v2/auth/login/"]["post"]["responses"]["200"]["links"];
    for (name, target) in
        [("Refresh", "v2_refresh"), ("Me", "v2_me"), ("Sessions", "v2_list_sessions"), ("Logout", "v2_logout")]
    {
        assert_eq!(login[name]["operationId"], json!(target), "{name}");
    }
    assert_eq!(login["Me"]["parameters"]["header.Authorization"], json!("Bearer {$response.body#/data/access}"));
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("an item").values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    for links in
        doc["paths"].as_object().expect("paths").values().flat_map(|item| item.as_object().expect("an item").values())
    {
        for response in links["responses"].as_object().into_iter().flat_map(|r| r.values()) {
            for link in response["links"].as_object().into_iter().flat_map(|l| l.values()) {
                let target = link["operationId"].as_str().expect("an operation id");
                assert!(ids.contains(&target), "a link to {target}, which is not in the document");
            }
        }
    }
}

#[tokio::test]
async fn second_factors_introspection_and_admin_sessions_state_their_rules() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc = document(&app).await;

    // Assert: every path parameter of every operation is a UUID, but a
    // social provider's name (§16).
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == json!("path")) {
                if p["name"] == json!("provider") {
                    assert_eq!(p["schema"]["type"], json!("string"), "{method} {path}");
                    continue;
                }
                assert_eq!(p["schema"]["format"], json!("uuid"), "{method} {path}: {}", p["name"]);
            }
        }
    }
    assert_eq!(schema(&doc, "CodeBody")["properties"]["code"]["pattern"], json!("^[0-9]{6}$"));
    assert_eq!(schema(&doc, "CodeBody")["required"], json!(["code"]));
    let verify = schema(&doc, "VerifyBody");
    assert_eq!(verify["required"], json!(["mfa_token"]));
    let answers: Vec<&Value> = verify["anyOf"].as_array().expect("an answer").iter().map(|a| &a["required"]).collect();
    assert_eq!(answers, [&json!(["code"]), &json!(["recovery_code"]), &json!(["webauthn"])]);
    assert_eq!(verify["not"]["anyOf"].as_array().map(Vec::len), Some(3), "no two answers: {verify}");
    let mfa_required = &schema(&doc, "MfaRequiredData")["properties"];
    assert_eq!(mfa_required["methods"]["items"]["enum"], json!(["totp", "recovery_code", "webauthn"]));
    let introspect = &doc["paths"]["/api/v1/auth/introspect/"]["post"];
    assert_eq!(introspect["security"], json!([{"introspection": []}]));
    assert_eq!(doc["components"]["securitySchemes"]["introspection"]["scheme"], json!("bearer"));
    let answer = &schema(&doc, "IntrospectionData")["properties"];
    assert_eq!(answer["token_type"]["enum"], json!(["access", "refresh"]));
    assert_eq!(answer["sid"]["format"], json!("uuid"));
}

#[tokio::test]
async fn passkey_bodies_are_components_of_their_own() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let doc = document(&app).await;

    // Assert: components are keyed by name, so a passkey body named like
    // the registration's or the password sign-in's would document both
    // routes with one of them.
    let body = |path| request_body(&doc, path);
    assert_eq!(body("/api/v1/auth/register/"), &json!("#/components/schemas/RegisterBody"));
    assert_eq!(body("/api/v1/auth/login/"), &json!("#/components/schemas/LoginBody"));
    assert_eq!(body("/api/v1/auth/passkeys/register/"), &json!("#/components/schemas/PasskeyRegisterBody"));
    assert_eq!(body("/api/v1/auth/passkeys/login/"), &json!("#/components/schemas/PasskeyLoginBody"));
    assert!(schema(&doc, "LoginBody")["properties"]["password"].is_object(), "{}", schema(&doc, "LoginBody"));
    // A passkey's name: not blank, no control character (as the server checks).
    for component in ["PasskeyRegisterBody", "PasskeyRenameBody"] {
        let name = &schema(&doc, component)["properties"]["name"];
        assert_eq!(name["minLength"], json!(1), "{component}: {name}");
        assert!(name["pattern"].is_string(), "{component}: {name}");
    }
}
