//! Contract §13: the admin API (users, soft delete, restore, audit), and
//! who may call it.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
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

// ------------------------------------------------------------------ roles

#[tokio::test]
async fn every_admin_route_checks_the_callers_role() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let staff = member(&app, "staff").await;
    let vendor = member(&app, "vendor").await;
    let client = member(&app, "client").await;
    let target = member(&app, "client").await;
    // In this order the admin's own calls succeed: restore follows delete.
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{ADMIN_USERS}?limit=5"), None),
        (Method::GET, user_path(&target.id), None),
        (Method::PATCH, user_path(&target.id), Some(json!({"first_name": "Changed"}))),
        (Method::DELETE, user_path(&target.id), None),
        (Method::POST, restore_path(&target.id), Some(json!({}))),
        (Method::GET, ADMIN_AUDIT.to_string(), None),
    ];

    for (method, path, body) in routes {
        let what = format!("{method} {path}");
        let changes = method != Method::GET;
        let before = detail(&app, &admin.access, &target.id).await;

        // Act
        let anonymous = app.send(method.clone(), &path, None, body.as_ref()).await;
        let as_client = app.send(method.clone(), &path, Some(&client.access), body.as_ref()).await;
        let as_vendor = app.send(method.clone(), &path, Some(&vendor.access), body.as_ref()).await;
        let as_staff = app.send(method.clone(), &path, Some(&staff.access), body.as_ref()).await;
        let after_denied = detail(&app, &admin.access, &target.id).await;
        let as_admin = app.send(method.clone(), &path, Some(&admin.access), body.as_ref()).await;

        // Assert
        assert_status(&anonymous, StatusCode::UNAUTHORIZED, &format!("anonymous {what}"));
        assert_eq!(anonymous.message(), "Authentication credentials were not provided.", "{}", anonymous.body);
        assert_status(&as_client, StatusCode::FORBIDDEN, &format!("client {what}"));
        assert_status(&as_vendor, StatusCode::FORBIDDEN, &format!("vendor {what}"));
        let staff_status = if changes { StatusCode::FORBIDDEN } else { StatusCode::OK };
        assert_status(&as_staff, staff_status, &format!("staff {what}"));
        assert_eq!(after_denied, before, "denied calls change nothing: {what}");
        assert_status(&as_admin, StatusCode::OK, &format!("admin {what}"));
    }
    let user = detail(&app, &staff.access, &target.id).await;
    assert_eq!(user["first_name"], json!("Changed"), "the admin's change stuck: {user}");
    assert!(user.get("deleted_at").is_none(), "deleted then restored: {user}");
}

#[tokio::test]
async fn a_revoked_or_garbage_token_is_a_401_on_the_admin_api() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let (second, _) = app.login(&admin.email, PASSWORD).await;
    let r = app.post_as(&admin.access, LOGOUT, &json!({"refresh": admin.refresh})).await;
    assert_status(&r, StatusCode::OK, "logout");

    for token in [admin.access.as_str(), "garbage"] {
        // Act
        let r = app.get(ADMIN_USERS, Some(token)).await;

        // Assert
        assert_status(&r, StatusCode::UNAUTHORIZED, token);
    }
    ok_data(&app.get(ADMIN_USERS, Some(&second)).await, "the admin's other session");
}

#[tokio::test]
async fn the_v2_prefix_and_bare_paths_serve_the_admin_api() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;

    // Act
    let listed = app.get("/api/v2/admin/users", Some(&admin.access)).await;
    let shown = app.get(&format!("/api/v2/admin/users/{target}"), Some(&admin.access)).await;
    let patched =
        app.patch(&format!("/api/v2/admin/users/{target}"), Some(&admin.access), &json!({"last_name": "V2"})).await;
    let deleted = app.delete(&format!("/api/v2/admin/users/{target}/"), Some(&admin.access)).await;
    let restored = app.post_as(&admin.access, &format!("/api/v2/admin/users/{target}/restore"), &json!({})).await;
    let events = app.get("/api/v2/admin/audit", Some(&admin.access)).await;

    // Assert
    assert_eq!(user_ids(&ok_data(&listed, "v2 list")).len(), 2);
    assert_eq!(ok_data(&shown, "v2 detail")["user"]["id"], json!(target));
    assert_eq!(ok_data(&patched, "v2 patch")["user"]["last_name"], json!("V2"));
    assert!(ok_data(&deleted, "v2 delete")["user"]["deleted_at"].is_string());
    assert!(ok_data(&restored, "v2 restore")["user"].get("deleted_at").is_none());
    assert!(!ok_data(&events, "v2 audit")["events"].as_array().expect("events").is_empty());
}

// ---------------------------------------------------------------- listing

