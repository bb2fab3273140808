//! §19 audit: the page with §13's filters, exports of every matching event
//! as CSV and JSON Lines (streamed, paged through the store), and the
//! overview's live tail over server-sent events.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::*;

#[tokio::test]
async fn the_audit_page_filters_as_the_admin_api_does() {
    let app = spawn_app().await;
    let (mut staff, _) = signed_in_as(&app, "staff").await;
    let (id, email) = account(&app, "client").await;
    app.post(LOGIN, &serde_json::json!({"email_or_phone": email, "password": "wrong password"})).await;
    let page = staff.get(&format!("/dashboard/audit/?user_id={id}&action=login_failed&outcome=")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body.matches("<td>login_failed</td>").count(), 1);
    assert!(!page.body.contains("<td>register</td>"));
    assert!(page.body.contains(&format!("export.csv?action=login_failed&#38;user_id={id}")), "{}", page.body);
    let page = staff.get("/dashboard/audit/?since=yesterday").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("RFC 3339"));
}

#[tokio::test]
async fn exports_stream_every_matching_event_as_csv_and_json_lines() {
    // Every wrong password a `login_failed` (no §14.1 delay in between).
    let app = spawn_app_with(|c| c.login_failures_before_delay = 0).await;
    let (mut staff, _) = signed_in_as(&app, "staff").await;
    // Wrong passwords of one account (the paging across reads of 1,000 is
    // the next test's).
    let (id, email) = account(&app, "client").await;
    let bad = serde_json::json!({"email_or_phone": email, "password": "wrong, \"quoted\" password"});
    for _ in 0..25 {
        app.post(LOGIN, &bad).await;
    }
    let csv = staff.get(&format!("/dashboard/audit/export.csv?user_id={id}&action=login_failed")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.headers["content-disposition"].to_str().unwrap().contains("audit.csv"));
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "id,at,action,outcome,user_id,actor_id,ip,user_agent,detail");
    assert_eq!(lines.len(), 26, "a header and every event");
    assert!(lines[1..].iter().all(|l| l.contains(",login_failed,failure,") && l.contains(&id)));
    assert!(lines[1].ends_with("\"{\"\"reason\"\":\"\"wrong_password\"\"}\""), "{}", lines[1]);

    let jsonl = staff.get(&format!("/dashboard/audit/export.jsonl?user_id={id}")).await;
    assert_eq!(jsonl.status, StatusCode::OK);
    let events: Vec<Value> =
        jsonl.body.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    assert_eq!(events.len(), 26, "register and 25 failures");
    for key in ["id", "at", "action", "outcome", "user_id", "actor_id", "ip", "user_agent", "detail"] {
        assert!(events[0].get(key).is_some(), "{key}");
    }
    assert_eq!(events[0]["detail"]["reason"], "wrong_password", "newest first, detail as JSON");
    assert_eq!(events[25]["action"], "register");
    let bad = staff.get("/dashboard/audit/export.csv?outcome=maybe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_export_pages_through_more_events_than_one_read() {
    let app = spawn_app().await;
    let (mut admin, _) = signed_in_as(&app, "admin").await;
    // 2,500 events of one action: three reads of 1,000.
    let (id, _) = account(&app, "client").await;
    app.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
         INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
         SELECT '00000000-0000-7000-8000-' || (100000000000 + i), 1000000 + i / 3, 'bulk_test', 'success', $1, NULL,
                NULL, NULL, '{}' FROM n",
        &[&id],
    )
    .await;
    let jsonl = admin.get("/dashboard/audit/export.jsonl?action=bulk_test").await;
    let ids: Vec<String> = jsonl.body.lines().map(|l| text(&serde_json::from_str::<Value>(l).unwrap()["id"])).collect();
    assert_eq!(ids.len(), 2500);
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 2500, "no event twice across the pages");
}

#[tokio::test]
async fn the_live_tail_sends_new_events_without_a_reload() {
    let app = spawn_app().await;
    let (mut staff, _) = signed_in_as(&app, "staff").await;
    let home = staff.get(DASHBOARD).await;
    let after = home.body.split("data-after=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("").to_owned();
    assert!(!after.is_empty(), "the page names its newest event");
    let mut stream = staff.open(&format!("/dashboard/events/?after={after}")).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");

    let (id, _) = account(&app, "vendor").await;
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !received.contains(&id) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("the event within 20 s");
        received.push_str(&String::from_utf8_lossy(&chunk.expect("the stream").expect("open")));
    }
    let message = received.split("\n\n").find(|m| m.contains(&id)).unwrap();
    assert!(message.contains("event: audit"), "{message}");
    let data: Value = serde_json::from_str(message.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(data["action"], "register");
    assert_eq!(data["user_id"], id.as_str());
    assert!(!received.contains(&format!("id: {after}\n")), "nothing the page showed already");
}

#[tokio::test]
async fn the_overview_counts_users_and_draws_the_hourly_charts() {
    let app = spawn_app().await;
    let (mut admin, _) = signed_in_as(&app, "admin").await;
    account(&app, "vendor").await;
    let (_, email) = account(&app, "client").await;
    app.post(LOGIN, &serde_json::json!({"email_or_phone": email, "password": "wrong password"})).await;
    let page = admin.get(DASHBOARD).await;
    assert_eq!(page.status, StatusCode::OK);
    for chart in ["chart-sign-ins", "chart-failures", "chart-registrations", "chart-throttled", "chart-reuse"] {
        assert!(page.body.contains(&format!("id=\"{chart}\"")), "{chart}");
    }
    assert!(page.body.contains("Failed sign-ins: <strong>1</strong>"), "{}", page.body);
    assert!(page.body.contains("Registrations: <strong>3</strong>"));
    assert!(page.body.contains("<th scope=\"row\">vendor</th><td>1</td><td>0</td><td>0</td>"));
    assert!(page.body.contains("<th scope=\"row\">admin</th><td>1</td>"));
    assert_eq!(page.body.matches("<rect ").count(), 5 * 24, "24 hours in each of 5 charts");
}

#[tokio::test]
async fn an_open_live_tail_does_not_hold_up_shutdown() {
    let running = spawn_stoppable_app(|c| c.shutdown_timeout = Duration::from_secs(30)).await;
    let (mut staff, _) = signed_in_as(&running.app, "staff").await;
    assert_eq!(staff.get(DASHBOARD).await.status, StatusCode::OK);
    let mut stream = staff.open("/dashboard/events/").await;
    assert_eq!(stream.status(), StatusCode::OK);
    let started = tokio::time::Instant::now();
    running.stop.send(()).expect("the server is running");
    let served = tokio::time::timeout(Duration::from_secs(10), running.served).await;
    assert!(served.expect("shutdown within 10 s, not the 30 s timeout").is_ok());
    assert!(started.elapsed() < Duration::from_secs(10));
    // The stream ended with the server.
    while let Ok(Some(_)) = stream.chunk().await {}
}
