//! Races that must have one outcome (issue 21): concurrent refreshes of one
//! token across a restart, concurrent registrations of one phone through
//! two instances, admins removing each other through two instances. The
//! two-instance refresh races are in `instances.rs`, the one-instance ones
//! in `tokens.rs`; the crash-and-restart proof in `crash.rs`.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;

fn zero_grace(c: &mut authgate::Config) {
    c.refresh_reuse_grace = Duration::ZERO;
}

/// Signs in on a server run as the binary runs it, rotates the refresh
/// token once, and stops the server: `(server's app, first, second)`.
async fn rotated_then_stopped(configure: fn(&mut authgate::Config)) -> (TestApp, String, String) {
    let server = spawn_stoppable_app(configure).await;
    let (_, _, first) = server.app.signed_in(&unique_email()).await;
    let (_, second) = server.app.refreshed(&first).await;
    server.stop.send(()).expect("the server is serving");
    server.served.await.expect("the server task ends").expect("the server stops cleanly");
    (server.app, first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn n_way_refreshes_of_a_token_rotated_before_a_restart_get_the_token_it_was_rotated_to() {
    // Arrange: within the grace, the rotating client comes back after the
    // restart, from many connections at once.
    let (stopped, first, second) = rotated_then_stopped(|_| {}).await;
    let restarted = stopped.spawn_stoppable_peer(|_| {}).await;

    // Act
    let replies = join_all((0..20).map(|_| restarted.app.refresh(&first))).await;

    // Assert: the restart forgot nothing; no second rotation happened.
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(text(&r.body["data"]["refresh"]), second, "the grace answers the token of the one rotation");
    }
    restarted.app.refreshed(&second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_zero_grace_n_way_refreshes_of_a_token_rotated_before_a_restart_all_fail_and_end_the_session() {
    // Arrange: the reuse-after-restart class of bug (a retired token
    // accepted once the process that retired it is gone).
    let (stopped, first, second) = rotated_then_stopped(zero_grace).await;
    let restarted = stopped.spawn_stoppable_peer(zero_grace).await;

    // Act
    let replies = join_all((0..20).map(|_| restarted.app.refresh(&first))).await;

    // Assert
    for r in &replies {
        assert_unauthorized(r, "a token retired before the restart");
    }
    assert_unauthorized(&restarted.app.refresh(&second).await, "the reuse revoked the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_phone_through_a_and_b_create_one_account() {
    // Arrange: different emails, one phone.
    let a = spawn_app().await;
    let b = a.spawn_peer(|_| {}).await;
    let bodies: Vec<_> = (0..10)
        .map(|_| json!({"email": unique_email(), "phone": PHONE, "password": PASSWORD, "first_name": "Ana"}))
        .collect();

    // Act
    let replies = join_all(
        bodies
            .iter()
            .enumerate()
            .map(|(i, body)| if i % 2 == 0 { a.post(REGISTER, body) } else { b.post(REGISTER, body) }),
    )
    .await;

    // Assert
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{replies:#?}");
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_field_error(r, "phone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_demoting_deactivating_and_deleting_each_other_through_two_instances_leave_an_admin() {
    // Arrange: four admins, each removing every other at once, half of the
    // requests through each instance.
    let a = spawn_app().await;
    let b = a.spawn_peer(|_| {}).await;
    let mut admins = Vec::new();
    for _ in 0..4 {
        let email = unique_email();
        let id = text(&a.register(Some(&email), None, PASSWORD).await["user"]["id"]);
        a.make_role(&id, "admin").await;
        let (access, _) = a.login(&email, PASSWORD).await;
        admins.push((id, access));
    }
    let removals =
        [("PATCH", json!({"role": "client"})), ("PATCH", json!({"is_active": false})), ("DELETE", json!({}))];

    // Act
    let mut requests = Vec::new();
    for (i, (_, access)) in admins.iter().enumerate() {
        for (j, (target, _)) in admins.iter().enumerate().filter(|(j, _)| *j != i) {
            let (method, body) = &removals[(i + j) % removals.len()];
            let app = if (i + j) % 2 == 0 { &a } else { &b };
            let path = format!("{ADMIN_USERS}{target}/");
            requests.push(async move {
                if *method == "DELETE" {
                    app.delete(&path, Some(access)).await
                } else {
                    app.patch(&path, Some(access), body).await
                }
            });
        }
    }
    let replies = join_all(requests).await;

    // Assert: each answer is one the contract allows; an active admin is left.
    for r in &replies {
        let allowed = [
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::FORBIDDEN,
            StatusCode::UNAUTHORIZED,
            StatusCode::NOT_FOUND,
        ];
        assert!(allowed.contains(&r.status), "{} {}", r.status, r.body);
        assert_envelope(&r.body, r.status.is_success());
    }
    let mut left = 0;
    for (id, _) in &admins {
        let rows = a
            .query_rows(
                "SELECT role, CASE WHEN is_active THEN 'yes' ELSE 'no' END, CAST(deleted_at AS TEXT) FROM users WHERE id = $1",
                &[id],
            )
            .await;
        let row = &rows[0];
        let active_admin = row[0].as_deref() == Some("admin") && row[1].as_deref() == Some("yes") && row[2].is_none();
        left += usize::from(active_admin);
    }
    assert_eq!(left, 1, "exactly one active admin is left: the last one cannot be removed, the others could");
}
