//! GitHub's OAuth 2.0 flow (§16), against the test provider's OAuth
//! endpoints and the GitHub API it serves (`/github/user`,
//! `/github/user/emails`): the verified primary email, no ID tokens.

use reqwest::StatusCode;
use serde_json::json;

use super::*;

#[tokio::test]
async fn github_signs_in_with_the_verified_primary_email() {
    let (app, _) = social_app().await;
    let start = app.url(&format!(
        "/api/v1/auth/social/github/start/?next={}",
        url::form_urlencoded::byte_serialize(NEXT.as_bytes()).collect::<String>()
    ));
    let ended = Browser::new().walk(&start, "gina", NEXT).await;
    let r = app.post(EXCHANGE, &json!({"code": ended.param("code")})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let user = &r.body["data"]["user"];
    assert_eq!(user["email"], json!("gina@example.com"), "the primary one");
    assert_eq!(user["auth_provider"], json!("github"));
    assert_eq!((user["first_name"].as_str(), user["last_name"].as_str()), (Some("Gina"), Some("Tester")));
    // Again: the same account (GitHub's numeric id is the subject).
    let ended = Browser::new().walk(&start, "gina", NEXT).await;
    let again = app.post(EXCHANGE, &json!({"code": ended.param("code")})).await;
    assert_eq!(again.body["data"]["user"]["id"], user["id"]);
    // A primary email GitHub has not verified is no email.
    let ended = Browser::new().walk(&start, "unverified:hal", NEXT).await;
    match ended {
        Ended::Answer(status, body) => {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["message"], json!("The provider did not share an email address."));
        }
        other => panic!("an unverified GitHub email signed in: {other:?}"),
    }
    // GitHub issues no ID tokens.
    let r = app.post(&social_path("github"), &json!({"id_token": id_token("gina", "n").await})).await;
    assert_field_error(&r, "id_token");
    assert_eq!(user_count(&app).await, 1);
}
