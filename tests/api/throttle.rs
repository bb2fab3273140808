//! Contract §7: throttling. The harness turns throttling off; each test here
//! turns it on with rates of its own. Every request reaches the server from
//! 127.0.0.1: other client addresses arrive through `X-Forwarded-For` from
//! a trusted proxy.

use authgate::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;

const BURST_PATH: &str = LOGIN;
const SUSTAINED_PATH: &str = ME;

fn throttled(c: &mut Config, burst: &str, sustained: &str) {
    c.throttle_enabled = true;
    c.throttle_burst = burst.parse().unwrap();
    c.throttle_sustained = sustained.parse().unwrap();
}

fn behind_local_proxy(c: &mut Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// A burst-scope request (an empty login: a quick 400) as `token`, with
/// `X-Forwarded-For: xff` when given.
async fn burst(app: &TestApp, token: Option<&str>, xff: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = xff.map(|ip| ("x-forwarded-for", ip)).into_iter().collect();
    app.send_with_headers(Method::POST, BURST_PATH, token, Some(&json!({})), &headers).await
}

/// A sustained-scope request (GET me) as `token`.
async fn sustained(app: &TestApp, token: Option<&str>) -> Reply {
    app.get(SUSTAINED_PATH, token).await
}

/// Sends `n` requests with `send`, failing if any is throttled.
async fn all_pass<F, Fut>(n: usize, what: &str, mut send: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    for i in 1..=n {
        let r = send().await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{what}: request {i} of {n} was throttled: {}", r.body);
    }
}

/// A 429 with the envelope and a `Retry-After` of whole seconds (≥ 1).
fn assert_throttled(r: &Reply) -> u64 {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "expected a 429: {}", r.body);
    assert_envelope(&r.body, false);
    let retry_after = r.headers.get("retry-after").expect("a Retry-After header").to_str().unwrap();
    let secs: u64 = retry_after.parse().unwrap_or_else(|_| panic!("Retry-After {retry_after:?} is not whole seconds"));
    assert!(secs >= 1, "Retry-After is {secs}");
    secs
}

/// Registers `email` (as `role`) and signs in from `ip` (via the trusted
/// proxy), so that setting up spends none of 127.0.0.1's budget. Returns the
/// access and refresh tokens.
async fn session_from(app: &TestApp, ip: &str, email: &str, role: &str) -> (String, String) {
    let xff = [("x-forwarded-for", ip)];
    let body = json!({"email": email, "password": PASSWORD, "first_name": "Ana", "role": role});
    let r = app.send_with_headers(Method::POST, REGISTER, None, Some(&body), &xff).await;
    assert_eq!(r.status, StatusCode::CREATED, "registration failed: {}", r.body);
    let body = json!({"email_or_phone": email, "password": PASSWORD});
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &xff).await;
    assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
    (text(&r.body["data"]["access"]), text(&r.body["data"]["refresh"]))
}

/// `session_from`'s access token.
async fn signed_in_from(app: &TestApp, ip: &str, email: &str, role: &str) -> String {
    session_from(app, ip, email, role).await.0
}

/// Signs out the session of `refresh` (from `ip`).
async fn logout_from(app: &TestApp, ip: &str, access: &str, refresh: &str) {
    let body = json!({ "refresh": refresh });
    let r = app.send_with_headers(Method::POST, LOGOUT, Some(access), Some(&body), &[("x-forwarded-for", ip)]).await;
    assert_eq!(r.status, StatusCode::OK, "logout failed: {}", r.body);
}

#[tokio::test]
async fn the_eleventh_burst_request_in_a_minute_is_refused_for_that_ip_only() {
    let app = spawn_app_with(|c| {
        throttled(c, "10/min", "1000/day");
        behind_local_proxy(c);
    })
    .await;
    let a = "203.0.113.10";
    all_pass(10, "client A", || burst(&app, None, Some(a))).await;

    let r = burst(&app, None, Some(a)).await;
    let secs = assert_throttled(&r);
    assert!(secs <= 60, "Retry-After {secs} is beyond the period");
    assert!(r.message().contains("throttled"), "message: {}", r.body);
    assert_eq!(r.body["data"], Value::Null);

    // The same scope and client on every mount of the route, and on the
    // other burst routes: still refused.
    for path in ["/api/v2/auth/login", "/auth/login/", RESET_REQUEST, VERIFY_OTP] {
        let r = app.send_with_headers(Method::POST, path, None, Some(&json!({})), &[("x-forwarded-for", a)]).await;
        assert_throttled(&r);
    }

    // Another client address behind the proxy, and the proxy itself: unaffected.
    all_pass(10, "client B", || burst(&app, None, Some("203.0.113.11"))).await;
    all_pass(10, "the proxy", || burst(&app, None, None)).await;
    assert_throttled(&burst(&app, None, Some("203.0.113.11")).await);
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = spawn_app_with(|c| throttled(c, "10/min", "1000/day")).await;
    for i in 1..=10 {
        let r = burst(&app, None, Some(&format!("198.51.100.{i}"))).await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "request {i}: {}", r.body);
    }
    assert_throttled(&burst(&app, None, Some("198.51.100.99")).await);
    assert_throttled(&burst(&app, None, None).await);
}