#[tokio::test]
async fn users_are_listed_newest_first_and_cursor_pages_walk_every_user_once() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let mut created = vec![admin.id.clone()];
    for _ in 0..7 {
        created.push(plain_user(&app).await);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    // Act
    let all = list(&app, &admin.access, "limit=100").await;
    let (walked, sizes) = walk(&app, &admin.access, ADMIN_USERS, "users", 3).await;
    let exact = list(&app, &admin.access, "limit=8").await;

    // Assert
    assert_eq!(user_ids(&all), newest_first, "newest first");
    assert!(all["next_cursor"].is_null(), "one page holds everyone: {all}");
    let times: Vec<_> = all["users"].as_array().expect("users").iter().map(|u| time(&u["created_at"])).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "created_at descends: {all}");
    assert_eq!(sizes, [3, 3, 2], "pages of 3");
    assert_eq!(walked, newest_first, "the pages hold every user once, in order");
    assert_eq!(user_ids(&exact), newest_first);
    assert!(exact["next_cursor"].is_null(), "no page follows a full last page: {exact}");
}

#[tokio::test]
async fn the_default_page_holds_twenty_users_and_limit_goes_from_1_to_100() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    for _ in 0..21 {
        plain_user(&app).await;
    }

    // Act
    let default = list(&app, &admin.access, "").await;
    let one = list(&app, &admin.access, "limit=1").await;
    let hundred = list(&app, &admin.access, "limit=100").await;

    // Assert
    assert_eq!(user_ids(&default).len(), 20, "default limit");
    assert!(default["next_cursor"].is_string(), "more follow: {default}");
    let rest = list(&app, &admin.access, &format!("cursor={}", enc(&text(&default["next_cursor"])))).await;
    assert_eq!(user_ids(&rest).len(), 2, "the second default page: {rest}");
    assert!(rest["next_cursor"].is_null(), "{rest}");
    assert_eq!(user_ids(&one).len(), 1);
    assert!(one["next_cursor"].is_string(), "{one}");
    assert_eq!(user_ids(&hundred).len(), 22);
    assert!(hundred["next_cursor"].is_null(), "{hundred}");
}

#[tokio::test]
async fn a_limit_outside_1_to_100_or_not_a_number_is_a_400_on_limit() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;

    for limit in ["0", "101", "abc", "-1", "1.5", "99999999999999999999", "1e2"] {
        // Act
        let users = app.get(&format!("{ADMIN_USERS}?limit={limit}"), Some(&admin.access)).await;
        let events = app.get(&format!("{ADMIN_AUDIT}?limit={limit}"), Some(&admin.access)).await;

        // Assert
        assert_field_error(&users, "limit");
        assert_field_error(&events, "limit");
    }
}

#[tokio::test]
async fn a_bad_cursor_is_a_400_on_cursor() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let cursors = [
        "junk!".to_string(),
        "%FF%FE".to_string(),
        b64("no colon here"),
        b64("123:not-a-uuid"),
        b64(&format!("soon:{}", uuid::Uuid::now_v7())),
        enc("===="),
    ];

    for cursor in cursors {
        // Act
        let users = app.get(&format!("{ADMIN_USERS}?cursor={cursor}"), Some(&admin.access)).await;
        let events = app.get(&format!("{ADMIN_AUDIT}?cursor={cursor}"), Some(&admin.access)).await;

        // Assert
        assert_field_error(&users, "cursor");
        assert_field_error(&events, "cursor");
    }
}

#[tokio::test]
async fn q_searches_email_phone_and_names_ignoring_case() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let zed =
        text(&register_with(&app, json!({"email": "Zed.Upper@Example.com", "first_name": "Ana"})).await["user"]["id"]);
    let phoned =
        text(&register_with(&app, json!({"phone": "+447911123456", "first_name": "Paula"})).await["user"]["id"]);
    let named = text(
        &register_with(&app, json!({"email": unique_email(), "first_name": "Bartholomew", "last_name": "Quixote"}))
            .await["user"]["id"],
    );
    let cases: [(&str, Vec<&String>); 11] = [
        ("zed.upper", vec![&zed]),
        ("ZED.UPPER@EXAMPLE.COM", vec![&zed]),
        ("  zed  ", vec![&zed]),
        ("7911123", vec![&phoned]),
        ("+447911", vec![&phoned]),
        ("paula", vec![&phoned]),
        ("BARTHOL", vec![&named]),
        ("xot", vec![&named]),
        ("nobody-is-called-this", vec![]),
        ("%", vec![]),
        ("_", vec![]),
    ];

    for (q, expected) in cases {
        // Act
        let found = matching(&app, &admin.access, &format!("q={}", enc(q))).await;

        // Assert
        assert_eq!(found, sorted(&expected), "q={q:?}");
    }
}

