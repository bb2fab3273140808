//! The audit trail: its fields, filters and pages.

use std::collections::HashSet;
use std::time::Duration;

use super::*;
use reqwest::Method;

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
    let clock = authgate::domain::Clock::manual();
    let app = spawn_app_with(|c| c.clock = clock.clone()).await;
    let admin = member(&app, "admin").await;
    let x = member(&app, "client").await;
    let y = member(&app, "client").await;
    assert_status(&login_reply(&app, &y.email, "not the password at all").await, StatusCode::UNAUTHORIZED, "wrong");
    clock.advance(Duration::from_secs(1));
    let mid = clock.now();
    clock.advance(Duration::from_secs(1));
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