#[tokio::test]
async fn signed_in_limits_are_multiplied_by_role() {
    let app = spawn_app_with(|c| {
        throttled(c, "1000/min", "2/hour");
        behind_local_proxy(c);
    })
    .await;
    let client = signed_in_from(&app, "192.0.2.1", &unique_email(), "client").await;
    let vendor = signed_in_from(&app, "192.0.2.2", &unique_email(), "vendor").await;

    all_pass(2, "client", || sustained(&app, Some(&client))).await;
    assert_throttled(&sustained(&app, Some(&client)).await);

    all_pass(4, "vendor", || sustained(&app, Some(&vendor))).await;
    assert_throttled(&sustained(&app, Some(&vendor)).await);

    // Staff (×5) and admins (×10): roles no one picks for themselves.
    for (role, allowed) in [("staff", 10), ("admin", 20)] {
        let email = unique_email();
        let xff = [("x-forwarded-for", "192.0.2.3")];
        let body = json!({"email": email, "password": PASSWORD, "first_name": "Ana"});
        let r = app.send_with_headers(Method::POST, REGISTER, None, Some(&body), &xff).await;
        assert_eq!(r.status, StatusCode::CREATED, "registration failed: {}", r.body);
        app.make_role(&text(&r.body["data"]["user"]["id"]), role).await;
        let body = json!({"email_or_phone": email, "password": PASSWORD});
        let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &xff).await;
        assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
        let token = text(&r.body["data"]["access"]);
        all_pass(allowed, role, || sustained(&app, Some(&token))).await;
        assert_throttled(&sustained(&app, Some(&token)).await);
    }

    // Anonymous callers get the plain rate, by address.
    all_pass(2, "anonymous", || sustained(&app, None)).await;
    assert_throttled(&sustained(&app, None).await);
}

#[tokio::test]
async fn burst_and_sustained_count_apart() {
    let app = spawn_app_with(|c| throttled(c, "2/min", "3/min")).await;
    all_pass(2, "burst", || burst(&app, None, None)).await;
    assert_throttled(&burst(&app, None, None).await);

    // The burst budget is spent; the sustained one is whole.
    all_pass(3, "sustained", || sustained(&app, None)).await;
    let r = sustained(&app, None).await;
    let secs = assert_throttled(&r);
    assert!(secs <= 20, "Retry-After {secs}: one request of 3/min comes back within 20 s");
    assert_throttled(&burst(&app, None, None).await);
}

/// A wrong login for an address nobody has (each time another, so the
/// per-account delay of §14.1 never applies), as `token`, from `xff`.
async fn wrong_login(app: &TestApp, token: Option<&str>, xff: &str) -> Reply {
    let body = json!({"email_or_phone": unique_email(), "password": "not the password"});
    app.send_with_headers(Method::POST, LOGIN, token, Some(&body), &[("x-forwarded-for", xff)]).await
}

/// Security review, finding 1: one address with N throwaway accounts got
/// N × 10 login guesses a minute, because any signature-valid access token
/// moved a request to a per-user key, even a logged-out session's.
#[tokio::test]
async fn tokens_do_not_move_sign_in_attempts_out_of_their_address_limit() {
    // Arrange
    let app = spawn_app_with(|c| {
        throttled(c, "10/min", "1000/day");
        behind_local_proxy(c);
    })
    .await;
    let mut tokens = Vec::new();
    for i in 1..=2 {
        tokens.push(signed_in_from(&app, &format!("192.0.2.{i}"), &unique_email(), "client").await);
    }
    let (logged_out, refresh) = session_from(&app, "192.0.2.3", &unique_email(), "client").await;
    logout_from(&app, "192.0.2.3", &logged_out, &refresh).await;
    tokens.push(logged_out);

    // Act and assert: without tokens, 10 wrong logins then 429.
    for i in 1..=10 {
        let r = wrong_login(&app, None, "203.0.113.7").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}: {}", r.body);
    }
    assert_throttled(&wrong_login(&app, None, "203.0.113.7").await);
    assert_throttled(&wrong_login(&app, None, "203.0.113.7").await);

    // With a token each time, from another address: the same 10.
    let mut refused = 0;
    for i in 0..30 {
        let r = wrong_login(&app, Some(&tokens[i % 3]), "203.0.113.8").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        } else {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}: {}", r.body);
        }
    }
    assert_eq!(refused, 20, "10 of 30 wrong logins pass, whatever tokens they carry");
}

