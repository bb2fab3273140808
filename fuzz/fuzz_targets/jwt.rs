//! The JWT decode path (`JwtKeys::verify`, `LegacyTokens::verify`) with
//! HS256 and with a ring of key pairs (EdDSA, ES256, RS256).
//!
//! The first byte picks a mode:
//! - 0: the rest is a token, checked with every key and token type: never a
//!   panic, and what verifies holds claims the checks allow.
//! - 1: the rest is a claims JSON: signed with each key, it verifies exactly
//!   when its times allow it at `NOW`, and gives the same claims back.
//! - 2, 3: a part of a valid token (header, payload) is replaced by the
//!   rest: it verifies only if that part is byte for byte the original.
//! - 4: the rest replaces a valid token's signature: only the original one
//!   verifies.
#![no_main]

use std::sync::LazyLock;

use authgate::crypto::jwt::{Claims, FUTURE_LEEWAY, JwtKeys, LegacyTokens, TokenError, TokenType};
use authgate::crypto::signing::{JwtAlgorithm, KeyPair, KeyRing};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"authgate-integration-tests-secret-0123456789";
/// The clock of every check (2027-01-15).
const NOW: i64 = 1_800_000_000;
const KINDS: [TokenType; 3] = [TokenType::Access, TokenType::Refresh, TokenType::Mfa];

struct Keys {
    /// HS256, then one ring per key-pair algorithm (a retired key beside
    /// the active one in the EdDSA ring).
    all: Vec<(&'static str, JwtKeys)>,
    legacy: LegacyTokens,
    /// A valid token of each key, in the order of `all`.
    tokens: Vec<String>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let pair = |kid: &str, alg, der: &[u8], until| {
        KeyPair::from_der(kid, alg, der, until).unwrap_or_else(|| panic!("the fixed key {kid} loads"))
    };
    let ed = include_bytes!("../keys/ed25519.pk8.der");
    let ring = |keys| JwtKeys::pairs(KeyRing::new(keys).expect("one active key"));
    let all = vec![
        ("HS256", JwtKeys::new(SECRET)),
        (
            "EdDSA",
            ring(vec![
                pair("ed-active", JwtAlgorithm::EdDsa, ed, None),
                pair("ed-retired", JwtAlgorithm::EdDsa, ed, Some(NOW + 3600)),
            ]),
        ),
        ("ES256", ring(vec![pair("es", JwtAlgorithm::Es256, include_bytes!("../keys/p256.pk8.der"), None)])),
        ("RS256", ring(vec![pair("rs", JwtAlgorithm::Rs256, include_bytes!("../keys/rsa.pkcs1.der"), None)])),
    ];
    let tokens = all.iter().map(|(_, k)| k.sign(&valid_claims())).collect();
    Keys { all, legacy: LegacyTokens::new(SECRET, Some(NOW + 86_400), true, NOW), tokens }
});

/// What `verify` promises of the claims it returns.
fn allowed(c: &Claims, kind: TokenType) -> bool {
    c.token_type == kind
        && c.exp > NOW
        && c.iat <= NOW + FUTURE_LEEWAY
        && c.nbf.is_none_or(|nbf| nbf <= NOW + FUTURE_LEEWAY)
}

fn valid_claims() -> Claims {
    Claims {
        token_type: TokenType::Access,
        exp: NOW + 300,
        iat: NOW,
        jti: "0123456789abcdef0123456789abcdef".into(),
        user_id: "0192f0c1-5c1e-7b3a-9d2e-0a1b2c3d4e5f".into(),
        role: "user".into(),
        sid: Some("0192f0c1-5c1e-7b3a-9d2e-0a1b2c3d4e60".into()),
        nbf: None,
    }
}

