//! Django's `PasswordResetTokenGenerator`: a base36 timestamp and a
//! truncated HMAC over state that changes once the token is used (password
//! hash, last login) or the address changes, so tokens are one-time and
//! expire without being stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use sha2::Digest;

const KEY_SALT: &str = "django.contrib.auth.tokens.PasswordResetTokenGenerator";
/// Django counts from 2001-01-01, naive: seconds of wall-clock time in its
/// `TIME_ZONE` (`domain::WallClock`).
const EPOCH_2001: i64 = 978_307_200;

/// The account state a token is bound to.
pub struct TokenSubject<'a> {
    pub pk: &'a str,
    pub password_hash: &'a str,
    pub last_login: Option<DateTime<Utc>>,
    pub email: &'a str,
}

/// A token for `subject`, made at `wall_now` (wall-clock seconds since
/// the Unix epoch).
pub fn make(secret: &str, subject: &TokenSubject<'_>, wall_now: i64) -> String {
    make_at(secret, subject, wall_now - EPOCH_2001)
}

/// True when `token` was made for `subject` with `secret` at most
/// `timeout_secs` before `wall_now`. Malformed input is simply false.
pub fn check(secret: &str, subject: &TokenSubject<'_>, token: &str, wall_now: i64, timeout_secs: i64) -> bool {
    let Some((ts_b36, _)) = token.split_once('-') else { return false };
    let Some(ts) = from_base36(ts_b36) else { return false };
    if !super::ct_eq(make_at(secret, subject, ts).as_bytes(), token.as_bytes()) {
        return false;
    }
    wall_now - EPOCH_2001 - ts <= timeout_secs
}

fn make_at(secret: &str, s: &TokenSubject<'_>, ts: i64) -> String {
    let login = s.last_login.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
    let value = format!("{}{}{}{}{}", s.pk, s.password_hash, login, ts, s.email);
    let key = sha2::Sha256::digest(format!("{KEY_SALT}{secret}").as_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(value.as_bytes());
    let hex = hex::encode(mac.finalize().into_bytes());
    let every_other: String = hex.chars().step_by(2).collect();
    format!("{}-{every_other}", to_base36(ts))
}

fn to_base36(mut n: i64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n <= 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Django refuses more than 13 base36 digits.
fn from_base36(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 13 {
        return None;
    }
    i64::from_str_radix(s, 36).ok().filter(|n| *n >= 0)
}

/// Django's `urlsafe_base64_encode` of the primary key's text.
pub fn uidb64(pk: &str) -> String {
    URL_SAFE_NO_PAD.encode(pk.as_bytes())
}

/// The primary key text behind a `uidb64`, if it decodes.
pub fn decode_uidb64(uid: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(uid.trim_end_matches('=')).ok()?;
    String::from_utf8(bytes).ok()
}

/// Vectors made by real Django 6.1 (`scripts/django_vectors.py`, with a
/// mocked clock and a fake user object).
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;
    use serde_json::Value;

    /// Wall-clock seconds of a naive time, as Django's mocked `_now()`.
    fn at(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp()
    }

    fn last_login(v: &Value) -> Option<DateTime<Utc>> {
        v.as_str().map(|s| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z").unwrap().with_timezone(&Utc))
    }

    #[test]
    fn tokens_match_django() {
        let all: Value = serde_json::from_str(include_str!("../../tests/fixtures/django_vectors.json")).unwrap();
        for v in all["reset_tokens"].as_array().unwrap() {
            let pk = match &v["pk"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let subject = TokenSubject {
                pk: &pk,
                password_hash: v["password"].as_str().unwrap(),
                last_login: last_login(&v["last_login"]),
                email: v["email"].as_str().unwrap(),
            };
            let secret = v["secret"].as_str().unwrap();
            let now = at(v["now"].as_str().unwrap());
            let token = v["token"].as_str().unwrap();
            assert_eq!(make(secret, &subject, now), token, "{}", v["name"]);
            assert_eq!(uidb64(&pk), v["uidb64"].as_str().unwrap());
            assert_eq!(decode_uidb64(&uidb64(&pk)).as_deref(), Some(pk.as_str()));
            assert!(check(secret, &subject, token, now, 86400));
        }
    }

    #[test]
    fn tokens_expire_after_the_timeout_and_die_with_the_state() {
        let subject =
            TokenSubject { pk: "42", password_hash: "pbkdf2_sha256$1$a$b", last_login: None, email: "a@b.co" };
        let now = at("2026-11-25 12:00:00");
        let token = make("secret", &subject, now);
        assert!(check("secret", &subject, &token, now + 86400, 86400));
        assert!(!check("secret", &subject, &token, now + 86401, 86400));
        let changed = TokenSubject { password_hash: "pbkdf2_sha256$1$a$c", ..subject };
        assert!(!check("secret", &changed, &token, now, 86400));
        assert!(!check("other", &changed, &token, now, 86400));
        for junk in ["", "-", "zzzzzzzzzzzzzz-abc", "dillc0", "!!-x"] {
            assert!(!check("secret", &changed, junk, now, 86400), "{junk:?}");
        }
    }
}
