//! Contract §13: the admin API (users, soft delete, restore, audit), and
//! who may call it. One file per part of the API; the helpers here.

mod audit;
mod detail;
mod listing;
mod patch;
mod removal;
mod roles;
mod sessions;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

/// A signed-in account of some role.
struct Member {
    id: String,
    email: String,
    access: String,
    refresh: String,
}

/// Registers an account, gives it `role`, and signs it in.
async fn member(app: &TestApp, role: &str) -> Member {
    let email = unique_email();
    let data = app.register(Some(&email), None, PASSWORD).await;
    let id = text(&data["user"]["id"]);
    if role != "client" {
        app.make_role(&id, role).await;
    }
    let (access, refresh) = app.login(&email, PASSWORD).await;
    Member { id, email, access, refresh }
}

/// Registers with the given body (password added) and returns `data`.
async fn register_with(app: &TestApp, mut body: Value) -> Value {
    body["password"] = json!(PASSWORD);
    let r = app.post(REGISTER, &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "registration failed: {}", r.body);
    assert_envelope(&r.body, true);
    r.body["data"].clone()
}

/// Registers a plain client and returns its id.
async fn plain_user(app: &TestApp) -> String {
    text(&app.register(Some(&unique_email()), None, PASSWORD).await["user"]["id"])
}

fn user_path(id: &str) -> String {
    format!("{ADMIN_USERS}{id}/")
}

fn restore_path(id: &str) -> String {
    format!("{ADMIN_USERS}{id}/restore/")
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn time(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&text(v)).unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A 200 envelope's `data`.
fn ok_data(r: &Reply, what: &str) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
    assert_envelope(&r.body, true);
    r.body["data"].clone()
}

/// `GET users/?{query}` as `access`: `data`.
async fn list(app: &TestApp, access: &str, query: &str) -> Value {
    let r = app.get(&format!("{ADMIN_USERS}?{query}"), Some(access)).await;
    let data = ok_data(&r, query);
    assert!(data["users"].is_array(), "users is a list: {data}");
    assert!(data["next_cursor"].is_null() || data["next_cursor"].is_string(), "next_cursor: {data}");
    data
}

/// The ids of a listing, in order.
fn user_ids(data: &Value) -> Vec<String> {
    data["users"].as_array().expect("a list of users").iter().map(|u| text(&u["id"])).collect()
}

/// The ids matching `query`, sorted.
async fn matching(app: &TestApp, access: &str, query: &str) -> Vec<String> {
    let mut ids = user_ids(&list(app, access, &format!("{query}&limit=100")).await);
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

/// Follows `next_cursor` from the first page to the last: every item's id
/// and each page's size.
async fn walk(app: &TestApp, access: &str, base: &str, key: &str, limit: u32) -> (Vec<String>, Vec<usize>) {
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    loop {
        let sep = if base.contains('?') { '&' } else { '?' };
        let mut path = format!("{base}{sep}limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", enc(c)));
        }
        let data = ok_data(&app.get(&path, Some(access)).await, &path);
        let items = data[key].as_array().unwrap_or_else(|| panic!("no {key} list: {data}"));
        assert!(items.len() <= limit as usize, "a page holds at most {limit}: {data}");
        sizes.push(items.len());
        ids.extend(items.iter().map(|i| text(&i["id"])));
        match &data["next_cursor"] {
            Value::Null => return (ids, sizes),
            next => cursor = Some(text(next)),
        }
        assert!(sizes.len() < 100, "the pages never end");
    }
}

/// `GET users/{id}/` as `access`: the user.
async fn detail(app: &TestApp, access: &str, id: &str) -> Value {
    ok_data(&app.get(&user_path(id), Some(access)).await, "user detail")["user"].clone()
}

/// `GET audit/?{query}` as `access`: the events.
async fn audit(app: &TestApp, access: &str, query: &str) -> Vec<Value> {
    let path = format!("{ADMIN_AUDIT}?{query}");
    let data = ok_data(&app.get(&path, Some(access)).await, &path);
    assert!(data["next_cursor"].is_null() || data["next_cursor"].is_string(), "next_cursor: {data}");
    data["events"].as_array().unwrap_or_else(|| panic!("no events list: {data}")).clone()
}

fn actions(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| text(&e["action"])).collect()
}

fn assert_status(r: &Reply, status: StatusCode, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_envelope(&r.body, status.is_success());
}

async fn login_reply(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(LOGIN, &json!({"email_or_phone": email, "password": password})).await
}