/// With `AUTHGATE_FUZZ_SEEDS=<dir>`, writes seed inputs there first: real
/// tokens of every key (valid, expired, of each type, legacy), claims, and
/// the parts of a valid token.
fn write_seeds(keys: &Keys) {
    let Some(dir) = std::env::var_os("AUTHGATE_FUZZ_SEEDS") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("the seed folder");
    let mut n = 0;
    let mut seed = |mode: u8, bytes: &[u8]| {
        n += 1;
        std::fs::write(dir.join(format!("seed-{mode}-{n:03}")), [&[mode][..], bytes].concat()).expect("a seed");
    };
    let variants = |c: Claims| {
        let mut all = vec![c.clone()];
        all.push(Claims { exp: NOW - 1, ..c.clone() });
        all.push(Claims { token_type: TokenType::Refresh, ..c.clone() });
        all.push(Claims { token_type: TokenType::Mfa, role: String::new(), ..c.clone() });
        all.push(Claims { iat: NOW + 61, ..c.clone() });
        all.push(Claims { nbf: Some(NOW + 3600), ..c.clone() });
        all.push(Claims { sid: None, ..c.clone() });
        all
    };
    for claims in variants(valid_claims()) {
        seed(1, &serde_json::to_vec(&claims).expect("json"));
        for (_, k) in &keys.all {
            seed(0, k.sign(&claims).as_bytes());
        }
    }
    for (_, k) in &keys.all {
        let token = k.sign(&valid_claims());
        let parts: Vec<&str> = token.split('.').collect();
        seed(2, &B64.decode(parts[0]).expect("b64"));
        seed(3, &B64.decode(parts[1]).expect("b64"));
        seed(4, parts[2].as_bytes());
    }
    seed(0, b"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.");
    seed(2, br#"{"alg":"none","typ":"JWT"}"#);
    seed(2, br#"{"alg":"HS256","typ":"JWT","kid":"ed-active"}"#);
}

fuzz_target!(init: { write_seeds(&KEYS); }, |data: &[u8]| {
    let keys = &*KEYS;
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 5 {
        0 => {
            let Ok(token) = std::str::from_utf8(rest) else { return };
            for (name, k) in &keys.all {
                for kind in KINDS {
                    if let Ok(c) = k.verify(token, kind, NOW) {
                        assert!(allowed(&c, kind), "{name} let through {c:?} as {kind:?}");
                    }
                }
            }
            for kind in KINDS {
                if let Some(c) = keys.legacy.verify(token, kind, NOW) {
                    assert!(allowed(&c, kind) && c.sid.is_none(), "legacy let through {c:?}");
                }
            }
        }
        1 => {
            let Ok(claims) = serde_json::from_slice::<Claims>(rest) else { return };
            // RS256 signing is slow under the fuzzer; its checks are the
            // other modes'.
            for (name, k) in keys.all.iter().filter(|(name, _)| *name != "RS256") {
                let token = k.sign(&claims);
                for kind in KINDS {
                    let got = k.verify(&token, kind, NOW);
                    let times_ok = allowed(&Claims { token_type: kind, ..claims.clone() }, kind);
                    let want = if !times_ok {
                        Err(TokenError::Invalid)
                    } else if claims.token_type != kind {
                        Err(TokenError::WrongType)
                    } else {
                        Ok(claims.clone())
                    };
                    assert_eq!(got, want, "{name}: {claims:?} checked as {kind:?}");
                }
            }
        }
        m => {
            for ((name, k), token) in keys.all.iter().zip(&keys.tokens) {
                let parts: Vec<&str> = token.split('.').collect();
                let (index, replacement) = match m {
                    2 => (0, B64.encode(rest)),
                    3 => (1, B64.encode(rest)),
                    _ => (2, String::from_utf8_lossy(rest).into_owned()),
                };
                let mut forged = parts.clone();
                forged[index] = &replacement;
                let forged = forged.join(".");
                if k.verify(&forged, TokenType::Access, NOW).is_ok() {
                    assert_eq!(&forged, token, "{name}: a token with part {index} replaced verified");
                }
            }
        }
    }
});
