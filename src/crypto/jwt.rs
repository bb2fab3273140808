//! SimpleJWT-compatible tokens: HS256 (or a key pair, contract §17),
//! `token_type`/`exp`/`iat`/`jti`/`user_id` claims, plus `role` and `sid`
//! (the session).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::signing::{JwtAlgorithm, KeyRing};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
    /// A sign-in waiting for its second factor (§15.2): good only for
    /// `mfa/verify`.
    Mfa,
}

/// Field order follows SimpleJWT's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub user_id: String,
    /// Absent from an `mfa` token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Not before: authgate never sets it, but a token that carries one is
    /// held to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is invalid or expired")]
    Invalid,
    #[error("token has the wrong type")]
    WrongType,
}

/// Signing and checking keys: the secret (HS256), or a ring of key pairs
/// (contract §17) that a background reload swaps as keys rotate, read
/// without a lock by every request.
#[derive(Clone)]
pub struct JwtKeys(Keys);

// Built once per service and never moved on a request's path: the size of
// the secret's variant costs nothing, a box would cost HS256 a pointer.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Keys {
    Secret { encoding: EncodingKey, decoding: DecodingKey, validation: Validation },
    Pairs(Arc<ArcSwap<KeyRing>>),
}

impl JwtKeys {
    /// HS256 with `secret`, as SimpleJWT signs.
    pub fn new(secret: &[u8]) -> JwtKeys {
        // Only HS256 is accepted: `alg: none` or any other header is refused.
        let validation = super::signing::validation(JwtAlgorithm::Hs256);
        JwtKeys(Keys::Secret {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Signs with the ring's active key; checks with any key of the ring
    /// still usable. Tokens signed with another algorithm are refused.
    pub fn pairs(ring: KeyRing) -> JwtKeys {
        JwtKeys(Keys::Pairs(Arc::new(ArcSwap::from_pointee(ring))))
    }

    /// The ring in use, `None` with HS256.
    pub fn ring(&self) -> Option<Arc<KeyRing>> {
        match &self.0 {
            Keys::Secret { .. } => None,
            Keys::Pairs(ring) => Some(ring.load_full()),
        }
    }

    /// A handle to replace the ring with (a rotation seen by the reload)
    /// that does not keep the keys alive; `None` with HS256.
    pub fn handle(&self) -> Option<RingHandle> {
        match &self.0 {
            Keys::Secret { .. } => None,
            Keys::Pairs(ring) => Some(RingHandle(Arc::downgrade(ring))),
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        match &self.0 {
            Keys::Secret { encoding, .. } => jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, encoding)
                .expect("HS256 signing of plain claims cannot fail"),
            Keys::Pairs(ring) => {
                let ring = ring.load();
                let key = ring.active();
                jsonwebtoken::encode(&key.header, claims, &key.encoding).expect("a loaded key pair signs")
            }
        }
    }

    /// Verifies the signature, that the token is of `kind`, and its times
    /// at `now` (unix seconds): expired at `exp` (SimpleJWT allows no
    /// leeway), and refused when `iat` or `nbf` lies more than
    /// [`FUTURE_LEEWAY`] seconds ahead (contract §14.4).
    pub fn verify(&self, token: &str, kind: TokenType, now: i64) -> Result<Claims, TokenError> {
        let c = match &self.0 {
            Keys::Secret { decoding, validation, .. } => {
                jsonwebtoken::decode::<Claims>(token, decoding, validation).map_err(|_| TokenError::Invalid)?.claims
            }
            Keys::Pairs(ring) => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
                let ring = ring.load();
                let key = header.kid.as_deref().and_then(|kid| ring.find(kid)).ok_or(TokenError::Invalid)?;
                if !key.usable_at(now) {
                    return Err(TokenError::Invalid);
                }
                jsonwebtoken::decode::<Claims>(token, &key.decoding, &key.validation)
                    .map_err(|_| TokenError::Invalid)?
                    .claims
            }
        };
        let from_the_future = |t: Option<i64>| t.is_some_and(|t| t > now.saturating_add(FUTURE_LEEWAY));
        if c.exp <= now || from_the_future(Some(c.iat)) || from_the_future(c.nbf) {
            return Err(TokenError::Invalid);
        }
        if c.token_type != kind {
            return Err(TokenError::WrongType);
        }
        Ok(c)
    }

    /// The public keys (JWKs, RFC 7517) that may still verify a live token
    /// at `now`: none with HS256.
    pub fn published(&self, now: i64) -> Vec<serde_json::Value> {
        match &self.0 {
            Keys::Secret { .. } => Vec::new(),
            Keys::Pairs(ring) => ring.load().keys.iter().filter(|k| k.usable_at(now)).map(|k| k.jwk.clone()).collect(),
        }
    }
}

/// Tokens the Django original minted (contract §18): HS256 with the
/// secret whatever algorithm this instance signs with, no `sid`, accepted
/// until the legacy window ends (unix seconds). The window set by
/// `AUTHGATE_LEGACY_TOKENS_UNTIL` is fixed; the default one, which an
/// import moves while instances serve, is re-read from the database at
/// most every `LEGACY_REREAD_SECS` (see `flows::auth::legacy_claims`).
pub struct LegacyTokens {
    keys: JwtKeys,
    /// The end of the window; `CLOSED` when there is none.
    until: AtomicI64,
    fixed: bool,
    /// When the stored window was last read.
    read_at: AtomicI64,
}

const CLOSED: i64 = i64::MIN;

/// How often a closed default window is looked for again.
pub const LEGACY_REREAD_SECS: i64 = 5;

impl LegacyTokens {
    /// Legacy tokens checked with `secret`: until `until` for good when
    /// `fixed`, else until the window stored in the database, read at `now`.
    pub fn new(secret: &[u8], until: Option<i64>, fixed: bool, now: i64) -> LegacyTokens {
        LegacyTokens {
            keys: JwtKeys::new(secret),
            until: AtomicI64::new(until.unwrap_or(CLOSED)),
            fixed,
            read_at: AtomicI64::new(now),
        }
    }

    /// The claims of a well-signed, unexpired legacy token of `kind`,
    /// whether or not the window is open.
    pub fn verify(&self, token: &str, kind: TokenType, now: i64) -> Option<Claims> {
        self.keys.verify(token, kind, now).ok().filter(|c| c.sid.is_none())
    }

    /// True while the window is open at `now`.
    pub fn open(&self, now: i64) -> bool {
        now < self.until.load(Ordering::Relaxed)
    }

    /// True when the stored window should be read again at `now`; the one
    /// caller that gets true does the read (others go on with what is known).
    pub fn due(&self, now: i64) -> bool {
        let last = self.read_at.load(Ordering::Relaxed);
        !self.fixed
            && now - last >= LEGACY_REREAD_SECS
            && self.read_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// What the database holds now.
    pub fn set(&self, until: Option<i64>) {
        self.until.store(until.unwrap_or(CLOSED), Ordering::Relaxed);
    }
}

/// Where a reload puts a new ring, for as long as the keys are in use.
pub struct RingHandle(Weak<ArcSwap<KeyRing>>);

impl RingHandle {
    /// The ring in use, or `None` once the keys are dropped.
    pub fn current(&self) -> Option<Arc<KeyRing>> {
        self.0.upgrade().map(|ring| ring.load_full())
    }

    /// Replaces the ring; false once the keys are dropped.
    pub fn replace(&self, ring: KeyRing) -> bool {
        self.0.upgrade().map(|current| current.store(Arc::new(ring))).is_some()
    }
}

/// How far ahead of the clock a token's `iat` or `nbf` may lie: clocks of
/// the machines that mint and check tokens drift apart a little.
pub const FUTURE_LEEWAY: i64 = 60;

/// Claims for a new token of `kind` issued at `now` (unix seconds).
pub fn claims(kind: TokenType, user_id: &str, role: &str, sid: &str, jti: String, now: i64, ttl: Duration) -> Claims {
    Claims {
        token_type: kind,
        exp: now + ttl.as_secs() as i64,
        iat: now,
        jti,
        user_id: user_id.to_string(),
        role: role.to_string(),
        sid: Some(sid.to_string()),
        nbf: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"test-secret-test-secret-test-secret!")
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sample(kind: TokenType, now: i64, ttl: u64) -> Claims {
        claims(kind, "u1", "client", "s1", "0123456789abcdef0123456789abcdef".into(), now, Duration::from_secs(ttl))
    }

    #[test]
    fn round_trips_and_checks_the_type() {
        let k = keys();
        let token = k.sign(&sample(TokenType::Refresh, now(), 60));
        assert_eq!(k.verify(&token, TokenType::Refresh, now()).unwrap().user_id, "u1");
        assert_eq!(k.verify(&token, TokenType::Access, now()), Err(TokenError::WrongType));
    }

    #[test]
    fn header_and_payload_match_simplejwt() {
        let token = keys().sign(&sample(TokenType::Access, 1_700_000_000, 300));
        let mut parts = token.split('.');
        let header = B64.decode(parts.next().unwrap()).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&header).unwrap(),
            serde_json::json!({"alg": "HS256", "typ": "JWT"})
        );
        let payload = String::from_utf8(B64.decode(parts.next().unwrap()).unwrap()).unwrap();
        assert!(payload.starts_with(r#"{"token_type":"access","exp":1700000300,"iat":1700000000,"jti":"#), "{payload}");
    }

    #[test]
    fn refuses_expired_tampered_foreign_and_unsigned_tokens() {
        let k = keys();
        let expired = k.sign(&sample(TokenType::Access, now() - 600, 300));
        assert_eq!(k.verify(&expired, TokenType::Access, now()), Err(TokenError::Invalid));

        let good = k.sign(&sample(TokenType::Access, now(), 300));
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged_payload = B64.encode(serde_json::to_vec(&sample(TokenType::Access, now(), 99999)).unwrap());
        assert!(k.verify(&format!("{head}.{forged_payload}.{sig}"), TokenType::Access, now()).is_err());

        let foreign = JwtKeys::new(b"another-secret-another-secret-123").sign(&sample(TokenType::Access, now(), 300));
        assert!(k.verify(&foreign, TokenType::Access, now()).is_err());

        let none_header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = B64.encode(serde_json::to_vec(&sample(TokenType::Access, now(), 300)).unwrap());
        assert!(k.verify(&format!("{none_header}.{payload}."), TokenType::Access, now()).is_err());
        assert!(k.verify("not-a-token", TokenType::Access, now()).is_err());
    }

    #[test]
    fn expiry_is_exact_and_a_token_from_the_future_is_refused() {
        let k = keys();
        let t = 1_700_000_000;
        let token = k.sign(&sample(TokenType::Access, t, 300));
        assert!(k.verify(&token, TokenType::Access, t + 299).is_ok());
        assert_eq!(k.verify(&token, TokenType::Access, t + 300), Err(TokenError::Invalid), "expired at exp");
        assert!(k.verify(&token, TokenType::Access, t - 60).is_ok(), "iat within the leeway");
        assert_eq!(k.verify(&token, TokenType::Access, t - 61), Err(TokenError::Invalid), "iat too far ahead");
        let mut later = sample(TokenType::Access, t, 3600);
        later.nbf = Some(t + 120);
        let token = k.sign(&later);
        assert_eq!(k.verify(&token, TokenType::Access, t), Err(TokenError::Invalid), "nbf too far ahead");
        assert!(k.verify(&token, TokenType::Access, t + 61).is_ok(), "nbf within the leeway");
    }

    fn pair_keys(alg: crate::crypto::signing::JwtAlgorithm) -> JwtKeys {
        use crate::crypto::signing::{KeyPair, generate};
        let pair = KeyPair::from_der("kid-1", alg, &generate(alg), None).unwrap();
        JwtKeys::pairs(KeyRing::new(vec![pair]).unwrap())
    }

    #[test]
    fn key_pairs_name_their_key_and_refuse_hs256_and_the_reverse() {
        use crate::crypto::signing::JwtAlgorithm;
        let hs = keys();
        for alg in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256] {
            let pairs = pair_keys(alg);
            let token = pairs.sign(&sample(TokenType::Access, now(), 300));
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some("kid-1"));
            assert_eq!(pairs.verify(&token, TokenType::Access, now()).unwrap().user_id, "u1");
            assert!(hs.verify(&token, TokenType::Access, now()).is_err(), "{alg} token on HS256");
            let hs_token = hs.sign(&sample(TokenType::Access, now(), 300));
            assert!(pairs.verify(&hs_token, TokenType::Access, now()).is_err(), "HS256 token on {alg}");
            assert!(pair_keys(alg).verify(&token, TokenType::Access, now()).is_err(), "another key of the same id");
            assert_eq!(pairs.published(now()).len(), 1);
            assert!(hs.published(now()).is_empty());
        }
    }
}
