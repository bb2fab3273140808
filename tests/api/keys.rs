//! Asymmetric signing keys (contract §17): every algorithm signs in,
//! authenticates and refreshes; tokens name their key; HS256 and key-pair
//! instances refuse each other's tokens; rotation keeps old tokens valid
//! until they expire, reaches every instance within a second, and the
//! private keys rest sealed.

use std::time::{Duration, Instant};

use authgate::Config;
use authgate::crypto::signing::JwtAlgorithm;
use authgate::domain::Clock;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::helpers::*;

pub const JWKS: &str = "/.well-known/jwks.json";

pub fn with(alg: JwtAlgorithm) -> impl FnOnce(&mut Config) {
    move |c| c.jwt_algorithm = alg
}

/// The decoded JOSE header of a token.
pub fn header(token: &str) -> Value {
    let head = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&B64.decode(head).expect("base64url")).expect("a JSON header")
}

pub fn kid(token: &str) -> String {
    header(token)["kid"].as_str().unwrap_or_else(|| panic!("no kid in {}", header(token))).to_string()
}

/// The JWK Set: a bare JSON object, not the envelope.
pub async fn jwks(app: &TestApp) -> Value {
    let res = app.request(Method::GET, JWKS).send_raw().await.expect("the JWKS answers");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    res.json().await.expect("JSON")
}

pub async fn published_kids(app: &TestApp) -> Vec<String> {
    let set = jwks(app).await;
    set["keys"].as_array().expect("keys").iter().map(|k| k["kid"].as_str().expect("a kid").to_string()).collect()
}