#[tokio::test]
async fn q_finds_names_with_non_ascii_capitals_as_typed_and_in_any_case() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let body = json!({"email": unique_email(), "first_name": "Łukasz", "last_name": "Émile-Øberg"});
    let named = text(&register_with(&app, body).await["user"]["id"]);

    let queries = ["Łukasz", "łukasz", "ŁUKASZ", "Émile", "émile", "øberg", "ØBERG", "ukasz"];

    // Act
    let mut missed = Vec::new();
    for q in queries {
        let found = matching(&app, &admin.access, &format!("q={}", enc(q))).await;
        if found != [named.clone()] {
            missed.push(q);
        }
    }

    // Assert
    assert!(missed.is_empty(), "q found no user named Łukasz Émile-Øberg for {missed:?}");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    // Arrange
    let app = spawn_app().await;
    let a = member(&app, "admin").await;
    let b = member(&app, "admin").await;
    let demote = json!({"role": "client"});
    let (path_a, path_b) = (user_path(&a.id), user_path(&b.id));

    // Act
    let (ra, rb) =
        tokio::join!(app.patch(&path_b, Some(&a.access), &demote), app.patch(&path_a, Some(&b.access), &demote));

    // Assert
    // The loser is refused either as no longer an admin (403) or by the
    // last-admin rule (400), depending on which check the race reaches.
    let winners = [&ra, &rb].iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(winners, 1, "exactly one demotion succeeds: {} / {}", ra.body, rb.body);
    for r in [&ra, &rb] {
        let refused = [StatusCode::OK, StatusCode::BAD_REQUEST, StatusCode::FORBIDDEN];
        assert!(refused.contains(&r.status), "{}", r.body);
    }
    for r in [&ra, &rb] {
        assert_envelope(&r.body, r.status.is_success());
    }
    let survivor = if ra.status == StatusCode::OK { &a } else { &b };
    let admins = list(&app, &survivor.access, "role=admin").await;
    assert_eq!(user_ids(&admins), std::slice::from_ref(&survivor.id), "exactly one admin is left");
}

#[tokio::test]
async fn users_filter_by_role_activity_and_verification() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let plain = plain_user(&app).await;
    let vendor = text(
        &register_with(&app, json!({"email": unique_email(), "first_name": "Vic", "role": "vendor"})).await["user"]["id"],
    );
    let inactive = plain_user(&app).await;
    app.deactivate(&inactive).await;
    let verified_email = unique_email();
    let data = app.register(Some(&verified_email), None, PASSWORD).await;
    let verified = text(&data["user"]["id"]);
    let r = app.post(VERIFY_OTP, &json!({"email_or_phone": verified_email, "otp": data["otp"]})).await;
    assert_status(&r, StatusCode::OK, "verify");
    let everyone = [&admin.id, &plain, &vendor, &inactive, &verified];
    let but = |skip: &[&String]| sorted(&everyone.iter().copied().filter(|id| !skip.contains(id)).collect::<Vec<_>>());
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("role=vendor", sorted(&[&vendor])),
        ("role=admin", sorted(&[&admin.id])),
        ("role=staff", vec![]),
        ("role=client", but(&[&vendor, &admin.id])),
        ("is_active=false", sorted(&[&inactive])),
        ("is_active=true", but(&[&inactive])),
        ("is_verified=true", sorted(&[&verified])),
        ("is_verified=false", but(&[&verified])),
        ("role=client&is_active=true&is_verified=false", sorted(&[&plain])),
    ];

    for (query, expected) in cases {
        // Act
        let found = matching(&app, &admin.access, query).await;

        // Assert
        assert_eq!(found, expected, "{query}");
    }
}

#[tokio::test]
async fn an_unknown_role_or_a_bad_boolean_is_a_400_on_that_filter() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let cases = [
        ("role=boss", "role"),
        ("role=%00", "role"),
        ("is_active=yes", "is_active"),
        ("is_active=2", "is_active"),
        ("is_verified=maybe", "is_verified"),
        ("deleted=perhaps", "deleted"),
    ];

    for (query, field) in cases {
        // Act
        let r = app.get(&format!("{ADMIN_USERS}?{query}"), Some(&admin.access)).await;

        // Assert
        assert_field_error(&r, field);
    }
}

#[tokio::test]
async fn deleted_true_lists_only_soft_deleted_users_with_deleted_at() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let kept = plain_user(&app).await;
    let gone = plain_user(&app).await;
    ok_data(&app.delete(&user_path(&gone), Some(&admin.access)).await, "delete");

    // Act
    let deleted = list(&app, &admin.access, "deleted=true").await;
    let live = list(&app, &admin.access, "").await;
    let not_deleted = list(&app, &admin.access, "deleted=false").await;

    // Assert
    assert_eq!(user_ids(&deleted), std::slice::from_ref(&gone));
    assert!(deleted["users"][0]["deleted_at"].is_string(), "{deleted}");
    time(&deleted["users"][0]["deleted_at"]);
    assert_eq!(user_ids(&live), [kept.clone(), admin.id.clone()], "deleted users are left out by default");
    assert_eq!(user_ids(&not_deleted), [kept, admin.id.clone()]);
    for u in live["users"].as_array().expect("users") {
        assert!(u.get("deleted_at").is_none(), "{u}");
    }
}

