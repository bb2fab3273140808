//! Contract §4 reuse grace: within the grace only the client that rotated
//! (the same user agent from the same network) is handed the session's
//! current refresh token again; anyone else gets a 401, the session lives
//! on, and the attempt is audited `token_reuse_suspected`. Client
//! addresses arrive through `X-Forwarded-For` from the trusted 127.0.0.1.

use std::time::Duration;

use authgate::domain::Clock;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::helpers::*;

const OWNER_IP: &str = "203.0.113.9";
const OWNER_AGENT: &str = "shop-app/4.2 (iPhone)";
const THIEF_IP: &str = "198.51.100.7";

async fn app_behind_proxy(clock: &Clock) -> TestApp {
    let clock = clock.clone();
    spawn_app_with(move |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
        c.clock = clock;
    })
    .await
}

/// A refresh from `ip` with the user agent `agent`.
async fn refresh_from(app: &TestApp, refresh: &str, ip: &str, agent: &str) -> Reply {
    let headers = [("x-forwarded-for", ip), ("user-agent", agent)];
    app.send_with_headers(Method::POST, REFRESH, None, Some(&json!({ "refresh": refresh })), &headers).await
}

/// The owner signs in and rotates once from their phone: `(user id, the
/// retired token, the newest one)`.
async fn rotated_by_owner(app: &TestApp) -> (String, String, String) {
    let (user_id, _, first) = app.signed_in(EMAIL).await;
    let r = refresh_from(app, &first, OWNER_IP, OWNER_AGENT).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (user_id, first, text(&r.body["data"]["refresh"]))
}

fn assert_refused_with_nothing(r: &Reply, what: &str) {
    assert_unauthorized(r, what);
    assert_eq!(r.body["data"], json!(null), "{what}: no token of any kind: {}", r.body);
}

#[tokio::test]
async fn within_the_grace_the_rotated_token_from_another_network_is_refused_and_the_session_lives_on() {
    // Arrange
    let clock = Clock::manual();
    let app = app_behind_proxy(&clock).await;
    let (_, retired, newest) = rotated_by_owner(&app).await;

    // Act
    let thief = refresh_from(&app, &retired, THIEF_IP, OWNER_AGENT).await;

    // Assert
    assert_refused_with_nothing(&thief, "the same agent from another network");
    let owner = refresh_from(&app, &newest, OWNER_IP, OWNER_AGENT).await;
    assert_eq!(owner.status, StatusCode::OK, "the owner's newest token still works: {}", owner.body);
}

#[tokio::test]
async fn within_the_grace_the_rotated_token_with_another_user_agent_is_refused_and_the_session_lives_on() {
    // Arrange
    let clock = Clock::manual();
    let app = app_behind_proxy(&clock).await;
    let (_, retired, newest) = rotated_by_owner(&app).await;

    // Act
    let other_agent = refresh_from(&app, &retired, OWNER_IP, "curl/8.5.0").await;

    // Assert
    assert_refused_with_nothing(&other_agent, "another agent from the owner's address");
    let owner = refresh_from(&app, &newest, OWNER_IP, OWNER_AGENT).await;
    assert_eq!(owner.status, StatusCode::OK, "the owner's newest token still works: {}", owner.body);
}

#[tokio::test]
async fn a_refused_presentation_within_the_grace_is_audited_with_both_addresses() {
    // Arrange
    let clock = Clock::manual();
    let app = app_behind_proxy(&clock).await;
    let (user_id, retired, _) = rotated_by_owner(&app).await;

    // Act
    let thief = refresh_from(&app, &retired, THIEF_IP, "thief/1.0").await;

    // Assert
    assert_unauthorized(&thief, "the thief");
    let events = app.audit_events("token_reuse_suspected").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.outcome, "failure");
    assert_eq!(e.user_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(e.ip.as_deref(), Some(THIEF_IP), "the event's client is the presenter: {e:?}");
    assert_eq!(e.user_agent.as_deref(), Some("thief/1.0"));
    assert_eq!(e.detail["presented_ip"], json!(THIEF_IP), "{e:?}");
    assert_eq!(e.detail["rotated_ip"], json!(OWNER_IP), "{e:?}");
    assert!(app.audit_events("token_reuse").await.is_empty(), "nothing was revoked");
}

#[tokio::test]
async fn within_the_grace_the_rotating_client_gets_the_same_token_from_another_address_of_its_network() {
    // Arrange
    let clock = Clock::manual();
    let app = app_behind_proxy(&clock).await;
    let (_, retired, newest) = rotated_by_owner(&app).await;
    clock.advance(Duration::from_secs(9));

    // Act
    let retry = refresh_from(&app, &retired, "203.0.113.77", OWNER_AGENT).await;

    // Assert
    assert_eq!(retry.status, StatusCode::OK, "same /24, same agent: {}", retry.body);
    assert_eq!(text(&retry.body["data"]["refresh"]), newest, "byte for byte");
    assert!(app.audit_events("token_reuse_suspected").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_from_one_client_behind_a_proxy_all_get_the_same_token() {
    // Arrange
    let clock = Clock::manual();
    let app = app_behind_proxy(&clock).await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;

    // Act
    let replies = join_all((0..20).map(|_| refresh_from(&app, &refresh, OWNER_IP, OWNER_AGENT))).await;

    // Assert
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_envelope(&r.body, true);
    }
    let first = &replies[0].body["data"]["refresh"];
    assert!(replies.iter().all(|r| &r.body["data"]["refresh"] == first), "{replies:#?}");
    assert!(app.audit_events("token_reuse_suspected").await.is_empty());
}

#[tokio::test]
async fn after_the_grace_the_rotated_token_from_another_client_revokes_the_session() {
    // Arrange
    let clock = Clock::manual();
    let app = app_behind_proxy(&clock).await;
    let (_, retired, newest) = rotated_by_owner(&app).await;
    clock.advance(Duration::from_secs(11));

    // Act
    let thief = refresh_from(&app, &retired, THIEF_IP, "thief/1.0").await;

    // Assert
    assert_unauthorized(&thief, "reuse after the grace");
    let owner = refresh_from(&app, &newest, OWNER_IP, OWNER_AGENT).await;
    assert_unauthorized(&owner, "the session was revoked");
    assert_eq!(app.audit_events("token_reuse").await.len(), 1);
    assert!(app.audit_events("token_reuse_suspected").await.is_empty());
}

#[tokio::test]
async fn after_the_grace_even_the_rotating_client_presenting_the_rotated_token_revokes_the_session() {
    // Arrange
    let clock = Clock::manual();
    let app = app_behind_proxy(&clock).await;
    let (_, retired, newest) = rotated_by_owner(&app).await;
    clock.advance(Duration::from_secs(10));

    // Act
    let late = refresh_from(&app, &retired, OWNER_IP, OWNER_AGENT).await;

    // Assert
    assert_unauthorized(&late, "reuse at the end of the grace");
    assert_unauthorized(&refresh_from(&app, &newest, OWNER_IP, OWNER_AGENT).await, "the session was revoked");
}
