//! Six-digit one-time codes. Only an HMAC of a code is stored, bound to its
//! user and purpose, so a leaked table reveals no usable code.

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A fresh code, uniform over 000000..=999999.
pub fn generate() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// What is stored for `code`: hex HMAC-SHA256 keyed by the server secret.
pub fn digest(secret: &[u8], user_id: &str, purpose: &str, code: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    for part in [b"authgate-otp".as_slice(), purpose.as_bytes(), user_id.as_bytes(), code.as_bytes()] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check of a submitted code against a stored digest.
pub fn matches(secret: &[u8], user_id: &str, purpose: &str, code: &str, stored: &str) -> bool {
    super::ct_eq(digest(secret, user_id, purpose, code).as_bytes(), stored.as_bytes())
}

/// A well-formed code: exactly six ASCII digits.
pub fn well_formed(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_digests_bind_user_and_purpose() {
        let code = generate();
        assert!(well_formed(&code));
        let d = digest(b"k", "u1", "verify", &code);
        assert!(matches(b"k", "u1", "verify", &code, &d));
        assert!(!matches(b"k", "u2", "verify", &code, &d));
        assert!(!matches(b"k", "u1", "reset", &code, &d));
        assert!(!matches(b"other", "u1", "verify", &code, &d));
    }
}