// ----------------------------------------------------------------- detail

#[tokio::test]
async fn user_detail_returns_the_user_without_the_password() {
    // Arrange
    let app = spawn_app().await;
    let staff = member(&app, "staff").await;
    let target =
        text(&register_with(&app, json!({"email": EMAIL, "phone": PHONE, "first_name": "Ana"})).await["user"]["id"]);

    // Act
    let user = detail(&app, &staff.access, &target).await;

    // Assert
    assert_eq!(user["id"], json!(target));
    assert_eq!(user["email"], json!(EMAIL));
    assert_eq!(user["phone"], json!(PHONE));
    assert_eq!(user["role"], json!("client"));
    for field in [
        "first_name",
        "last_name",
        "auth_provider",
        "is_active",
        "is_verified",
        "last_login",
        "created_at",
        "updated_at",
    ] {
        assert!(user.get(field).is_some(), "{field} missing: {user}");
    }
    assert!(user.get("password").is_none(), "the hash leaks: {user}");
    assert!(user.get("deleted_at").is_none(), "{user}");
}

#[tokio::test]
async fn an_unknown_or_malformed_user_id_is_a_404_on_every_user_route() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let ids = [
        uuid::Uuid::now_v7().to_string(),
        "not-a-uuid".to_string(),
        "123".to_string(),
        "00000000-0000-0000-0000-00000000000g".to_string(),
        "%27%20OR%20%271%27%3D%271".to_string(),
        "x".repeat(2000),
    ];

    for id in ids {
        // Act
        let shown = app.get(&user_path(&id), Some(&admin.access)).await;
        let patched = app.patch(&user_path(&id), Some(&admin.access), &json!({"first_name": "X"})).await;
        let deleted = app.delete(&user_path(&id), Some(&admin.access)).await;
        let restored = app.post_as(&admin.access, &restore_path(&id), &json!({})).await;

        // Assert
        for (what, r) in [("GET", &shown), ("PATCH", &patched), ("DELETE", &deleted), ("restore", &restored)] {
            assert_status(r, StatusCode::NOT_FOUND, &format!("{what} {id}"));
        }
    }
}

#[tokio::test]
async fn a_deleted_user_is_visible_and_restorable_but_cannot_be_patched_or_deleted() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;
    ok_data(&app.delete(&user_path(&target), Some(&admin.access)).await, "delete");

    // Act
    let shown = app.get(&user_path(&target), Some(&admin.access)).await;
    let patched = app.patch(&user_path(&target), Some(&admin.access), &json!({"first_name": "Ghost"})).await;
    let deleted = app.delete(&user_path(&target), Some(&admin.access)).await;
    let restored = app.post_as(&admin.access, &restore_path(&target), &json!({})).await;

    // Assert
    let user = ok_data(&shown, "detail of a deleted user")["user"].clone();
    assert_eq!(user["id"], json!(target));
    time(&user["deleted_at"]);
    assert_status(&patched, StatusCode::NOT_FOUND, "PATCH of a deleted user");
    assert_status(&deleted, StatusCode::NOT_FOUND, "DELETE of a deleted user");
    assert_eq!(ok_data(&restored, "restore")["user"]["first_name"], json!("Ana"), "the PATCH changed nothing");
}

// ------------------------------------------------------------------ PATCH

#[tokio::test]
async fn patch_changes_names_verification_role_and_activity() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = member(&app, "client").await;
    let before = detail(&app, &admin.access, &target.id).await;
    let body =
        json!({"first_name": " Bea ", "last_name": "Berg", "is_verified": true, "role": "vendor", "is_active": false});

    // Act
    let r = app.patch(&user_path(&target.id), Some(&admin.access), &body).await;

    // Assert
    let user = ok_data(&r, "patch")["user"].clone();
    assert_eq!(user["id"], json!(target.id));
    assert_eq!(user["first_name"], json!("Bea"));
    assert_eq!(user["last_name"], json!("Berg"));
    assert_eq!(user["is_verified"], json!(true));
    assert_eq!(user["role"], json!("vendor"));
    assert_eq!(user["is_active"], json!(false));
    assert_eq!(user["email"], before["email"], "untouched");
    assert!(time(&user["updated_at"]) >= time(&before["updated_at"]));
    assert_eq!(detail(&app, &admin.access, &target.id).await, user, "stored");
    let back =
        app.patch(&user_path(&target.id), Some(&admin.access), &json!({"is_active": true, "role": "staff"})).await;
    let back = ok_data(&back, "reactivate")["user"].clone();
    assert_eq!(
        (&back["is_active"], &back["role"], &back["first_name"]),
        (&json!(true), &json!("staff"), &json!("Bea"))
    );
    let (access, _) = app.login(&target.email, PASSWORD).await;
    ok_data(&app.get(ADMIN_USERS, Some(&access)).await, "the promoted staff member reads");
}

