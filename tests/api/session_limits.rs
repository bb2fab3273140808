//! Contract §12 `AUTHGATE_MAX_SESSIONS_PER_USER`: a sign-in beyond the
//! limit revokes the user's session used least recently (sign-in or latest
//! refresh), audited `session_evicted`; concurrent sign-ins at the limit
//! leave exactly the limit. Time moves on a manual clock.

use std::time::Duration;

use authgate::domain::Clock;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::helpers::*;

const LIMIT: u32 = 3;

async fn app_with_limit(clock: &Clock) -> TestApp {
    let clock = clock.clone();
    spawn_app_with(move |c| {
        c.max_sessions_per_user = LIMIT;
        c.clock = clock;
        // Eight sign-ins to one account at once: §14.1 counts each admitted
        // attempt until its verdict (so parallel guesses cannot outrun the
        // limit), which would delay some of them; not what this file tests.
        c.login_failures_before_delay = 0;
    })
    .await
}

/// The session id (`sid` claim) of a JWT, unverified.
fn sid_of(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let claims: Value = serde_json::from_slice(&B64.decode(payload).expect("base64url")).expect("a JSON payload");
    text(&claims["sid"])
}

/// The caller's live session ids, sorted.
async fn live_sids(app: &TestApp, access: &str) -> Vec<String> {
    let r = app.get(SESSIONS, Some(access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut ids: Vec<String> =
        r.body["data"]["sessions"].as_array().expect("a list").iter().map(|s| text(&s["id"])).collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&(String, String)]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|(access, _)| sid_of(access)).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_sign_in_beyond_the_limit_revokes_the_session_used_least_recently() {
    // Arrange
    let clock = Clock::manual();
    let app = app_with_limit(&clock).await;
    let (user_id, a_access, a_refresh) = app.signed_in(EMAIL).await;
    let mut a = (a_access, a_refresh);
    clock.advance(Duration::from_secs(60));
    let b = app.login(EMAIL, PASSWORD).await;
    clock.advance(Duration::from_secs(60));
    let c = app.login(EMAIL, PASSWORD).await;
    clock.advance(Duration::from_secs(60));
    a = app.refreshed(&a.1).await; // a, signed in first, is now the most recently used
    clock.advance(Duration::from_secs(60));

    // Act
    let d = app.login(EMAIL, PASSWORD).await;

    // Assert
    assert_eq!(live_sids(&app, &d.0).await, sorted(&[&a, &c, &d]), "b went");
    let events = app.audit_events("session_evicted").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].user_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(events[0].detail["session_id"], json!(sid_of(&b.0)));
    assert_eq!(events[0].outcome, "success");
}

#[tokio::test]
async fn an_evicted_sessions_refresh_and_access_tokens_are_refused() {
    // Arrange
    let clock = Clock::manual();
    let app = app_with_limit(&clock).await;
    let (_, old_access, old_refresh) = app.signed_in(EMAIL).await;
    for _ in 0..LIMIT {
        clock.advance(Duration::from_secs(1));
        app.login(EMAIL, PASSWORD).await;
    }

    // Act
    let me = app.get(ME, Some(&old_access)).await;
    let refreshed = app.refresh(&old_refresh).await;

    // Assert
    assert_unauthorized(&me, "the evicted session's access token");
    assert_unauthorized(&refreshed, "the evicted session's refresh token");
}

#[tokio::test]
async fn concurrent_sign_ins_at_the_limit_leave_exactly_the_limit() {
    // Arrange
    let clock = Clock::manual();
    let app = app_with_limit(&clock).await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let mut signed_in = 1;

    for round in 0..3 {
        // Act
        let replies = join_all((0..8).map(|_| login_reply(&app))).await;

        // Assert
        let tokens: Vec<String> = replies
            .iter()
            .map(|r| {
                assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
                text(&r.body["data"]["access"])
            })
            .collect();
        signed_in += tokens.len();
        let lists = join_all(tokens.iter().map(|t| app.get(SESSIONS, Some(t)))).await;
        let live: Vec<&Reply> = lists.iter().filter(|r| r.status == StatusCode::OK).collect();
        assert_eq!(live.len(), LIMIT as usize, "round {round}: the newest sessions are the live ones");
        for r in live {
            assert_eq!(r.body["data"]["sessions"].as_array().map(Vec::len), Some(LIMIT as usize), "{}", r.body);
        }
        let evicted = app.audit_events("session_evicted").await.len();
        assert_eq!(evicted, signed_in - LIMIT as usize, "round {round}: one event per eviction");
        clock.advance(Duration::from_secs(1));
    }
    assert_unauthorized(&app.get(ME, Some(&access)).await, "the first session went long ago");
}

async fn login_reply(app: &TestApp) -> Reply {
    app.post(LOGIN, &json!({"email_or_phone": EMAIL, "password": PASSWORD})).await
}

#[tokio::test]
async fn without_a_limit_no_session_is_evicted() {
    // Arrange
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;

    // Act
    for _ in 0..5 {
        app.login(EMAIL, PASSWORD).await;
    }

    // Assert
    assert_eq!(live_sids(&app, &access).await.len(), 6);
    assert!(app.audit_events("session_evicted").await.is_empty());
}
