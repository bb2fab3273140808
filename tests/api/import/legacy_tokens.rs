//! Tokens of the original (contract §18): its access tokens within the
//! legacy window, its refresh tokens becoming sessions, its reset links.

use std::time::Duration;

use authgate::crypto::jwt::LEGACY_REREAD_SECS;
use authgate::crypto::signing::JwtAlgorithm;
use authgate::domain::WallClock;
use serde_json::json;

use super::*;

/// The window the tests set: two hours after the fixture was made (the
/// test clock starts one hour after).
fn window(c: &mut Config) {
    c.legacy_tokens_until = Some(made_at() + Duration::from_secs(2 * 3600));
}

/// A server on the original's secret, after the import of its database.
async fn imported(clock: &Clock, configure: impl FnOnce(&mut Config)) -> TestApp {
    let first = spawn_original_app(clock).await;
    import(&first, clock, &database_source(), false).await;
    let original = as_the_original(clock);
    first
        .spawn_peer(move |c| {
            original(c);
            configure(c);
        })
        .await
}

#[tokio::test]
async fn an_access_token_of_the_original_verifies_inside_the_window_and_not_after() {
    // Arrange
    let clock = fixture_clock();
    let app = imported(&clock, window).await;
    let access = token("ana_access");

    // Act
    let inside = app.get(ME, Some(&access)).await;
    clock.advance(Duration::from_secs(3600));
    let after = app.get(ME, Some(&access)).await;

    // Assert
    assert_eq!(inside.status, 200, "{:?}", inside.body);
    assert_eq!(inside.body["data"]["user"]["id"], user("pbkdf2_sha256")["id"]);
    assert_unauthorized(&after, "an original's token after the window");
}

#[tokio::test]
async fn without_a_set_window_the_import_opens_one_until_the_last_refresh_token_expires() {
    // Arrange
    let clock = fixture_clock();
    let app = imported(&clock, |_| {}).await;
    let unset = spawn_original_app(&clock).await;

    // Act
    let after_import = app.get(ME, Some(&token("ana_access"))).await;
    let never_imported = unset.get(ME, Some(&token("ana_access"))).await;

    // Assert
    assert_eq!(after_import.status, 200, "{:?}", after_import.body);
    assert_unauthorized(&never_imported, "an original's token with no window");
}

#[tokio::test]
async fn the_tokens_of_an_inactive_or_deleted_user_are_refused() {
    let clock = fixture_clock();
    let app = imported(&clock, window).await;
    assert_unauthorized(&app.get(ME, Some(&token("ivy_access_inactive"))).await, "inactive user's token");
    assert_unauthorized(&app.get(ME, Some(&token("jon_access_deleted"))).await, "deleted user's token");
    assert_unauthorized(&app.refresh(&token("ivy_refresh_inactive")).await, "inactive user's refresh token");
}

#[tokio::test]
async fn an_imported_refresh_token_becomes_a_session_with_the_rotation_rules() {
    // Arrange
    let clock = fixture_clock();
    let app = imported(&clock, window).await;
    let legacy = token("ana_refresh");

    // Act
    let first = app.refresh(&legacy).await;
    let access = first.body["data"]["access"].as_str().map(str::to_owned);
    let me = app.get(ME, access.as_deref()).await;
    let retried = app.refresh(&legacy).await;
    clock.advance(Duration::from_secs(11));
    let reused = app.refresh(&legacy).await;

    // Assert
    assert_eq!(first.status, 200, "{:?}", first.body);
    let refresh = text(&first.body["data"]["refresh"]);
    assert_eq!(me.status, 200, "the new pair names its session");
    assert_eq!(retried.status, 200, "within the grace: the same answer");
    assert_eq!(text(&retried.body["data"]["refresh"]), refresh);
    assert_unauthorized(&reused, "the original's token after the grace is reuse");
    assert_unauthorized(&app.refresh(&refresh).await, "reuse revoked the session");
}

#[tokio::test]
async fn a_blacklisted_refresh_token_is_refused() {
    let clock = fixture_clock();
    let app = imported(&clock, window).await;
    assert_unauthorized(&app.refresh(&token("cleo_refresh_blacklisted")).await, "a blacklisted token");
    let other = app.refresh(&token("ana_refresh_second")).await;
    assert_eq!(other.status, 200, "an outstanding one refreshes: {:?}", other.body);
}

#[tokio::test]
async fn after_the_window_a_refresh_token_of_the_original_is_refused() {
    let clock = fixture_clock();
    let app = imported(&clock, window).await;
    clock.advance(Duration::from_secs(3600));
    assert_unauthorized(&app.refresh(&token("ana_refresh")).await, "an original's refresh token after the window");
}

#[tokio::test]
async fn an_instance_signing_with_a_key_pair_still_takes_the_originals_tokens() {
    let clock = fixture_clock();
    let app = imported(&clock, |c| {
        window(c);
        c.jwt_algorithm = JwtAlgorithm::EdDsa;
    })
    .await;
    assert_eq!(app.get(ME, Some(&token("ana_access"))).await.status, 200);
    assert_eq!(app.refresh(&token("ana_refresh")).await.status, 200);
}

#[tokio::test]
async fn an_import_while_serving_opens_the_default_window_without_a_restart() {
    // Arrange: a serving instance, before any import (no window).
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;
    let access = token("ana_access");
    let before = app.get(ME, Some(&access)).await;

    // Act: the import runs beside it; the instance looks again a few
    // seconds later.
    import(&app, &clock, &database_source(), false).await;
    clock.advance(Duration::from_secs(LEGACY_REREAD_SECS as u64));
    let after = app.get(ME, Some(&access)).await;

    // Assert
    assert_unauthorized(&before, "no window before the import");
    assert_eq!(after.status, 200, "{:?}", after.body);
}

#[tokio::test]
async fn a_reset_link_the_original_sent_stays_valid() {
    // Arrange
    let clock = fixture_clock();
    let app = imported(&clock, |_| {}).await;
    let link = fixture()["reset_link"].clone();
    let confirm =
        json!({"uidb64": link["uidb64"], "token": link["token"], "new_password": "a brand new passphrase 42"});

    // Act
    let reset = app.post(RESET_CONFIRM, &confirm).await;
    let again = app.post(RESET_CONFIRM, &confirm).await;

    // Assert
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    assert_eq!(again.status, 400, "the link is one-time");
    app.login("ana@example.com", "a brand new passphrase 42").await;
}

#[tokio::test]
async fn a_reset_link_counts_in_the_original_time_zone() {
    // Arrange: read the fixture's link as if the original ran two hours
    // ahead of UTC (`Etc/GMT-2`): its wall clock said what it says two
    // hours before that instant in UTC.
    let clock = fixture_clock();
    let ahead = imported(&clock, |c| c.time_zone = WallClock::named("Etc/GMT-2").unwrap()).await;
    let utc = imported(&clock, |_| {}).await;
    let link = fixture()["reset_link"].clone();
    let confirm =
        json!({"uidb64": link["uidb64"], "token": link["token"], "new_password": "a brand new passphrase 42"});

    // Act: 22 h 30 min after the fixture was made, in UTC.
    clock.advance(Duration::from_secs(21 * 3600 + 1800));
    let in_zone = ahead.post(RESET_CONFIRM, &confirm).await;
    let in_utc = utc.post(RESET_CONFIRM, &confirm).await;

    // Assert
    assert_eq!(in_zone.status, 400, "24 h 30 min old by the original's clock: {:?}", in_zone.body);
    assert_eq!(in_utc.status, 200, "22 h 30 min old in UTC: {:?}", in_utc.body);
}