#[tokio::test]
async fn patch_with_an_invalid_value_is_a_400_on_that_field_and_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;
    let before = detail(&app, &admin.access, &target).await;
    let cases = [
        (json!({"role": ""}), "role"),
        (json!({"role": "root"}), "role"),
        (json!({"role": 5}), "role"),
        (json!({"first_name": ""}), "first_name"),
        (json!({"first_name": "   "}), "first_name"),
        (json!({"first_name": "A".repeat(151)}), "first_name"),
        (json!({"last_name": "S".repeat(151)}), "last_name"),
        (json!({"is_active": "yes"}), "is_active"),
        (json!({"is_verified": 1}), "is_verified"),
        (json!({"first_name": "Bea", "role": "root"}), "role"),
    ];

    for (body, field) in cases {
        // Act
        let r = app.patch(&user_path(&target), Some(&admin.access), &body).await;

        // Assert
        assert_field_error(&r, field);
    }
    assert_eq!(detail(&app, &admin.access, &target).await, before, "nothing changed");
}

#[tokio::test]
async fn junk_bodies_and_queries_never_cause_a_5xx() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;
    let before = detail(&app, &admin.access, &target).await;
    let bodies = [
        "not json",
        "{",
        "[]",
        "null",
        "\"text\"",
        "42",
        "{\"is_active\": {\"nested\": true}}",
        "{\"first_name\": []}",
        "{\"role\": null, \"is_active\": \"\"}",
        "{\"first_name\": \"Ana\u{0000}\"}",
    ];

    for body in bodies {
        // Act
        let r = app.patch_raw(&user_path(&target), Some(&admin.access), body).await;
        let malformed_id = app.patch_raw(&user_path("not-an-id"), Some(&admin.access), body).await;

        // Assert
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.body);
        assert_envelope(&r.body, false);
        assert!(!malformed_id.status.is_server_error(), "{body:?}: {}", malformed_id.body);
        assert_envelope(&malformed_id.body, false);
    }
    for query in
        ["limit=%00", "cursor=%00", "q=%00", "q=%FF%FE", "q=%5C", "role=%FF", "since=%00", "user_id=%00", "action=%00"]
    {
        for base in [ADMIN_USERS, ADMIN_AUDIT] {
            let r = app.get(&format!("{base}?{query}"), Some(&admin.access)).await;
            assert!(!r.status.is_server_error(), "{base}?{query}: {}", r.body);
            assert_envelope(&r.body, r.status.is_success());
        }
    }
    assert_eq!(detail(&app, &admin.access, &target).await, before, "nothing changed");
}

// ----------------------------------------------------- deactivation, delete

#[tokio::test]
async fn deactivation_revokes_every_session_and_login_then_is_a_403() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = member(&app, "client").await;
    let (second_access, second_refresh) = app.login(&target.email, PASSWORD).await;

    // Act
    let r = app.patch(&user_path(&target.id), Some(&admin.access), &json!({"is_active": false})).await;

    // Assert
    assert_eq!(ok_data(&r, "deactivate")["user"]["is_active"], json!(false));
    for refresh in [&target.refresh, &second_refresh] {
        assert_status(&app.refresh(refresh).await, StatusCode::UNAUTHORIZED, "refresh after deactivation");
    }
    for access in [&target.access, &second_access] {
        assert_status(&app.get(ME, Some(access)).await, StatusCode::UNAUTHORIZED, "access after deactivation");
    }
    assert_status(&login_reply(&app, &target.email, PASSWORD).await, StatusCode::FORBIDDEN, "login when inactive");
    let back = app.patch(&user_path(&target.id), Some(&admin.access), &json!({"is_active": true})).await;
    ok_data(&back, "reactivate");
    app.login(&target.email, PASSWORD).await;
    assert_status(&app.refresh(&second_refresh).await, StatusCode::UNAUTHORIZED, "reactivation revives no session");
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_deactivated_or_deleted() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let other_staff = member(&app, "staff").await;
    let path = user_path(&admin.id);
    let changes = [
        json!({"role": "staff"}),
        json!({"role": "client"}),
        json!({"is_active": false}),
        json!({"role": "admin", "is_active": false}),
    ];

    for body in changes {
        // Act
        let r = app.patch(&path, Some(&admin.access), &body).await;

        // Assert
        assert_status(&r, StatusCode::BAD_REQUEST, &format!("{body}"));
    }
    let deleted = app.delete(&path, Some(&admin.access)).await;
    assert_status(&deleted, StatusCode::BAD_REQUEST, "delete of the last admin");
    let user = detail(&app, &other_staff.access, &admin.id).await;
    assert_eq!((&user["role"], &user["is_active"]), (&json!("admin"), &json!(true)), "{user}");
    assert!(user.get("deleted_at").is_none(), "{user}");
    let harmless = app.patch(&path, Some(&admin.access), &json!({"role": "admin", "last_name": "Root"})).await;
    assert_eq!(ok_data(&harmless, "a change that keeps the admin")["user"]["last_name"], json!("Root"));
}

