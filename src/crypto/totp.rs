//! Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30 s
//! steps) by `totp-rs`, recovery codes, and the enrolment QR code as SVG by
//! `qrcode`. Nothing here stores anything: the flows keep the secret
//! (sealed, `seal_secret`) and the last accepted step, so that a step's
//! code is accepted once.

use totp_rs::{Builder, Secret, Totp};

use super::sealing::Sealer;

/// 160 bits, RFC 4226's recommended length (contract §15.1: at least 160).
const SECRET_BYTES: usize = 20;
const STEP_SECS: u64 = 30;

/// A new random secret, base32 (RFC 4648, no padding) as authenticator
/// apps take it.
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    Secret::from(bytes.to_vec()).to_base32()
}

/// The secret as stored: sealed for its user under `server_secret`, so a
/// copy of the database alone cannot make codes.
pub fn seal_secret(server_secret: &[u8], user: &str, secret_b32: &str) -> String {
    Sealer::for_totp(server_secret).seal(user, secret_b32.as_bytes())
}

/// The secret from what is stored: sealed (`seal_secret`), or a base32
/// secret stored in the clear before secrets were sealed. `None` when it
/// is neither (altered, another user's, another server secret).
pub fn open_secret(server_secret: &[u8], user: &str, stored: &str) -> Option<String> {
    match Sealer::for_totp(server_secret).open(user, stored) {
        Some(plain) => String::from_utf8(plain).ok(),
        None => Secret::try_from_base32(stored).is_ok().then(|| stored.to_owned()),
    }
}

fn totp(secret_b32: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_b32).ok()?;
    // skew 1: the current step and one on each side (clock drift, typing).
    Builder::new().with_secret(secret).with_skew(1).with_step_duration(STEP_SECS).build().ok()
}

/// The step (`unix / 30`) whose code `code` is, among the current step and
/// one on each side of it at `now` (unix seconds); `None` for a wrong or
/// malformed code or an unusable secret.
pub fn matching_step(secret_b32: &str, code: &str, now: i64) -> Option<i64> {
    if !well_formed(code) {
        return None;
    }
    let now = u64::try_from(now).ok()?;
    totp(secret_b32)?.check(code, now).and_then(|step| i64::try_from(step).ok())
}

/// The code of the step that holds `at` (unix seconds): for tests and the
/// software authenticator of the examples.
pub fn code_at(secret_b32: &str, at: i64) -> Option<String> {
    Some(totp(secret_b32)?.generate(u64::try_from(at).ok()?).to_string())
}

/// Six ASCII digits.
pub fn well_formed(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// `otpauth://totp/authgate:<account>?secret=…&issuer=authgate` (Google
/// Authenticator's key URI format; the label's parts are percent-encoded).
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}",
        percent_encode(issuer),
        percent_encode(account),
        percent_encode(issuer)
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' | b'+' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The URI as a QR code, an SVG document.
pub fn qr_svg(uri: &str) -> String {
    use qrcode::render::svg;
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code.render::<svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build(),
        // A key URI is far below a QR code's capacity; an empty picture
        // rather than a failed enrolment if it ever were not.
        Err(_) => String::from("<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
    }
}

/// Recovery codes: ten of the form `xxxx-xxxx` from an alphabet without
/// look-alikes (no 0/o, 1/l/i), about 41 bits each; only their HMAC is
/// stored (`crypto::otp::digest` with the purpose "recovery").
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

pub fn new_recovery_codes() -> Vec<String> {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code = String::with_capacity(9);
            for i in 0..8 {
                if i == 4 {
                    code.push('-');
                }
                code.push(RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char);
            }
            code
        })
        .collect()
}

/// A recovery code as typed, in its stored form: case, spaces and the dash
/// do not matter. `None` when it cannot be one.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let chars: String = typed.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_lowercase();
    if chars.len() != 8 || !chars.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", &chars[..4], &chars[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &[u8] = b"a-server-secret-for-the-unit-tests-0123456789";

    #[test]
    fn a_sealed_secret_opens_for_its_user_only_and_a_clear_one_still_opens() {
        let secret = new_secret();
        let sealed = seal_secret(SERVER, "user-a", &secret);
        assert!(!sealed.contains(&secret));
        assert_eq!(open_secret(SERVER, "user-a", &sealed).as_deref(), Some(secret.as_str()));
        assert_eq!(open_secret(SERVER, "user-b", &sealed), None, "moved to another user's row");
        assert_eq!(open_secret(b"another-server-secret-0123456789abcdef", "user-a", &sealed), None);
        assert_eq!(open_secret(SERVER, "user-a", &secret).as_deref(), Some(secret.as_str()), "stored before sealing");
    }

    /// RFC 6238 appendix B, SHA-1 rows: the key is the ASCII of
    /// "12345678901234567890"; the RFC prints 8 digits, of which a 6-digit
    /// code is the last six (the same truncation, modulo 10^6).
    #[test]
    fn codes_match_rfc_6238_vectors() {
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        for (t, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(&secret, t).unwrap(), eight[2..], "t = {t}");
            assert_eq!(matching_step(&secret, &eight[2..], t), Some(t / 30));
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_on_each_side_only() {
        let secret = new_secret();
        assert_eq!(Secret::try_from_base32(&secret).unwrap().as_bytes().len(), 20);
        let now: i64 = 1_800_000_000; // the start of a step (a multiple of 30)
        let code = code_at(&secret, now).unwrap();
        assert_eq!(matching_step(&secret, &code, now), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now + 30), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now - 30), Some(now / 30));
        assert_eq!(matching_step(&secret, &code, now + 60), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "12345a", now), None);
        assert_eq!(matching_step("not base32!", &code, now), None);
    }

    #[test]
    fn the_key_uri_and_its_qr_code() {
        let uri = otpauth_uri("authgate", "ana+x@example.com", "JBSWY3DPEHPK3PXP");
        assert_eq!(uri, "otpauth://totp/authgate:ana+x@example.com?secret=JBSWY3DPEHPK3PXP&issuer=authgate");
        assert_eq!(otpauth_uri("authgate", "a b:c", "S"), "otpauth://totp/authgate:a%20b%3Ac?secret=S&issuer=authgate");
        let svg = qr_svg(&uri);
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_normalize_as_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
        for code in &codes {
            assert_eq!(normalize_recovery_code(code).as_deref(), Some(code.as_str()));
            let typed = code.to_uppercase().replace('-', " ");
            assert_eq!(normalize_recovery_code(&typed).as_deref(), Some(code.as_str()));
        }
        assert_eq!(normalize_recovery_code("abcd-efg"), None);
        assert_eq!(normalize_recovery_code("abcd-efg0"), None);
    }
}
