//! Linking an identity to a signed-in account and unlinking it (§16).

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;

fn link_path(provider: &str) -> String {
    format!("/api/v1/auth/social/{provider}/link/")
}

#[tokio::test]
async fn a_signed_in_account_links_and_unlinks_an_identity() {
    let (app, _) = social_app().await;
    let (user_id, access, _) = app.signed_in(&unique_email()).await;
    let token = id_token("zed", "n").await;
    let r = app.post(&link_path("corp"), &json!({"id_token": token})).await;
    assert_unauthorized(&r, "linking needs a Bearer token");
    let r = app.post_as(&access, &link_path("corp"), &json!({"id_token": token, "nonce": "n"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["id"], json!(user_id));
    let linked = app.audit_events("social_linked").await;
    assert_eq!(linked.len(), 1, "{linked:?}");
    // The identity now signs in to this account.
    let data = signed_in_with(&app, "zed").await;
    assert_eq!(data["user"]["id"], json!(user_id));
    // Another account cannot take it.
    let (_, other, _) = app.signed_in(&unique_email()).await;
    let r = app.post_as(&other, &link_path("corp"), &json!({"id_token": id_token("zed", "n").await})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // Nor can this account link a second identity of the same provider.
    let r = app.post_as(&access, &link_path("corp"), &json!({"id_token": id_token("yves", "n").await})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    // A forged token links nothing.
    let r = app.post_as(&access, &link_path("corp"), &json!({"id_token": "x.y.z"})).await;
    assert_unauthorized(&r, "a forged token");
    // Unlink: the password remains, so it may go.
    let r = app.send(Method::DELETE, &social_path("corp"), Some(&access), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let r = app.send(Method::DELETE, &social_path("corp"), Some(&access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.send(Method::DELETE, &social_path("nowhere"), Some(&access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(app.audit_events("social_unlinked").await.len(), 1);
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let (app, _) = social_app().await;
    let data = signed_in_with(&app, "alice").await;
    let access = text(&data["access"]);
    let r = app.send(Method::DELETE, &social_path("corp"), Some(&access), None).await;
    assert_field_error(&r, "non_field_errors");
    // With a GitHub identity linked as well, the first may go.
    let (verifier, challenge) = pkce();
    let code = provider_code("github", "alice", "n", &challenge).await;
    let body = json!({"code": code, "code_verifier": verifier, "redirect_uri": NATIVE_REDIRECT});
    let r = app.post_as(&access, "/api/v1/auth/social/github/link/", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.send(Method::DELETE, &social_path("corp"), Some(&access), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.send(Method::DELETE, &social_path("github"), Some(&access), None).await;
    assert_field_error(&r, "non_field_errors");
}
