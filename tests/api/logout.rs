//! Contract §5: logout ends its session, and its tokens with it.

use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;
use super::tokens::forgeries;

// ----------------------------------------------------------------- logout

#[tokio::test]
async fn logout_revokes_the_session_so_its_refresh_token_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;

    // Act
    let r = app.post_as(&access, LOGOUT, &json!({ "refresh": refresh })).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let after = app.refresh(&refresh).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{}", after.body);
    assert_envelope(&after.body, false);
}

#[tokio::test]
async fn after_logout_the_access_tokens_of_that_session_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let (access2, refresh2) = app.refreshed(&refresh).await;
    let (other_access, _) = app.login(EMAIL, PASSWORD).await;

    // Act
    let r = app.post_as(&access2, LOGOUT, &json!({ "refresh": refresh2 })).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    for token in [&access, &access2] {
        let me = app.get(ME, Some(token)).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.body);
        assert_envelope(&me.body, false);
    }
    let other = app.get(ME, Some(&other_access)).await;
    assert_eq!(other.status, StatusCode::OK, "another session lives on: {}", other.body);
    assert_envelope(&other.body, true);
}

#[tokio::test]
async fn logout_with_another_users_refresh_token_is_a_400_on_refresh() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let (_, _, someone_elses) = app.signed_in("bob@example.com").await;

    // Act
    let r = app.post_as(&access, LOGOUT, &json!({ "refresh": someone_elses })).await;

    // Assert
    assert_field_error(&r, "refresh");
    app.refreshed(&someone_elses).await; // their session is untouched
}

#[tokio::test]
async fn logout_with_an_invalid_refresh_token_is_a_400_on_refresh() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let mut cases = vec![("an access token", access.clone())];
    cases.extend(forgeries(&refresh, &app.secret));

    for (how, token) in cases {
        // Act
        let r = app.post_as(&access, LOGOUT, &json!({ "refresh": token })).await;

        // Assert
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{how}: {}", r.body);
        assert_field_error(&r, "refresh");
    }
}

#[tokio::test]
async fn logout_without_a_refresh_token_is_a_400() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;

    for body in [json!({}), json!({"refresh": null}), json!({"refresh": " "})] {
        // Act
        let r = app.post_as(&access, LOGOUT, &body).await;

        // Assert
        assert_field_error(&r, "refresh");
    }
}

#[tokio::test]
async fn logout_without_a_bearer_token_is_a_401() {
    // Arrange
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let r = app.post(LOGOUT, &json!({ "refresh": refresh })).await;

    // Assert
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_envelope(&r.body, false);
    assert_eq!(r.message(), "Authentication credentials were not provided.");
    app.refreshed(&refresh).await; // nothing was revoked
}