/// On a route that needs a Bearer token, only a token that passes the whole
/// check (a live session) selects the user's budget; a revoked session's
/// token counts against the address, like no token.
#[tokio::test]
async fn a_revoked_sessions_token_counts_against_the_address() {
    // Arrange
    let app = spawn_app_with(|c| {
        throttled(c, "1000/min", "3/hour");
        behind_local_proxy(c);
    })
    .await;
    let live = signed_in_from(&app, "192.0.2.1", &unique_email(), "client").await;
    let (revoked, refresh) = session_from(&app, "192.0.2.2", &unique_email(), "client").await;
    logout_from(&app, "192.0.2.2", &revoked, &refresh).await;

    // Act: the revoked token from 127.0.0.1, then no token from there.
    for i in 1..=2 {
        assert_unauthorized(&sustained(&app, Some(&revoked)).await, &format!("revoked token, request {i}"));
    }
    assert_unauthorized(&sustained(&app, None).await, "anonymous");

    // Assert: the address's 3 are spent; the live session has its own.
    assert_throttled(&sustained(&app, Some(&revoked)).await);
    assert_throttled(&sustained(&app, None).await);
    all_pass(3, "the live session", || sustained(&app, Some(&live))).await;
    assert_throttled(&sustained(&app, Some(&live)).await);
}

/// An IPv6 client can use any address of its /64: it gets one budget.
#[tokio::test]
async fn ipv6_clients_share_one_budget_per_64() {
    // Arrange
    let app = spawn_app_with(|c| {
        throttled(c, "3/min", "1000/day");
        behind_local_proxy(c);
    })
    .await;

    // Act
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd::3"] {
        let r = burst(&app, None, Some(ip)).await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{ip}: {}", r.body);
    }

    // Assert
    assert_throttled(&burst(&app, None, Some("2001:db8:1:2:ffff::9")).await);
    let r = burst(&app, None, Some("2001:db8:1:3::1")).await;
    assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "the next /64 is another client: {}", r.body);
}

#[tokio::test]
async fn with_throttling_off_nothing_is_refused() {
    let app = spawn_app_with(|c| {
        c.throttle_burst = "1/day".parse().unwrap();
        c.throttle_sustained = "1/day".parse().unwrap();
    })
    .await;
    all_pass(15, "burst", || burst(&app, None, None)).await;
    all_pass(15, "sustained", || sustained(&app, None)).await;
}

/// Contract §7 with `AUTHGATE_REDIS_URL`: two instances on one Redis share
/// one burst budget. Runs only when `AUTHGATE_TEST_REDIS_URL` is set.
#[tokio::test]
async fn two_instances_on_one_redis_share_the_burst_budget() {
    let Some(url) = std::env::var("AUTHGATE_TEST_REDIS_URL").ok().filter(|u| !u.trim().is_empty()) else {
        eprintln!("skipping two_instances_on_one_redis_share_the_burst_budget: AUTHGATE_TEST_REDIS_URL is not set");
        return;
    };
    let configure = |c: &mut Config| {
        throttled(c, "10/min", "1000/day");
        behind_local_proxy(c);
        c.redis_url = Some(url.clone());
        c.redis_fail_open = false;
    };
    let a = spawn_app_with(configure).await;
    let b = a.spawn_peer(configure).await;
    // A client /64 of this run only (in fd00::/8), so runs never share
    // counters (an IPv6 client is counted by its /64).
    let id = uuid::Uuid::new_v4().as_u128() >> 72;
    let ip = std::net::Ipv6Addr::from((0xfd_u128 << 120) | (id << 64) | 1).to_string();

    for i in 1..=10 {
        let app = if i % 2 == 0 { &a } else { &b };
        let r = burst(app, None, Some(&ip)).await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "request {i} of 10 was throttled: {}", r.body);
    }
    let secs = assert_throttled(&burst(&a, None, Some(&ip)).await);
    assert!((1..=6).contains(&secs), "Retry-After {secs}: one request of 10/min comes back within 6 s");
    assert_throttled(&burst(&b, None, Some(&ip)).await);

    // Another address still has its budget on either instance.
    let other = std::net::Ipv6Addr::from((0xfd_u128 << 120) | ((id ^ 1) << 64) | 1).to_string();
    all_pass(5, "another client on A", || burst(&a, None, Some(&other))).await;
    all_pass(5, "another client on B", || burst(&b, None, Some(&other))).await;
    assert_throttled(&burst(&a, None, Some(&other)).await);
}
