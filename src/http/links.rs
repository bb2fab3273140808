//! OpenAPI links (`responses.<status>.links`): how the answer of one
//! operation feeds the next, so a client generator or a stateful fuzzer can
//! walk the real flows: register, then verify the code or sign in; sign in,
//! then refresh, read `me`, list the sessions, sign out.

use serde_json::{Value, json};

/// A link from `from` (an operation id without its mount) answering
/// `status` to `to`, with the target's parameters and body.
struct Link {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: Value,
    body: Value,
}

/// The signed-in caller of the next operation: the access token of the
/// answer that links to it.
const BEARER: &str = "Bearer {$response.body#/data/access}";

fn table() -> Vec<Link> {
    let link =
        |from, status, name, to, parameters: Value, body: Value| Link { from, status, name, to, parameters, body };
    let none = Value::Null;
    vec![
        link(
            "register",
            "201",
            "VerifyOtp",
            "verify_otp",
            none.clone(),
            // `data.otp` is only sent with AUTHGATE_EXPOSE_OTP=true.
            json!({"email_or_phone": "$request.body#/email", "otp": "$response.body#/data/otp"}),
        ),
        link(
            "register",
            "201",
            "Login",
            "login",
            none.clone(),
            json!({"email_or_phone": "$request.body#/email", "password": "$request.body#/password"}),
        ),
        link("login", "200", "Refresh", "refresh", none.clone(), json!({"refresh": "$response.body#/data/refresh"})),
        link("login", "200", "Me", "me", json!({"header.Authorization": BEARER}), none.clone()),
        link("login", "200", "Sessions", "list_sessions", json!({"header.Authorization": BEARER}), none.clone()),
        link("login", "200", "MfaStatus", "mfa_status", json!({"header.Authorization": BEARER}), none.clone()),
        link(
            "login",
            "200",
            "Logout",
            "logout",
            json!({"header.Authorization": BEARER}),
            json!({"refresh": "$response.body#/data/refresh"}),
        ),
    ]
}

/// The mount an operation id names (`v1_login` → `v1`).
fn mount_of(id: &str) -> Option<(&str, &str)> {
    id.split_once('_')
}

/// Adds every link of `table()` to each mount's source operation, pointing
/// at the target in the same mount, or in `v1` when the target has no such
/// mount (the legacy paths lack some operations).
pub fn add(doc: &mut Value) {
    let mut ids = Vec::new();
    let ops = doc["paths"].as_object().into_iter().flat_map(|p| p.values()).filter_map(Value::as_object);
    for op in ops.flat_map(|item| item.values()) {
        if let Some(id) = op["operationId"].as_str() {
            ids.push(id.to_string());
        }
    }
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let Some((mount, base)) =
            op["operationId"].as_str().and_then(mount_of).map(|(m, b)| (m.to_string(), b.to_string()))
        else {
            continue;
        };
        for link in table().into_iter().filter(|l| l.from == base) {
            let same = format!("{mount}_{}", link.to);
            let target = if ids.contains(&same) { same } else { format!("v1_{}", link.to) };
            let mut value = json!({"operationId": target});
            if !link.parameters.is_null() {
                value["parameters"] = link.parameters;
            }
            if !link.body.is_null() {
                value["requestBody"] = link.body;
            }
            if let Some(response) = op["responses"][link.status].as_object_mut() {
                let links = response.entry("links").or_insert_with(|| json!({}));
                links[link.name] = value;
            }
        }
    }
}
