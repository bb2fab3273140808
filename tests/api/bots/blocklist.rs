//! §20 IP reputation: a client on a list of `AUTHGATE_IP_BLOCKLISTS` gets a
//! 403 on the routes that need no authentication, audited `blocked_ip`
//! once a minute per network; routes with a token, `/healthz` and
//! `/readyz` answer as usual; an edit to a list is in force within 5 s; a
//! deleted list leaves the last one read in force. The server trusts
//! 127.0.0.1 as a proxy, so `X-Forwarded-For` sets the client's address.

use std::path::PathBuf;
use std::time::Duration;

use authgate::Config;
use authgate::domain::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::super::helpers::*;

const REFUSAL: &str = "Requests from your network are not accepted.";
/// Listed alone.
const LISTED: &str = "203.0.113.9";
/// Its neighbour, not listed.
const NEIGHBOUR: &str = "203.0.113.10";
/// Inside the listed 198.51.100.0/24.
const IN_V4_NET: &str = "198.51.100.77";
/// Inside the listed 2001:db8:bad::/48.
const IN_V6_NET: &str = "2001:db8:bad:1::5";
const LIST: &str = "# test list (FireHOL netset)\n203.0.113.9\n198.51.100.0/24 # a network\n2001:db8:bad::/48\n";

struct Listed {
    app: TestApp,
    file: PathBuf,
    clock: Clock,
}

/// A server with `list` as its one blocklist file, behind 127.0.0.1 as a
/// trusted proxy, on a manual clock.
async fn listed(list: &str, configure: impl FnOnce(&mut Config)) -> Listed {
    let dir = std::env::temp_dir().join(format!("authgate-blocklist-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join("level1.netset");
    std::fs::write(&file, list).expect("the list is written");
    let clock = Clock::manual();
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
        c.defence.ip_blocklists = vec![file.clone()];
        c.clock = clock.clone();
        configure(c);
    })
    .await;
    Listed { app, file, clock }
}

impl Listed {
    async fn post_from(&self, ip: &str, path: &str, body: &Value) -> Reply {
        self.app.send_with_headers(Method::POST, path, None, Some(body), &[("x-forwarded-for", ip)]).await
    }

    async fn login_from(&self, ip: &str) -> Reply {
        self.post_from(ip, LOGIN, &json!({"email_or_phone": "nobody@example.com", "password": PASSWORD})).await
    }