#[tokio::test]
async fn an_admin_can_be_demoted_deactivated_or_deleted_once_another_active_admin_exists() {
    // Arrange
    let app = spawn_app().await;
    let first = member(&app, "admin").await;
    let second = member(&app, "client").await;
    let third = member(&app, "client").await;
    let fourth = member(&app, "client").await;
    let promote = json!({"role": "admin"});

    // Act + Assert: two admins, so the second may demote the first.
    ok_data(&app.patch(&user_path(&second.id), Some(&first.access), &promote).await, "promote second");
    let (second_access, _) = app.login(&second.email, PASSWORD).await;
    let demoted = app.patch(&user_path(&first.id), Some(&second_access), &json!({"role": "staff"})).await;
    assert_eq!(ok_data(&demoted, "demote first")["user"]["role"], json!("staff"));
    let refused = app.patch(&user_path(&second.id), Some(&second_access), &json!({"is_active": false})).await;
    assert_status(&refused, StatusCode::BAD_REQUEST, "the second is now the last admin");

    // Deactivating an admin while another is active.
    ok_data(&app.patch(&user_path(&third.id), Some(&second_access), &promote).await, "promote third");
    let deactivated = app.patch(&user_path(&third.id), Some(&second_access), &json!({"is_active": false})).await;
    assert_eq!(ok_data(&deactivated, "deactivate third")["user"]["is_active"], json!(false));
    let refused = app.delete(&user_path(&second.id), Some(&second_access)).await;
    assert_status(&refused, StatusCode::BAD_REQUEST, "an inactive admin does not count");

    // Deleting an admin (here oneself) while another is active.
    ok_data(&app.patch(&user_path(&fourth.id), Some(&second_access), &promote).await, "promote fourth");
    let deleted = app.delete(&user_path(&second.id), Some(&second_access)).await;
    assert!(ok_data(&deleted, "delete second")["user"]["deleted_at"].is_string());
    let (fourth_access, _) = app.login(&fourth.email, PASSWORD).await;
    let refused = app.patch(&user_path(&fourth.id), Some(&fourth_access), &json!({"role": "client"})).await;
    assert_status(&refused, StatusCode::BAD_REQUEST, "the fourth is now the last admin");
}

#[tokio::test]
async fn delete_soft_deletes_revokes_sessions_and_login_fails_exactly_like_an_unknown_account() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = member(&app, "client").await;
    let (second_access, second_refresh) = app.login(&target.email, PASSWORD).await;

    // Act
    let r = app.delete(&user_path(&target.id), Some(&admin.access)).await;

    // Assert
    let user = ok_data(&r, "delete")["user"].clone();
    assert_eq!(user["id"], json!(target.id));
    time(&user["deleted_at"]);
    for refresh in [&target.refresh, &second_refresh] {
        assert_status(&app.refresh(refresh).await, StatusCode::UNAUTHORIZED, "refresh after delete");
    }
    for access in [&target.access, &second_access] {
        assert_status(&app.get(ME, Some(access)).await, StatusCode::UNAUTHORIZED, "access after delete");
    }
    let deleted_login = login_reply(&app, &target.email, PASSWORD).await;
    let unknown_login = login_reply(&app, &unique_email(), PASSWORD).await;
    assert_status(&deleted_login, StatusCode::UNAUTHORIZED, "login of a deleted account");
    assert_eq!(deleted_login.body, unknown_login.body, "the same body as an unknown account");
    let shown = detail(&app, &admin.access, &target.id).await;
    assert_eq!(shown["deleted_at"], user["deleted_at"]);
}

#[tokio::test]
async fn restore_brings_a_deleted_user_back_so_they_can_sign_in() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = member(&app, "client").await;
    ok_data(&app.delete(&user_path(&target.id), Some(&admin.access)).await, "delete");

    // Act
    let r = app.post_as(&admin.access, &restore_path(&target.id), &json!({})).await;

    // Assert
    let user = ok_data(&r, "restore")["user"].clone();
    assert_eq!(user["id"], json!(target.id));
    assert!(user.get("deleted_at").is_none(), "{user}");
    assert!(detail(&app, &admin.access, &target.id).await.get("deleted_at").is_none());
    assert!(user_ids(&list(&app, &admin.access, "").await).contains(&target.id), "listed again");
    assert!(user_ids(&list(&app, &admin.access, "deleted=true").await).is_empty());
    let (access, _) = app.login(&target.email, PASSWORD).await;
    ok_data(&app.get(ME, Some(&access)).await, "me after restore");
    assert_status(&app.refresh(&target.refresh).await, StatusCode::UNAUTHORIZED, "old sessions stay revoked");
}

