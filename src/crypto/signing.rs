//! Asymmetric signing keys (contract §17): the algorithms, new key pairs,
//! and a key loaded from its private DER with its public JWK (RFC 7517).
//! The signing and checking themselves are jsonwebtoken's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

/// `AUTHGATE_JWT_ALGORITHM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JwtAlgorithm {
    /// The shared secret, as SimpleJWT signs.
    #[default]
    Hs256,
    EdDsa,
    Es256,
    Rs256,
}

impl JwtAlgorithm {
    pub const ALL: [JwtAlgorithm; 4] =
        [JwtAlgorithm::Hs256, JwtAlgorithm::EdDsa, JwtAlgorithm::Es256, JwtAlgorithm::Rs256];

    /// The JWS `alg` name, which is also the setting's value.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::EdDsa => "EdDSA",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::Rs256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<JwtAlgorithm> {
        JwtAlgorithm::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn is_asymmetric(self) -> bool {
        self != JwtAlgorithm::Hs256
    }

    pub(crate) fn jws(self) -> Algorithm {
        match self {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::EdDsa => Algorithm::EdDSA,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
        }
    }
}

impl std::fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RSA modulus size of new keys.
const RSA_BITS: usize = 2048;

/// A new private key for `alg`, as the DER jsonwebtoken reads (PKCS#8 for
/// Ed25519 and P-256, PKCS#1 for RSA). Slow for RSA: run it off the async
/// threads.
pub fn generate(alg: JwtAlgorithm) -> Vec<u8> {
    use rand_core_06::OsRng;
    match alg {
        JwtAlgorithm::Hs256 => panic!("HS256 signs with the secret; it has no key pair"),
        JwtAlgorithm::EdDsa => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            key.to_pkcs8_der().expect("an Ed25519 key encodes").as_bytes().to_vec()
        }
        JwtAlgorithm::Es256 => {
            use p256::pkcs8::EncodePrivateKey;
            let key = p256::SecretKey::random(&mut OsRng);
            key.to_pkcs8_der().expect("a P-256 key encodes").as_bytes().to_vec()
        }
        JwtAlgorithm::Rs256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).expect("RSA key generation succeeds");
            key.to_pkcs1_der().expect("an RSA key encodes").as_bytes().to_vec()
        }
    }
}

/// The public half of a private key, as JWK members (without `kid`, `alg`,
/// `use`).
fn public_jwk(alg: JwtAlgorithm, der: &[u8]) -> Option<Value> {
    Some(match alg {
        JwtAlgorithm::Hs256 => return None,
        JwtAlgorithm::EdDsa => {
            use ed25519_dalek::pkcs8::DecodePrivateKey;
            let key = ed25519_dalek::SigningKey::from_pkcs8_der(der).ok()?;
            json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(key.verifying_key().as_bytes())})
        }
        JwtAlgorithm::Es256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::DecodePrivateKey;
            let point = p256::SecretKey::from_pkcs8_der(der).ok()?.public_key().to_encoded_point(false);
            json!({"kty": "EC", "crv": "P-256", "x": B64.encode(point.x()?), "y": B64.encode(point.y()?)})
        }
        JwtAlgorithm::Rs256 => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::from_pkcs1_der(der).ok()?;
            json!({"kty": "RSA", "n": B64.encode(key.n().to_bytes_be()), "e": B64.encode(key.e().to_bytes_be())})
        }
    })
}

/// A key pair ready to sign and check: its id, its keys for jsonwebtoken,
/// its public JWK, and until when it may verify (`None`: it is the active
/// key).
pub struct KeyPair {
    pub kid: String,
    pub alg: JwtAlgorithm,
    pub(crate) header: Header,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    pub(crate) validation: Validation,
    pub jwk: Value,
    /// Unix seconds after which no token it signed is alive; `None` while
    /// it signs.
    pub usable_until: Option<i64>,
}

