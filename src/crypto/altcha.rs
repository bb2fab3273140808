//! ALTCHA proof of work (contract §20), as the open-source widget and
//! `altcha-lib` speak it: the server hides a random `number` in
//! `challenge = SHA-256(salt ‖ number)` and signs the challenge with
//! HMAC-SHA256; the client finds the number by trying them all up to
//! `maxnumber` and sends back base64 JSON `{algorithm, challenge, number,
//! salt, signature}`. The salt carries the expiry (`?expires=<unix>&`), so
//! it is signed with the challenge and nothing needs storing until a
//! solution comes back (then its signature is spent once, by the caller).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "SHA-256";
/// A solution is a few hundred bytes; anything much longer is not one.
pub const MAX_PAYLOAD_LEN: usize = 4096;

type HmacSha256 = hmac::Hmac<Sha256>;

/// A challenge as the widget reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Challenge {
    pub algorithm: &'static str,
    pub challenge: String,
    pub maxnumber: u64,
    pub salt: String,
    pub signature: String,
}

/// What the client sends back (the widget adds `took`, ignored).
#[derive(Deserialize)]
struct Payload {
    algorithm: String,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

/// A valid solution: its signature (what is spent once) and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solved {
    pub signature: String,
    pub expires: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not base64 JSON of a solution, or another algorithm.
    Malformed,
    Expired,
    /// The number does not solve the challenge, or the signature is not ours.
    Wrong,
}

/// A new challenge under `key`, hiding a random number up to `maxnumber`,
/// valid until `expires` (unix seconds).
pub fn create(key: &[u8], maxnumber: u64, expires: i64) -> Challenge {
    let random: [u8; 12] = rand::random();
    let number = rand::random_range(0..=maxnumber);
    create_with(key, &hex::encode(random), number, maxnumber, expires)
}

fn create_with(key: &[u8], random: &str, number: u64, maxnumber: u64, expires: i64) -> Challenge {
    let salt = format!("{random}?expires={expires}&");
    let challenge = challenge_of(&salt, number);
    let signature = hex::encode(sign(key, &challenge).finalize().into_bytes());
    Challenge { algorithm: ALGORITHM, challenge, maxnumber, salt, signature }
}

/// Checks a solution sent as base64 JSON at `now` (unix seconds).
pub fn verify(key: &[u8], payload: &str, now: i64) -> Result<Solved, Rejected> {
    let payload = payload.trim();
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Rejected::Malformed);
    }
    let json = [STANDARD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(payload).ok())
        .ok_or(Rejected::Malformed)?;
    let p: Payload = serde_json::from_slice(&json).map_err(|_| Rejected::Malformed)?;
    if p.algorithm != ALGORITHM {
        return Err(Rejected::Malformed);
    }
    // Only our challenges come here, and each carries its expiry.
    let expires = expiry(&p.salt).ok_or(Rejected::Wrong)?;
    if challenge_of(&p.salt, p.number) != p.challenge {
        return Err(Rejected::Wrong);
    }
    let signature = hex::decode(&p.signature).map_err(|_| Rejected::Wrong)?;
    sign(key, &p.challenge).verify_slice(&signature).map_err(|_| Rejected::Wrong)?;
    // Judged after the signature: an expiry we did not sign says nothing.
    if now > expires {
        return Err(Rejected::Expired);
    }
    Ok(Solved { signature: p.signature.to_ascii_lowercase(), expires })
}

fn challenge_of(salt: &str, number: u64) -> String {
    hex::encode(Sha256::digest(format!("{salt}{number}")))
}

fn sign(key: &[u8], challenge: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(challenge.as_bytes());
    mac
}

/// The `expires` parameter of a salt (`<random>?expires=<unix>&`).
fn expiry(salt: &str) -> Option<i64> {
    let (_, query) = salt.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "expires").and_then(|(_, v)| v.parse().ok())
}

/// The number hidden in `challenge`, found as a client does (tests and
/// benchmarks play the client with it).
pub fn solve(challenge: &Challenge) -> Option<u64> {
    (0..=challenge.maxnumber).find(|n| challenge_of(&challenge.salt, *n) == challenge.challenge)
}

/// The base64 JSON a client sends for `number`.
pub fn payload(challenge: &Challenge, number: u64) -> String {
    let json = serde_json::json!({
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "number": number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    });
    STANDARD.encode(json.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"authgate-altcha-test-key";

    /// altcha-lib 1.4.1 (the reference implementation):
    /// `createChallenge({hmacKey, number: 4242, salt, expires, maxnumber})`
    /// and the base64 payload its `solveChallenge` produced, which its
    /// `verifySolution` accepts.
    const LIB_CHALLENGE: &str = "14d08b8ab60b7c4c76e963ee79846c831b725449de89eccc03158774b5dd6aa3";
    const LIB_SIGNATURE: &str = "bc75afdd8de2a0232522f21d233f49d4f19f83e9fdd692902d190443938097a9";
    const LIB_PAYLOAD: &str = "eyJhbGdvcml0aG0iOiJTSEEtMjU2IiwiY2hhbGxlbmdlIjoiMTRkMDhiOGFiNjBiN2M0Yzc2ZTk2M2VlNzk4NDZjODMxYjcyNTQ0OWRlODllY2NjMDMxNTg3NzRiNWRkNmFhMyIsIm51bWJlciI6NDI0Miwic2FsdCI6IjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nz9leHBpcmVzPTE4MDAwMDAzMDAmIiwic2lnbmF0dXJlIjoiYmM3NWFmZGQ4ZGUyYTAyMzI1MjJmMjFkMjMzZjQ5ZDRmMTlmODNlOWZkZDY5MjkwMmQxOTA0NDM5MzgwOTdhOSIsInRvb2siOjE4M30=";

    #[test]
    fn challenges_are_altcha_lib_s() {
        let c = create_with(KEY, "0123456789abcdef01234567", 4242, 100_000, 1_800_000_300);
        assert_eq!(c.salt, "0123456789abcdef01234567?expires=1800000300&");
        assert_eq!((c.challenge.as_str(), c.signature.as_str()), (LIB_CHALLENGE, LIB_SIGNATURE));
    }

    #[test]
    fn a_solution_from_altcha_lib_verifies_until_it_expires() {
        let solved = verify(KEY, LIB_PAYLOAD, 1_800_000_300).unwrap();
        assert_eq!(solved, Solved { signature: LIB_SIGNATURE.into(), expires: 1_800_000_300 });
        assert_eq!(verify(KEY, LIB_PAYLOAD, 1_800_000_301), Err(Rejected::Expired));
        assert_eq!(verify(b"another key", LIB_PAYLOAD, 1_800_000_000), Err(Rejected::Wrong));
    }

    #[test]
    fn a_wrong_number_a_forged_expiry_or_garbage_is_refused() {
        let c = create(KEY, 1000, 2_000_000_000);
        let number = solve(&c).unwrap();
        assert!(verify(KEY, &payload(&c, number), 1_900_000_000).is_ok());
        assert_eq!(verify(KEY, &payload(&c, number + 1), 1_900_000_000), Err(Rejected::Wrong));
        let later = Challenge { salt: c.salt.replace("2000000000", "2100000000"), ..c.clone() };
        assert_eq!(verify(KEY, &payload(&later, number), 1_900_000_000), Err(Rejected::Wrong));
        for garbage in ["", "not base64!", "e30=", &STANDARD.encode("[1,2]"), &"A".repeat(MAX_PAYLOAD_LEN + 1)] {
            assert_eq!(verify(KEY, garbage, 0), Err(Rejected::Malformed), "{garbage:.20}");
        }
    }
}
