//! Secrets at rest: private signing keys (contract §17) and TOTP secrets
//! (§15.1), sealed with ChaCha20-Poly1305 under a key derived from
//! `AUTHGATE_SECRET_KEY` by HKDF-SHA256 (one key per kind of secret), the
//! row's id (key id, user id) as associated data so a sealed secret cannot
//! be moved to another row. Stored as `base64url(nonce || ciphertext || tag)`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// Separate these keys from each other and anything else ever derived
/// from the secret.
const SIGNING_KEYS: &[u8] = b"authgate signing-key sealing v1";
const TOTP_SECRETS: &[u8] = b"authgate totp-secret sealing v1";
const NONCE_LEN: usize = 12;

pub struct Sealer(ChaCha20Poly1305);

impl Sealer {
    /// The sealer of signing keys of the deployment whose secret is `secret`.
    pub fn new(secret: &[u8]) -> Sealer {
        Sealer::from_key(derive(secret, SIGNING_KEYS))
    }

    /// The sealer of TOTP secrets of the deployment whose secret is `secret`.
    pub fn for_totp(secret: &[u8]) -> Sealer {
        Sealer::from_key(derive(secret, TOTP_SECRETS))
    }

    fn from_key(key: [u8; 32]) -> Sealer {
        Sealer(ChaCha20Poly1305::new(&Key::from(key)))
    }

    /// Seals `plaintext` for the row `kid`, under a fresh random nonce.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> String {
        B64.encode(self.seal_with(rand::random(), kid.as_bytes(), plaintext))
    }

    fn seal_with(&self, nonce: [u8; NONCE_LEN], aad: &[u8], msg: &[u8]) -> Vec<u8> {
        let sealed =
            self.0.encrypt(&Nonce::from(nonce), Payload { msg, aad }).expect("ChaCha20-Poly1305 seals any key");
        [&nonce[..], &sealed].concat()
    }

    /// The plaintext, or `None` when `sealed` was not sealed for the row
    /// `kid` by this sealer (or was altered).
    pub fn open(&self, kid: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = B64.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).ok()?;
        self.0.decrypt(&nonce, Payload { msg: body, aad: kid.as_bytes() }).ok()
    }
}

/// 32 bytes from HKDF-SHA256 (RFC 5869) of `secret`, without salt.
fn derive(secret: &[u8], info: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, secret).expand(info, &mut key).expect("32 bytes is a valid HKDF-SHA256 length");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc_5869_test_case_3() {
        // IKM 22 x 0x0b, no salt, no info; the first 32 of the 42 bytes.
        let okm = derive(&[0x0b; 22], b"");
        assert_eq!(hex::encode(okm), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d");
    }

    #[test]
    fn sealing_matches_rfc_8439_section_2_8_2() {
        let key: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
        let nonce = [0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47];
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let plaintext = b"Ladies and Gentlemen of the class of '99: \
            If I could offer you only one tip for the future, sunscreen would be it.";
        let sealed = Sealer::from_key(key).seal_with(nonce, &aad, plaintext);
        let expected = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b\
                        1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
                        3ff4def08e4b7a9de576d26586cec64b6116\
                        1ae10b594f09e26a7e902ecbd0600691";
        assert_eq!(hex::encode(&sealed[NONCE_LEN..]), expected);
        assert_eq!(&sealed[..NONCE_LEN], &nonce);
    }

    #[test]
    fn opens_only_with_the_same_secret_and_kid() {
        let sealer = Sealer::new(b"one secret, at least 32 characters long");
        let sealed = sealer.seal("kid-1", b"private key");
        assert_eq!(sealer.open("kid-1", &sealed).as_deref(), Some(&b"private key"[..]));
        assert_eq!(sealer.open("kid-2", &sealed), None, "moved to another key id");
        assert_eq!(Sealer::new(b"another secret, at least 32 characters").open("kid-1", &sealed), None);
        assert_ne!(sealer.seal("kid-1", b"private key"), sealed, "a fresh nonce each time");
        assert_eq!(sealer.open("kid-1", "not base64!"), None);
        assert_eq!(sealer.open("kid-1", "AAAA"), None);
    }
}
