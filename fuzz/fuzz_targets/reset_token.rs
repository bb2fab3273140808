//! The reset-token checker (`reset_token::check`) and the `uidb64`
//! decoder, as reset-confirm uses them on a request's `uid` and `token`.
//!
//! Input: up to four lines: a token, a uidb64, a primary key, an email.
//! Never a panic; a token verifies only if it is the one made for the
//! account (or within its timeout); `uidb64` round-trips any key.
#![no_main]

use authgate::crypto::reset_token::{self, TokenSubject};
use chrono::DateTime;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "authgate-integration-tests-secret-0123456789";
const TIMEOUT: i64 = 3 * 24 * 3600;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.splitn(4, '\n');
    let (token, uid) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let (pk, email) = (lines.next().unwrap_or("42"), lines.next().unwrap_or("ana@example.com"));
    // Tokens count seconds of the original's wall clock (§18).
    let now: i64 = 1_800_000_000;
    let subject = TokenSubject {
        pk,
        password_hash: "pbkdf2_sha256$1500000$salt$hash",
        last_login: DateTime::from_timestamp(1_700_000_000, 123_000),
        email,
    };

    // A request's uid decodes to some key or none; a key round-trips.
    let _ = reset_token::decode_uidb64(uid);
    assert_eq!(reset_token::decode_uidb64(&reset_token::uidb64(pk)).as_deref(), Some(pk));

    // A request's token: whatever it is, checking it does not panic, and a
    // token that checks is the one `make` gives at its own time.
    if reset_token::check(SECRET, &subject, token, now, TIMEOUT) {
        let (ts, _) = token.split_once('-').expect("a checked token has its timestamp");
        let then = i64::from_str_radix(ts, 36).expect("base36") + 978_307_200;
        assert_eq!(reset_token::make(SECRET, &subject, then), token);
    }

    // The token made now checks now and until its timeout, not after, and
    // not for another account.
    let made = reset_token::make(SECRET, &subject, now);
    assert!(reset_token::check(SECRET, &subject, &made, now, TIMEOUT));
    let later = now + TIMEOUT + 1;
    assert!(!reset_token::check(SECRET, &subject, &made, later, TIMEOUT));
    let other = TokenSubject { pk: &format!("{pk}0"), ..subject };
    assert!(!reset_token::check(SECRET, &other, &made, now, TIMEOUT));
});