impl KeyPair {
    /// Loads a private key; `None` if `der` is not a key of `alg`.
    pub fn from_der(kid: &str, alg: JwtAlgorithm, der: &[u8], usable_until: Option<i64>) -> Option<KeyPair> {
        let mut jwk = public_jwk(alg, der)?;
        let members = jwk.as_object_mut()?;
        members.insert("kid".into(), kid.into());
        members.insert("alg".into(), alg.as_str().into());
        members.insert("use".into(), "sig".into());
        // The checking key comes from the published JWK, so what verifies
        // here is exactly what the JWKS lets others verify.
        let decoding = DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).ok()?).ok()?;
        let encoding = match alg {
            JwtAlgorithm::Hs256 => return None,
            JwtAlgorithm::EdDsa => EncodingKey::from_ed_der(der),
            JwtAlgorithm::Es256 => EncodingKey::from_ec_der(der),
            JwtAlgorithm::Rs256 => EncodingKey::from_rsa_der(der),
        };
        let mut header = Header::new(alg.jws());
        header.kid = Some(kid.to_string());
        Some(KeyPair {
            kid: kid.to_string(),
            alg,
            header,
            encoding,
            decoding,
            validation: validation(alg),
            jwk,
            usable_until,
        })
    }

    /// Whether a token it signed may still be alive at `now`.
    pub fn usable_at(&self, now: i64) -> bool {
        self.usable_until.is_none_or(|until| now < until)
    }
}

/// The checks jsonwebtoken makes: the one algorithm (never `none`), `exp`
/// present. Times are checked against the service's clock instead.
pub(crate) fn validation(alg: JwtAlgorithm) -> Validation {
    let mut validation = Validation::new(alg.jws());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp"]);
    validation
}

/// A new key id: 128 random bits, URL-safe.
pub fn new_kid() -> String {
    B64.encode(rand::random::<[u8; 16]>())
}

/// The key pairs of one algorithm that may still verify: the active one
/// first.
pub struct KeyRing {
    pub(crate) keys: Vec<KeyPair>,
}

impl KeyRing {
    /// `None` unless exactly one of `keys` is active.
    pub fn new(mut keys: Vec<KeyPair>) -> Option<KeyRing> {
        if keys.iter().filter(|k| k.usable_until.is_none()).count() != 1 {
            return None;
        }
        keys.sort_by_key(|k| k.usable_until.is_some());
        Some(KeyRing { keys })
    }

    pub(crate) fn active(&self) -> &KeyPair {
        &self.keys[0]
    }

    pub(crate) fn find(&self, kid: &str) -> Option<&KeyPair> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Each key's id and retirement, to tell whether a reload changed
    /// anything.
    pub fn fingerprint(&self) -> Vec<(String, Option<i64>)> {
        self.keys.iter().map(|k| (k.kid.clone(), k.usable_until)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_makes_a_key_with_its_jwk() {
        for alg in [JwtAlgorithm::EdDsa, JwtAlgorithm::Es256, JwtAlgorithm::Rs256] {
            let der = generate(alg);
            let pair = KeyPair::from_der("k1", alg, &der, None).expect("the new key loads");
            assert_eq!(pair.jwk["kid"], "k1");
            assert_eq!(pair.jwk["alg"], alg.as_str());
            assert_eq!(pair.jwk["use"], "sig");
            assert!(KeyPair::from_der("k1", JwtAlgorithm::Hs256, &der, None).is_none());
        }
    }

    #[test]
    fn an_ed25519_jwk_matches_rfc_8037() {
        // RFC 8037 appendix A.1/A.2: the private key d and its public x.
        let d = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&d.try_into().unwrap());
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let der = key.to_pkcs8_der().unwrap();
        let pair = KeyPair::from_der("k", JwtAlgorithm::EdDsa, der.as_bytes(), None).unwrap();
        assert_eq!(pair.jwk["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(pair.jwk["kty"], "OKP");
        assert_eq!(pair.jwk["crv"], "Ed25519");
    }

    #[test]
    fn a_ring_has_exactly_one_active_key() {
        let der = generate(JwtAlgorithm::EdDsa);
        let key = |kid: &str, until| KeyPair::from_der(kid, JwtAlgorithm::EdDsa, &der, until).unwrap();
        assert!(KeyRing::new(vec![key("a", Some(10))]).is_none());
        assert!(KeyRing::new(vec![key("a", None), key("b", None)]).is_none());
        let ring = KeyRing::new(vec![key("old", Some(10)), key("new", None)]).unwrap();
        assert_eq!(ring.active().kid, "new");
        assert!(ring.find("old").unwrap().usable_at(9));
        assert!(!ring.find("old").unwrap().usable_at(10));
    }
}