/// Waits (up to `within`) until `app` publishes `kid`; how long it took.
pub async fn until_published(app: &TestApp, kid: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if published_kids(app).await.iter().any(|k| k == kid) {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{kid} not published within {within:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Rotates the key of `app`'s database as `authgate keys rotate` does and
/// returns the new kid.
pub async fn rotate(app: &TestApp, configure: impl FnOnce(&mut Config)) -> String {
    let key = authgate::rotate_signing_key(&app.peer_config(configure)).await.expect("the rotation succeeds");
    assert!(key.active);
    key.kid
}

#[tokio::test]
async fn each_key_pair_algorithm_signs_in_authenticates_and_refreshes() {
    for alg in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256, JwtAlgorithm::Rs256] {
        // Arrange
        let app = spawn_app_with(with(alg)).await;

        // Act
        let (_, access, refresh) = app.signed_in(EMAIL).await;
        let me = app.get(ME, Some(&access)).await;
        let (access2, refresh2) = app.refreshed(&refresh).await;

        // Assert
        assert_eq!(me.status, StatusCode::OK, "{alg}: {}", me.body);
        for token in [&access, &refresh, &access2, &refresh2] {
            assert_eq!(header(token)["alg"], alg.as_str());
        }
        let published = published_kids(&app).await;
        assert_eq!(published, [kid(&access)], "{alg}: one key, the one that signed");
        assert_eq!(jwks(&app).await["keys"][0]["alg"], alg.as_str());
        assert_eq!(app.get(ME, Some(&access2)).await.status, StatusCode::OK, "{alg}");
    }
}

#[tokio::test]
async fn with_hs256_the_jwks_is_empty_and_tokens_carry_no_kid() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    assert_eq!(jwks(&app).await, serde_json::json!({"keys": []}));
    assert_eq!(header(&access), serde_json::json!({"alg": "HS256", "typ": "JWT"}));
}

#[tokio::test]
async fn hs256_and_key_pair_instances_refuse_each_others_tokens() {
    // Arrange: one database, one secret, two algorithms.
    let hs = spawn_app().await;
    let ed = hs.spawn_peer(with(JwtAlgorithm::EdDsa)).await;
    let (_, hs_access, hs_refresh) = hs.signed_in(EMAIL).await;
    let (ed_access, ed_refresh) = ed.login(EMAIL, PASSWORD).await;

    // Act + Assert
    assert_unauthorized(&ed.get(ME, Some(&hs_access)).await, "an HS256 access token on an EdDSA instance");
    assert_unauthorized(&ed.refresh(&hs_refresh).await, "an HS256 refresh token on an EdDSA instance");
    assert_unauthorized(&hs.get(ME, Some(&ed_access)).await, "an EdDSA access token on an HS256 instance");
    assert_unauthorized(&hs.refresh(&ed_refresh).await, "an EdDSA refresh token on an HS256 instance");
    assert_eq!(ed.get(ME, Some(&ed_access)).await.status, StatusCode::OK);
    assert_eq!(hs.get(ME, Some(&hs_access)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_signed_before_a_rotation_verifies_after_it() {
    // Arrange
    let clock = Clock::manual();
    let c = clock.clone();
    let app = spawn_app_with(move |cfg| {
        cfg.jwt_algorithm = JwtAlgorithm::Es256;
        cfg.clock = c;
    })
    .await;
    let (_, access, refresh) = app.signed_in(EMAIL).await;
    let old = kid(&access);

    // Act
    let new = rotate(&app, with(JwtAlgorithm::Es256)).await;
    until_published(&app, &new, Duration::from_secs(1)).await;
    clock.advance(Duration::from_secs(4 * 60));

    // Assert
    assert_ne!(old, new);
    assert_eq!(app.get(ME, Some(&access)).await.status, StatusCode::OK, "the old key still verifies");
    let (access2, refresh2) = app.refreshed(&refresh).await;
    assert_eq!(kid(&access2), new, "new tokens are signed with the new key");
    assert_eq!(kid(&refresh2), new);
    assert_eq!(published_kids(&app).await.len(), 2, "both keys are published");
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_once_its_last_token_has_expired() {
    // Arrange: a refresh token signed by the old key, which then retires.
    let clock = Clock::manual();
    let c = clock.clone();
    let app = spawn_app_with(move |cfg| {
        cfg.jwt_algorithm = JwtAlgorithm::EdDsa;
        cfg.clock = c;
    })
    .await;
    let (_, _, refresh) = app.signed_in(EMAIL).await;
    let old = kid(&refresh);
    let new = rotate(&app, with(JwtAlgorithm::EdDsa)).await;
    until_published(&app, &new, Duration::from_secs(1)).await;
    let ttl = Duration::from_secs(24 * 3600);

    // Act + Assert: just before the refresh token expires, its key verifies.
    clock.advance(ttl - Duration::from_secs(5));
    assert!(published_kids(&app).await.contains(&old), "retired too early");
    let (access, _) = app.refreshed(&refresh).await;
    assert_eq!(kid(&access), new);

    // Within 10 s of the last token's expiry the old key is gone.
    clock.advance(Duration::from_secs(15));
    assert_eq!(published_kids(&app).await, [new]);
}

#[tokio::test]
async fn a_second_instance_picks_up_a_rotation_within_a_second() {
    // Arrange
    let a = spawn_app_with(with(JwtAlgorithm::EdDsa)).await;
    let b = a.spawn_peer(with(JwtAlgorithm::EdDsa)).await;
    let (_, _, refresh) = a.signed_in(EMAIL).await;
    assert_eq!(published_kids(&b).await, [kid(&refresh)], "both instances share the first key");

    // Act
    let new = rotate(&a, with(JwtAlgorithm::EdDsa)).await;
    let took = until_published(&b, &new, Duration::from_secs(1)).await;

    // Assert
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (access, _) = b.refreshed(&refresh).await;
    assert_eq!(kid(&access), new, "B signs with the new key");
    assert_eq!(a.get(ME, Some(&access)).await.status, StatusCode::OK, "A verifies it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_agree_on_one_key() {
    // Arrange: a database without keys.
    let first = spawn_app().await;

    // Act
    let peers = futures::future::join_all((0..3).map(|_| first.spawn_peer(with(JwtAlgorithm::EdDsa)))).await;

    // Assert
    let rows = first.signing_key_rows().await;
    assert_eq!(rows.len(), 1, "one key for all: {:?}", rows.iter().map(|r| &r.0).collect::<Vec<_>>());
    for peer in &peers {
        assert_eq!(published_kids(peer).await, [rows[0].0.clone()]);
    }
}

#[tokio::test]
async fn private_keys_are_stored_sealed() {
    // Arrange
    let app = spawn_app_with(with(JwtAlgorithm::EdDsa)).await;
    let published = jwks(&app).await["keys"][0].clone();

    // Act
    let (kid, alg, stored, retired) = app.signing_key_rows().await.remove(0);

    // Assert: the row holds no key in clear; the secret opens it, and the
    // key it holds is the published one.
    assert_eq!((alg.as_str(), retired), ("EdDSA", false));
    let raw = B64.decode(&stored).expect("base64url");
    assert!(
        ed25519_dalek::pkcs8::DecodePrivateKey::from_pkcs8_der(&raw).map(|_: ed25519_dalek::SigningKey| ()).is_err()
    );
    let der = authgate::crypto::sealing::Sealer::new(TEST_SECRET.as_bytes()).open(&kid, &stored).expect("it opens");
    let key: ed25519_dalek::SigningKey = ed25519_dalek::pkcs8::DecodePrivateKey::from_pkcs8_der(&der).expect("PKCS#8");
    assert!(!raw.windows(32).any(|w| w == key.to_bytes().as_slice()), "the private key is not in the row");
    assert_eq!(published["x"], B64.encode(key.verifying_key().as_bytes()));
    let other = authgate::crypto::sealing::Sealer::new(b"another secret of at least 32 characters");
    assert!(other.open(&kid, &stored).is_none(), "another secret cannot open it");
}
