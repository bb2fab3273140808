//! Contract §4: rotation of refresh tokens, the reuse grace and the
//! revocation of a session whose rotated token comes back; refreshes that
//! arrive together.

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::helpers::*;

// --------------------------------------------------- rotation and reuse

#[tokio::test]
async fn replaying_a_just_rotated_token_within_the_grace_returns_the_same_new_token() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;
    let (first_access, rotated) = app.refreshed(&refresh).await;

    // Act
    let replay = app.refresh(&refresh).await;

    // Assert
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_envelope(&replay.body, true);
    assert_eq!(text(&replay.body["data"]["refresh"]), rotated, "byte for byte");
    assert_ne!(text(&replay.body["data"]["access"]), first_access, "a fresh access token");
    let me = app.get(ME, Some(&text(&replay.body["data"]["access"]))).await;
    assert_eq!(me.status, StatusCode::OK, "a fresh access token: {}", me.body);
    assert_envelope(&me.body, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_all_get_the_same_new_refresh_token() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let replies = join_all((0..20).map(|_| app.refresh(&refresh))).await;

    // Assert
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
    }
    let first = &replies[0].body["data"]["refresh"];
    assert_ne!(first, &json!(refresh));
    assert!(replies.iter().all(|r| &r.body["data"]["refresh"] == first), "{replies:#?}");
    app.refreshed(&text(first)).await; // the shared new token lives on
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_zero_grace_exactly_one_of_concurrent_refreshes_succeeds_and_the_session_dies() {
    // Arrange
    let app = spawn_app_with(|c| c.refresh_reuse_grace = Duration::ZERO).await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let replies = join_all((0..20).map(|_| app.refresh(&refresh))).await;

    // Assert
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::OK).collect();
    for r in &replies {
        assert!(r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED, "{} {}", r.status, r.body);
        assert_envelope(&r.body, r.status == StatusCode::OK);
    }
    assert_eq!(winners.len(), 1, "{} of 20 succeeded", winners.len());
    let after = app.refresh(&text(&winners[0].body["data"]["refresh"])).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "the winner's token died with the session: {}", after.body);
    assert_envelope(&after.body, false);
}

/// Two refreshes of one token, the first held up behind another writer.
/// SQLite's busy handler makes a waiting writer sleep in steps of up to
/// 100 ms, so the second, sent just after the writer lets go, reaches the
/// database while the first still sleeps: the order the server sees them
/// in differs from the order they arrived in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_zero_grace_a_refresh_held_up_by_a_busy_database_and_a_later_one_do_not_both_succeed() {
    // Arrange
    let app = spawn_app_with(|c| c.refresh_reuse_grace = Duration::ZERO).await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;
    let lock = app.hold_write_lock().await;

    // Act
    let held_up = app.refresh(&refresh);
    let release = async {
        tokio::time::sleep(Duration::from_millis(370)).await;
        lock.release().await;
    };
    let later = async {
        tokio::time::sleep(Duration::from_millis(380)).await;
        app.refresh(&refresh).await
    };
    let (held_up, (), later) = tokio::join!(held_up, release, later);

    // Assert
    for r in [&held_up, &later] {
        assert!(r.status == StatusCode::OK || r.status == StatusCode::UNAUTHORIZED, "{} {}", r.status, r.body);
        assert_envelope(&r.body, r.status == StatusCode::OK);
    }
    let statuses = (held_up.status.as_u16(), later.status.as_u16());
    assert!(matches!(statuses, (200, 401) | (401, 200)), "held up, later: {statuses:?}");
}

#[tokio::test]
async fn with_zero_grace_replaying_a_rotated_token_revokes_the_session() {
    // Arrange
    let app = spawn_app_with(|c| c.refresh_reuse_grace = Duration::ZERO).await;
    let (_, _, old) = app.signed_in(EMAIL).await;
    let (_, newest) = app.refreshed(&old).await;

    // Act
    let replay = app.refresh(&old).await;

    // Assert
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
    assert_envelope(&replay.body, false);
    let after = app.refresh(&newest).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "the session is revoked: {}", after.body);
    assert_envelope(&after.body, false);
}

#[tokio::test]
async fn reusing_a_rotated_token_after_the_grace_revokes_the_whole_session() {
    // Arrange
    let clock = authgate::domain::Clock::manual();
    let app = spawn_app_with(|c| {
        c.refresh_reuse_grace = Duration::from_secs(1);
        c.clock = clock.clone();
    })
    .await;
    let (_, _, old) = app.signed_in(EMAIL).await;
    let (_, other_session) = app.login(EMAIL, PASSWORD).await;
    let (_, newest) = app.refreshed(&old).await;
    clock.advance(Duration::from_millis(1500));

    // Act
    let reuse = app.refresh(&old).await;

    // Assert
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED, "{}", reuse.body);
    assert_envelope(&reuse.body, false);
    let newest_after = app.refresh(&newest).await;
    assert_eq!(newest_after.status, StatusCode::UNAUTHORIZED, "the session is revoked: {}", newest_after.body);
    assert_envelope(&newest_after.body, false);
    let other = app.refresh(&other_session).await;
    assert_eq!(other.status, StatusCode::OK, "other sessions live on: {}", other.body);
    assert_envelope(&other.body, true);
}

#[tokio::test]
async fn reusing_an_older_ancestor_revokes_the_session_even_within_the_grace() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, first) = app.signed_in(EMAIL).await;
    let (_, second) = app.refreshed(&first).await;
    let (_, third) = app.refreshed(&second).await;

    // Act
    let reuse = app.refresh(&first).await;

    // Assert
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED, "{}", reuse.body);
    assert_envelope(&reuse.body, false);
    let newest = app.refresh(&third).await;
    assert_eq!(newest.status, StatusCode::UNAUTHORIZED, "the session is revoked: {}", newest.body);
    assert_envelope(&newest.body, false);
}

/// Signs in with a user agent of the caller's choosing; the refresh token.
async fn login_with_agent(app: &TestApp, email: &str, agent: &str) -> String {
    let body = json!({"email_or_phone": email, "password": PASSWORD});
    let r = app.request(Method::POST, LOGIN).header("user-agent", agent).json(Some(&body)).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    text(&r.body["data"]["refresh"])
}

/// Refreshes that arrive together are written together (on SQLite in one
/// transaction, a savepoint each): one that fails inside the database fails
/// alone, and is undone, while the others commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn among_concurrent_refreshes_one_failing_in_the_database_fails_alone() {
    // Arrange
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for i in 0..24 {
        let email = unique_email();
        app.register(Some(&email), None, PASSWORD).await;
        tokens.push(login_with_agent(&app, &email, if i == 7 { "trapped" } else { "tests" }).await);
    }
    app.trap_session_writes().await;

    // Act
    let replies = join_all(tokens.iter().map(|t| app.refresh(t))).await;

    // Assert
    for (i, r) in replies.iter().enumerate() {
        let expected = if i == 7 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
        assert_eq!(r.status, expected, "refresh {i}: {}", r.body);
        assert_envelope(&r.body, r.status.is_success());
    }
    for (i, r) in replies.iter().enumerate().filter(|(i, _)| *i != 7) {
        let next = app.refresh(&text(&r.body["data"]["refresh"])).await;
        assert_eq!(next.status, StatusCode::OK, "the rotation of {i} was not kept: {}", next.body);
    }
    app.lift_session_trap().await;
    let (_, rotated) = app.refreshed(&tokens[7]).await;
    assert!(!rotated.is_empty(), "the failed rotation was undone, so its token is still current");
}