#[tokio::test]
async fn restore_is_a_409_when_the_email_or_phone_was_taken_meanwhile() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let by_email = text(&app.register(Some(EMAIL), None, PASSWORD).await["user"]["id"]);
    let by_phone = text(&app.register(None, Some(PHONE), PASSWORD).await["user"]["id"]);
    for id in [&by_email, &by_phone] {
        ok_data(&app.delete(&user_path(id), Some(&admin.access)).await, "delete");
    }
    app.register(Some(EMAIL), None, PASSWORD).await;
    app.register(None, Some(PHONE), PASSWORD).await;

    for (what, id) in [("email", &by_email), ("phone", &by_phone)] {
        // Act
        let r = app.post_as(&admin.access, &restore_path(id), &json!({})).await;

        // Assert
        assert_status(&r, StatusCode::CONFLICT, &format!("restore when the {what} is taken"));
        assert!(detail(&app, &admin.access, id).await["deleted_at"].is_string(), "{what}: still deleted");
    }
    app.login(EMAIL, PASSWORD).await;
    app.login(PHONE, PASSWORD).await;
}

#[tokio::test]
async fn restore_of_a_user_who_is_not_deleted_is_a_400() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;

    // Act
    let r = app.post_as(&admin.access, &restore_path(&target), &json!({})).await;

    // Assert
    assert_status(&r, StatusCode::BAD_REQUEST, "restore of a live user");
}

// ------------------------------------------------------------------ audit

#[tokio::test]
async fn audit_lists_events_newest_first_with_every_field() {
    // Arrange
    let app = spawn_app().await;
    let staff = member(&app, "staff").await;
    let target = plain_user(&app).await;
    let body = json!({"email_or_phone": EMAIL, "password": "wrong password entirely"});
    app.register(Some(EMAIL), None, PASSWORD).await;
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &[("user-agent", "probe/1.0")]).await;
    assert_status(&r, StatusCode::UNAUTHORIZED, "wrong password");

    // Act
    let events = audit(&app, &staff.access, "limit=100").await;

    // Assert
    assert!(events.len() >= 5, "register×3, login, login_failed: {events:?}");
    for e in &events {
        let mut keys: Vec<&str> = e.as_object().expect("an event object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["action", "actor_id", "at", "detail", "id", "ip", "outcome", "user_agent", "user_id"], "{e}");
        time(&e["at"]);
        assert!(matches!(e["outcome"].as_str(), Some("success" | "failure")), "{e}");
    }
    let times: Vec<_> = events.iter().map(|e| time(&e["at"])).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {events:?}");
    let ids: HashSet<String> = events.iter().map(|e| text(&e["id"])).collect();
    assert_eq!(ids.len(), events.len(), "distinct ids");
    let newest = &events[0];
    assert_eq!(newest["action"], json!("login_failed"), "{newest}");
    assert_eq!(newest["outcome"], json!("failure"));
    assert_eq!(newest["ip"], json!("127.0.0.1"));
    assert_eq!(newest["user_agent"], json!("probe/1.0"));
    assert!(newest["detail"].is_object(), "{newest}");
    assert!(events.iter().any(|e| e["action"] == json!("register") && e["user_id"] == json!(target)));
}

#[tokio::test]
async fn every_admin_change_writes_an_event_naming_the_admin_and_the_target() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let target = plain_user(&app).await;
    let ua = [("user-agent", "admin-console/1.0")];
    let patch_body = json!({"role": "vendor", "is_verified": true});
    let changes = [
        (Method::PATCH, user_path(&target), Some(patch_body), "admin_user_update"),
        (Method::PATCH, user_path(&target), Some(json!({"is_active": false})), "admin_user_update"),
        (Method::DELETE, user_path(&target), None, "admin_user_delete"),
        (Method::POST, restore_path(&target), Some(json!({})), "admin_user_restore"),
    ];
    let mut expected = Vec::new();

    for (method, path, body, action) in changes {
        // Act
        let r = app.send_with_headers(method.clone(), &path, Some(&admin.access), body.as_ref(), &ua).await;
        ok_data(&r, &format!("{method} {path}"));
        expected.insert(0, action.to_string());

        // Assert
        let events = audit(&app, &admin.access, "limit=1").await;
        let e = &events[0];
        assert_eq!(e["action"], json!(action), "the newest event is the change: {e}");
        assert_eq!(e["outcome"], json!("success"), "{e}");
        assert_eq!(e["actor_id"], json!(admin.id), "the actor: {e}");
        assert_eq!(e["user_id"], json!(target), "the target: {e}");
        assert_eq!(e["ip"], json!("127.0.0.1"), "{e}");
        assert_eq!(e["user_agent"], json!("admin-console/1.0"), "{e}");
        assert!(e["detail"].is_object(), "{e}");
    }
    let trail = audit(&app, &admin.access, &format!("user_id={target}")).await;
    let admin_actions: Vec<String> = actions(&trail).into_iter().filter(|a| a.starts_with("admin_")).collect();
    assert_eq!(admin_actions, expected, "each change once, newest first");
}