    /// Waits until a sign-in from `ip` is refused (`true`) or not, failing
    /// after the contract's 5 s.
    async fn until_refused(&self, ip: &str, refused: bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let r = self.login_from(ip).await;
            if (r.status == StatusCode::FORBIDDEN) == refused {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{ip}: refused is not {refused} after 5 s: {}", r.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn assert_refused(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.body);
    assert_envelope(&r.body, false);
    assert_eq!(r.message(), REFUSAL, "{what}: {}", r.body);
}

#[tokio::test]
async fn a_listed_address_or_network_is_refused_where_no_authentication_is_needed() {
    // Arrange
    let l = listed(LIST, |_| {}).await;
    let routes = [
        (LOGIN, json!({"email_or_phone": "ana@example.com", "password": PASSWORD})),
        (REGISTER, json!({"email": unique_email(), "password": PASSWORD, "first_name": "Ana"})),
        (RESET_REQUEST, json!({"email_or_phone": "ana@example.com"})),
        ("/auth/login/", json!({"email_or_phone": "ana@example.com", "password": PASSWORD})),
        ("/api/v2/auth/register", json!({"email": unique_email(), "password": PASSWORD})),
    ];

    for ip in [LISTED, IN_V4_NET, IN_V6_NET, "::ffff:203.0.113.9"] {
        for (path, body) in &routes {
            // Act
            let r = l.post_from(ip, path, body).await;

            // Assert
            assert_refused(&r, &format!("POST {path} from {ip}"));
        }
    }
}

#[tokio::test]
async fn an_unlisted_client_is_answered_as_usual() {
    // Arrange
    let l = listed(LIST, |_| {}).await;
    let email = unique_email();

    // Act
    let body = json!({"email": email, "password": PASSWORD, "first_name": "Ana"});
    let register = l.post_from(NEIGHBOUR, REGISTER, &body).await;
    let login = l.post_from("2001:db8:bae::1", LOGIN, &json!({"email_or_phone": email, "password": PASSWORD})).await;
    let reset = l.post_from("198.51.101.1", RESET_REQUEST, &json!({"email_or_phone": email})).await;

    // Assert
    assert_eq!(register.status, StatusCode::CREATED, "{}", register.body);
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert!(l.app.audit_events("blocked_ip").await.is_empty());
}

#[tokio::test]
async fn routes_with_a_token_and_the_operational_routes_answer_a_listed_client() {
    // Arrange: signed in from an unlisted address.
    let l = listed(LIST, |_| {}).await;
    let (_, access, _) = l.app.signed_in(&unique_email()).await;
    let from_listed = [("x-forwarded-for", LISTED)];

    // Act
    let me = l.app.send_with_headers(Method::GET, ME, Some(&access), None, &from_listed).await;
    let health = l.app.send_with_headers(Method::GET, "/healthz/", None, None, &from_listed).await;
    let bare_health = l.app.send_with_headers(Method::GET, "/healthz", None, None, &from_listed).await;
    let ready = l.app.send_with_headers(Method::GET, "/readyz/", None, None, &from_listed).await;
    let jwks = l.app.send_with_headers(Method::GET, "/.well-known/jwks.json", None, None, &from_listed).await;

    // Assert
    assert_eq!(me.status, StatusCode::OK, "me: {}", me.body);
    assert_eq!(health.status, StatusCode::OK, "healthz: {}", health.body);
    assert_eq!(bare_health.status, StatusCode::OK, "healthz: {}", bare_health.body);
    assert_eq!(ready.status, StatusCode::OK, "readyz: {}", ready.body);
    assert_eq!(jwks.status, StatusCode::OK, "jwks: {}", jwks.body);
}

#[tokio::test]
async fn introspection_needs_its_service_token_and_is_not_refused() {
    // Arrange
    let l = listed(LIST, |c| c.introspection_tokens = vec![authgate::config::Secret("service-token-1".into())]).await;
    let (_, access, _) = l.app.signed_in(&unique_email()).await;

    // Act
    let r = l
        .app
        .send_with_headers(
            Method::POST,
            "/api/v1/auth/introspect/",
            Some("service-token-1"),
            Some(&json!({"token": access})),
            &[("x-forwarded-for", LISTED)],
        )
        .await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["active"], true);
}

#[tokio::test]
async fn a_refusal_is_audited_once_a_minute_per_network() {
    // Arrange
    let l = listed(LIST, |_| {}).await;

    // Act: a burst from one address and from one IPv6 /64, then another
    // from the first a minute later.
    for _ in 0..5 {
        assert_refused(&l.login_from(LISTED).await, "the burst");
    }
    for host in 1..=3 {
        assert_refused(&l.login_from(&format!("2001:db8:bad:1::{host}")).await, "the /64");
    }
    let in_the_burst = l.app.audit_events("blocked_ip").await;
    l.clock.advance(Duration::from_secs(61));
    assert_refused(&l.login_from(LISTED).await, "a minute later");

    // Assert
    assert_eq!(in_the_burst.len(), 2, "one per network: {in_the_burst:?}");
    let first = &in_the_burst[0];
    assert_eq!(first.outcome, "failure");
    assert_eq!(first.user_id, None);
    assert_eq!(first.ip.as_deref(), Some(LISTED));
    assert_eq!(first.detail, json!({"method": "POST", "path": LOGIN}));
    assert_eq!(in_the_burst[1].ip.as_deref(), Some("2001:db8:bad:1::1"));
    assert_eq!(l.app.audit_events("blocked_ip").await.len(), 3);
}

#[tokio::test]
async fn a_listed_client_spends_none_of_its_networks_rate_limit() {
    // Arrange: 3 requests a minute per client, an IPv6 client being its
    // /64; one address of a /64 listed.
    let l = listed("2001:db8:1:2::1\n", |c| {
        c.throttle_enabled = true;
        c.throttle_burst = "3/min".parse().expect("a rate");
    })
    .await;

    // Act
    let mut refused = Vec::new();
    for _ in 0..6 {
        refused.push(l.login_from("2001:db8:1:2::1").await.status);
    }
    let neighbour = l.login_from("2001:db8:1:2::2").await;

    // Assert
    assert!(refused.iter().all(|s| *s == StatusCode::FORBIDDEN), "403, never 429: {refused:?}");
    assert_eq!(neighbour.status, StatusCode::UNAUTHORIZED, "the /64's budget is whole: {}", neighbour.body);
}

#[tokio::test]
async fn an_edit_to_a_list_is_in_force_within_5_seconds() {
    // Arrange
    let l = listed(LIST, |_| {}).await;
    assert_refused(&l.login_from(LISTED).await, "before the edit");
    assert_ne!(l.login_from(NEIGHBOUR).await.status, StatusCode::FORBIDDEN);

    // Act: the address out, its neighbour in (a different length, so even
    // a coarse modified time shows the change).
    std::fs::write(&l.file, "# edited\n203.0.113.10/32\n198.51.100.0/24\n").expect("the list is edited");

    // Assert
    l.until_refused(NEIGHBOUR, true).await;
    l.until_refused(LISTED, false).await;
    assert_refused(&l.login_from(IN_V4_NET).await, "still listed");
    assert_ne!(l.login_from(IN_V6_NET).await.status, StatusCode::FORBIDDEN, "no longer listed");
}

#[tokio::test]
async fn a_deleted_list_leaves_the_last_one_read_in_force() {
    // Arrange
    let l = listed(LIST, |_| {}).await;

    // Act
    std::fs::remove_file(&l.file).expect("the list is deleted");

    // Assert: refused throughout a few of the watcher's looks (once a
    // second), then a list written again is read.
    let until = tokio::time::Instant::now() + Duration::from_millis(3_000);
    while tokio::time::Instant::now() < until {
        assert_refused(&l.login_from(LISTED).await, "after the deletion");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::write(&l.file, "192.0.2.0/24\n").expect("the list is back");
    l.until_refused("192.0.2.1", true).await;
    l.until_refused(LISTED, false).await;
}
