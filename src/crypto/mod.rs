//! Everything that touches secrets: password hashes in Django's formats,
//! JWTs and their signing keys, one-time codes. Comparisons of secrets are constant-time.

pub mod altcha;
pub mod hashers;
pub mod jwt;
pub(crate) mod otp;
pub(crate) mod passkeys;
pub(crate) mod pool;
pub mod reset_token;
pub mod sealing;
pub mod signing;
pub(crate) mod totp;

use subtle::ConstantTimeEq;

/// Constant-time equality of two byte strings (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A keyed tag of `parts` for `purpose` (HMAC-SHA256 under the server
/// secret, each part length-prefixed), as URL-safe base64: what signs the
/// dashboard's cookies and CSRF tokens.
pub fn tag(secret: &[u8], purpose: &str, parts: &[&str]) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    for part in std::iter::once(purpose).chain(parts.iter().copied()) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// 32 lowercase hex characters of randomness, like SimpleJWT's `jti`.
pub fn random_hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A random secret key for signing, as URL-safe text.
pub fn random_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 48] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
