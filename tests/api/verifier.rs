//! `authgate::Verifier`, the server's Bearer check for a Rust host
//! application: same keys (across a rotation), same session check.

use std::time::Duration;

use authgate::crypto::signing::JwtAlgorithm;
use serde_json::json;

use super::helpers::*;
use super::keys::{kid, rotate, with};

#[tokio::test]
async fn the_verifier_accepts_what_the_server_accepts_and_sees_revocation() {
    // Arrange
    let app = spawn_app_with(with(JwtAlgorithm::EdDsa)).await;
    let verifier = authgate::Verifier::new(app.peer_config(with(JwtAlgorithm::EdDsa))).await.expect("it builds");
    let (user_id, access, refresh) = app.signed_in(EMAIL).await;

    // Act
    let caller = verifier.verify(&access).await.expect("a live token verifies");

    // Assert
    assert_eq!(caller.user.id.to_string(), user_id);
    assert!(matches!(verifier.verify(&refresh).await, Err(authgate::Error::Unauthorized(_))), "a refresh token");
    assert!(matches!(verifier.verify("garbage").await, Err(authgate::Error::Unauthorized(_))));

    // A rotation reaches the verifier too.
    let new = rotate(&app, with(JwtAlgorithm::EdDsa)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (rotated, _) = app.login(EMAIL, PASSWORD).await;
    assert_eq!(kid(&rotated), new);
    assert!(verifier.verify(&rotated).await.is_ok(), "a token of the new key");

    let out = app.post_as(&access, LOGOUT, &json!({ "refresh": refresh })).await;
    assert_eq!(out.status, reqwest::StatusCode::OK, "{}", out.body);
    // The verifier is another instance: the revocation reaches it through
    // the feed, within 1 s (§17).
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while verifier.verify(&access).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "a revoked session still verifies after 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(verifier.verify(&access).await, Err(authgate::Error::Unauthorized(_))), "a revoked session");
}