#[tokio::test]
async fn audit_filters_by_user_action_outcome_and_time() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let x = member(&app, "client").await;
    let y = member(&app, "client").await;
    assert_status(&login_reply(&app, &y.email, "not the password at all").await, StatusCode::UNAUTHORIZED, "wrong");
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mid = Utc::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    ok_data(&app.patch(&user_path(&x.id), Some(&admin.access), &json!({"last_name": "Later"})).await, "patch");
    let mid_q = enc(&stamp(mid));
    let mid_offset = enc(&mid.with_timezone(&FixedOffset::east_opt(2 * 3600).expect("an offset")).to_rfc3339());

    // Act
    let by_user = audit(&app, &admin.access, &format!("user_id={}&limit=100", x.id)).await;
    let by_action = audit(&app, &admin.access, "action=login&limit=100").await;
    let failures = audit(&app, &admin.access, "outcome=failure&limit=100").await;
    let successes = audit(&app, &admin.access, "outcome=success&limit=100").await;
    let since = audit(&app, &admin.access, &format!("since={mid_q}&limit=100")).await;
    let until = audit(&app, &admin.access, &format!("until={mid_q}&limit=100")).await;
    let until_offset = audit(&app, &admin.access, &format!("until={mid_offset}&limit=100")).await;
    let x_before = audit(&app, &admin.access, &format!("user_id={}&until={mid_q}", x.id)).await;
    let nothing = audit(&app, &admin.access, "action=no_such_action").await;

    // Assert
    assert!(by_user.iter().all(|e| e["user_id"] == json!(x.id)), "{by_user:?}");
    assert_eq!(actions(&by_user), ["admin_user_update", "login", "register"], "x's trail");
    assert!(by_action.iter().all(|e| e["action"] == json!("login")), "{by_action:?}");
    assert_eq!(by_action.len(), 3, "three successful logins: {by_action:?}");
    assert!(failures.iter().all(|e| e["outcome"] == json!("failure")), "{failures:?}");
    assert_eq!(actions(&failures), ["login_failed"]);
    assert_eq!(failures[0]["user_id"], json!(y.id));
    assert!(successes.iter().all(|e| e["outcome"] == json!("success")), "{successes:?}");
    assert!(!successes.is_empty());
    assert!(since.iter().all(|e| time(&e["at"]) >= mid), "{since:?}");
    assert_eq!(actions(&since), ["admin_user_update"], "only the change came after mid");
    assert!(until.iter().all(|e| time(&e["at"]) < mid), "{until:?}");
    assert!(!actions(&until).contains(&"admin_user_update".to_string()), "{until:?}");
    assert_eq!(until.len(), 7, "register×3, login×3, login_failed: {until:?}");
    assert_eq!(until_offset, until, "an offset names the same instant");
    assert_eq!(actions(&x_before), ["login", "register"]);
    assert!(nothing.is_empty(), "{nothing:?}");
}

#[tokio::test]
async fn audit_cursor_pages_walk_every_event_once() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    for _ in 0..3 {
        let id = plain_user(&app).await;
        ok_data(&app.patch(&user_path(&id), Some(&admin.access), &json!({"is_verified": true})).await, "patch");
    }
    let all = audit(&app, &admin.access, "limit=100").await;
    let all_ids: Vec<String> = all.iter().map(|e| text(&e["id"])).collect();

    // Act
    let (walked, sizes) = walk(&app, &admin.access, ADMIN_AUDIT, "events", 3).await;
    let (filtered, _) =
        walk(&app, &admin.access, &format!("{ADMIN_AUDIT}?action=admin_user_update"), "events", 2).await;

    // Assert
    assert_eq!(all.len(), 8, "register×4, login, admin_user_update×3: {all:?}");
    assert_eq!(walked, all_ids, "every event once, in order");
    assert_eq!(sizes, [3, 3, 2]);
    let updates: Vec<String> =
        all.iter().filter(|e| e["action"] == json!("admin_user_update")).map(|e| text(&e["id"])).collect();
    assert_eq!(filtered, updates, "a filter holds across pages");
    let default = app.get(ADMIN_AUDIT, Some(&admin.access)).await;
    assert!(ok_data(&default, "default page")["next_cursor"].is_null(), "8 events fit the default page");
}

#[tokio::test]
async fn bad_audit_parameters_are_a_400_on_that_parameter() {
    // Arrange
    let app = spawn_app().await;
    let admin = member(&app, "admin").await;
    let cases = [
        ("user_id=abc", "user_id"),
        ("user_id=123", "user_id"),
        ("outcome=maybe", "outcome"),
        ("outcome=SUCCESS%20", "outcome"),
        ("since=yesterday", "since"),
        ("since=2026-01-31", "since"),
        ("since=1700000000", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("cursor=junk", "cursor"),
        ("limit=0", "limit"),
    ];

    for (query, field) in cases {
        // Act
        let r = app.get(&format!("{ADMIN_AUDIT}?{query}"), Some(&admin.access)).await;

        // Assert
        assert_field_error(&r, field);
    }
}
