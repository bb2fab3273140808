//! Several instances, one truth (issue 5): two servers on one database, as
//! two machines behind a load balancer run. On the `api_pg` binary they
//! share PostgreSQL; on `api`, one SQLite file. The shared burst budget
//! through Redis is `throttle::two_instances_on_one_redis_share_the_burst_budget`.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;

fn zero_grace(c: &mut authgate::Config) {
    c.refresh_reuse_grace = Duration::ZERO;
}

#[tokio::test]
async fn a_session_revoked_through_a_cannot_refresh_or_authenticate_through_b() {
    // Arrange
    let a = spawn_app().await;
    let b = a.spawn_peer(|_| {}).await;
    let (_, access, refresh) = a.signed_in(EMAIL).await;
    assert_eq!(b.get(ME, Some(&access)).await.status, StatusCode::OK, "B accepts A's token while the session lives");

    // Act
    let out = a.post_as(&access, LOGOUT, &json!({"refresh": refresh})).await;

    // Assert
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert_unauthorized(&b.refresh(&refresh).await, "B refreshes a session revoked through A");
    // Contract §12: the access token is refused on every instance within 1 s
    // (through the revocation feed; revocation_feed.rs times it).
    let answered = std::time::Instant::now();
    while b.get(ME, Some(&access)).await.status == StatusCode::OK {
        assert!(answered.elapsed() < Duration::from_secs(1), "B accepts an access token of a revoked session");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_unauthorized(&b.get(ME, Some(&access)).await, "B accepts an access token of a revoked session");
}

#[tokio::test]
async fn a_token_rotated_through_a_is_detected_as_reused_through_b() {
    // Arrange
    let a = spawn_app_with(zero_grace).await;
    let b = a.spawn_peer(zero_grace).await;
    let (_, _, first) = a.signed_in(EMAIL).await;
    let (_, second) = a.refreshed(&first).await;

    // Act
    let replayed = b.refresh(&first).await;

    // Assert
    assert_unauthorized(&replayed, "B refreshes a token already rotated through A");
    assert_unauthorized(&a.refresh(&second).await, "the reuse through B revokes the session on A too");
    assert_unauthorized(&b.refresh(&second).await, "the reuse through B revokes the session on B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_through_a_and_b_rotate_it_once() {
    // Arrange
    let a = spawn_app().await;
    let b = a.spawn_peer(|_| {}).await;
    let (_, _, refresh) = a.signed_in(EMAIL).await;

    // Act
    let replies = join_all((0..20).map(|i| if i % 2 == 0 { a.refresh(&refresh) } else { b.refresh(&refresh) })).await;

    // Assert: one rotation; everyone else got the winner's token in the grace.
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
    }
    let winner = &replies[0].body["data"]["refresh"];
    assert!(replies.iter().all(|r| &r.body["data"]["refresh"] == winner), "{replies:#?}");
    b.refreshed(&text(winner)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_zero_grace_exactly_one_of_concurrent_refreshes_through_a_and_b_succeeds() {
    // Arrange
    let a = spawn_app_with(zero_grace).await;
    let b = a.spawn_peer(zero_grace).await;
    let (_, _, refresh) = a.signed_in(EMAIL).await;

    // Act
    let replies = join_all((0..20).map(|i| if i % 2 == 0 { a.refresh(&refresh) } else { b.refresh(&refresh) })).await;

    // Assert
    for r in &replies {
        assert!(r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED, "{} {}", r.status, r.body);
        assert_envelope(&r.body, r.status == StatusCode::OK);
    }
    let winners = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(winners, 1, "{winners} of 20 succeeded");
}

#[tokio::test]
async fn a_code_issued_through_a_verifies_through_b() {
    // Arrange
    let a = spawn_app().await;
    let b = a.spawn_peer(|_| {}).await;
    let data = a.register(Some(EMAIL), None, PASSWORD).await;

    // Act
    let r = b.post(VERIFY_OTP, &json!({"email_or_phone": EMAIL, "otp": data["otp"]})).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let (access, _) = a.login(EMAIL, PASSWORD).await;
    let me = a.get(ME, Some(&access)).await;
    assert_eq!(me.body["data"]["user"]["is_verified"], json!(true), "{}", me.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_email_through_a_and_b_create_one_account() {
    // Arrange
    let a = spawn_app().await;
    let b = a.spawn_peer(|_| {}).await;
    let body = json!({"email": EMAIL, "password": PASSWORD, "first_name": "Ana"});

    // Act
    let replies =
        join_all((0..10).map(|i| if i % 2 == 0 { a.post(REGISTER, &body) } else { b.post(REGISTER, &body) })).await;

    // Assert
    let created = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{replies:#?}");
    for r in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_field_error(r, "email");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_apply_each_migration_exactly_once() {
    // Act: four instances start at once on an empty database.
    let apps = spawn_cluster(4).await;

    // Assert
    let applied = apps[0].applied_migrations().await;
    let mut once = applied.clone();
    once.dedup();
    assert!(!applied.is_empty(), "no migration was recorded");
    assert_eq!(applied, once, "a migration was recorded twice");
    for app in &apps {
        let r = app.post(REGISTER, &json!({"email": unique_email(), "password": PASSWORD, "first_name": "Ana"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
}
