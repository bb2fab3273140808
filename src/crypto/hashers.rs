//! Django's password hashers: every format Django writes verifies here, and
//! new hashes are written in the configured one, so a user table exported
//! from Django keeps working in both directions.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::digest::Digest;

use super::ct_eq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasherKind {
    Argon2,
    Pbkdf2Sha256,
}

impl FromStr for HasherKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "argon2" => Ok(HasherKind::Argon2),
            "pbkdf2_sha256" => Ok(HasherKind::Pbkdf2Sha256),
            _ => Err(format!("unknown hasher {s:?} (expected argon2 or pbkdf2_sha256)")),
        }
    }
}

/// Argon2id cost: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    pub m: u32,
    pub t: u32,
    pub p: u32,
}

/// OWASP's recommendation for Argon2id.
pub const ARGON2_OWASP: Argon2Cost = Argon2Cost { m: 19456, t: 2, p: 1 };
/// Django 6.1's default for PBKDF2-SHA256.
pub const PBKDF2_ITERATIONS: u32 = 1_500_000;

/// The most work a stored hash may ask of one verification, each far above
/// what Django writes (PBKDF2 1.5M iterations, Argon2 100 MiB × 2 passes,
/// bcrypt cost 12, scrypt 16 MiB × 5): a hash over them is treated as
/// unusable and never matches, at once. Without them, one stored hash
/// (an import, a database write) could make a sign-in attempt on its
/// account run for hours or abort the process allocating terabytes
/// (found by fuzzing: fuzz/fuzz_targets/django_hash.rs).
pub const MAX_PBKDF2_ITERATIONS: u32 = 20_000_000;
/// Argon2 memory (KiB, 1 GiB), passes and lanes.
pub const MAX_ARGON2: Argon2Cost = Argon2Cost { m: 1 << 20, t: 16, p: 64 };
pub const MAX_BCRYPT_COST: u32 = 16;
/// scrypt's memory, 128·r·N bytes (1 GiB), and its work, p times that.
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
pub const MAX_SCRYPT_WORK: u64 = 4 << 30;

/// The configured way to write new hashes.
#[derive(Debug, Clone, Copy)]
pub struct Hasher {
    pub kind: HasherKind,
    pub argon2: Argon2Cost,
    pub pbkdf2_iterations: u32,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub matches: bool,
    /// The hash uses another algorithm or weaker parameters than configured:
    /// re-hash it now that the plaintext is known to be right.
    pub needs_upgrade: bool,
}

impl Hasher {
    pub fn new(kind: HasherKind) -> Hasher {
        Hasher { kind, argon2: ARGON2_OWASP, pbkdf2_iterations: PBKDF2_ITERATIONS }
    }

    /// Hashes with a fresh random salt, in Django's encoded form.
    pub fn hash(&self, password: &str) -> String {
        let salt = random_salt();
        match self.kind {
            HasherKind::Argon2 => argon2_encode(password, salt.as_bytes(), self.argon2),
            HasherKind::Pbkdf2Sha256 => pbkdf2_sha256_encode(password, &salt, self.pbkdf2_iterations),
        }
    }

    /// Checks `password` against any hash Django writes. A malformed or
    /// unusable (`!…`) hash never matches.
    pub fn verify(&self, password: &str, encoded: &str) -> Verdict {
        let (matches, weaker) = verify_any(password, encoded, self);
        Verdict { matches, needs_upgrade: matches && weaker }
    }

    /// Spends the work of one verification when there is no account, so an
    /// unknown login costs what a known one does.
    pub fn burn(&self, password: &str) {
        let _ = self.hash(password);
    }
}

/// Django's salts are 22 characters from [a-zA-Z0-9] (about 131 bits).
fn random_salt() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..22).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Returns (matches, weaker than configured).
fn verify_any(password: &str, encoded: &str, cfg: &Hasher) -> (bool, bool) {
    let (algorithm, rest) = encoded.split_once('$').unwrap_or(("", ""));
    let pw = password.as_bytes();
    let configured = match cfg.kind {
        HasherKind::Argon2 => "argon2",
        HasherKind::Pbkdf2Sha256 => "pbkdf2_sha256",
    };
    let other = algorithm != configured;
    match algorithm {
        "argon2" => argon2_verify(pw, rest, cfg.argon2).map_or((false, false), |(ok, weak)| (ok, other || weak)),
        "pbkdf2_sha256" => pbkdf2_verify::<sha2::Sha256>(pw, rest)
            .map_or((false, false), |(ok, iters)| (ok, other || iters < cfg.pbkdf2_iterations)),
        "pbkdf2_sha1" => (pbkdf2_verify::<sha1::Sha1>(pw, rest).is_some_and(|(ok, _)| ok), true),
        "bcrypt_sha256" => {
            // Django pre-hashes so bcrypt's 72-byte limit does not truncate.
            let digest = hex::encode(sha2::Sha256::digest(pw));
            (bcrypt_verify(digest.as_bytes(), rest), true)
        }
        "bcrypt" => (bcrypt_verify(pw, rest), true),
        "scrypt" => (scrypt_verify(pw, rest).unwrap_or(false), true),
        "md5" => (md5_verify(pw, rest).unwrap_or(false), true),
        _ => (false, false),
    }
}

thread_local! {
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn argon2_encode(password: &str, salt: &[u8], cost: Argon2Cost) -> String {
    let hash = argon2_raw(argon2::Algorithm::Argon2id, argon2::Version::V0x13, cost, password.as_bytes(), salt, 32)
        .expect("argon2 parameters are valid constants");
    format!(
        "argon2$argon2id$v=19$m={},t={},p={}${}${}",
        cost.m,
        cost.t,
        cost.p,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

fn argon2_raw(
    alg: argon2::Algorithm,
    version: argon2::Version,
    cost: Argon2Cost,
    pw: &[u8],
    salt: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let params = argon2::Params::new(cost.m, cost.t, cost.p, Some(len)).ok()?;
    let mut out = vec![0u8; len];
    let blocks = params.block_count();
    let argon = argon2::Argon2::new(alg, version, params);
    // Each hashing thread keeps its working memory (19 MiB at OWASP cost)
    // instead of asking the allocator for it at every hash.
    ARGON2_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(pw, salt, &mut out, &mut memory[..blocks]).ok()
    })?;
    Some(out)
}

/// `argon2id$v=19$m=…,t=…,p=…$salt$hash` (very old Django omits `v=`).
fn argon2_verify(pw: &[u8], rest: &str, want: Argon2Cost) -> Option<(bool, bool)> {
    let mut parts: Vec<&str> = rest.split('$').collect();
    let alg = match *parts.first()? {
        "argon2id" => argon2::Algorithm::Argon2id,
        "argon2i" => argon2::Algorithm::Argon2i,
        "argon2d" => argon2::Algorithm::Argon2d,
        _ => return None,
    };
    let version = if parts.get(1)?.starts_with("v=") {
        let v = parts.remove(1);
        if v == "v=19" { argon2::Version::V0x13 } else { argon2::Version::V0x10 }
    } else {
        argon2::Version::V0x10
    };
    let [_, params, salt, hash] = parts.as_slice() else { return None };
    let mut cost = Argon2Cost { m: 0, t: 0, p: 0 };
    for kv in params.split(',') {
        let (k, v) = kv.split_once('=')?;
        let v: u32 = v.parse().ok()?;
        match k {
            "m" => cost.m = v,
            "t" => cost.t = v,
            "p" => cost.p = v,
            _ => return None,
        }
    }
    if cost.m > MAX_ARGON2.m || cost.t > MAX_ARGON2.t || cost.p > MAX_ARGON2.p {
        return None;
    }
    let salt = STANDARD_NO_PAD.decode(salt).ok()?;
    let expected = STANDARD_NO_PAD.decode(hash).ok()?;
    let actual = argon2_raw(alg, version, cost, pw, &salt, expected.len())?;
    let weaker =
        alg != argon2::Algorithm::Argon2id || version != argon2::Version::V0x13 || cost.m < want.m || cost.t < want.t;
    Some((ct_eq(&actual, &expected), weaker))
}

fn pbkdf2_sha256_encode(password: &str, salt: &str, iterations: u32) -> String {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    format!("pbkdf2_sha256${iterations}${salt}${}", STANDARD.encode(out))
}

/// `<iterations>$<salt>$<base64 hash>`; the salt is used as its text bytes.
/// Returns (matches, iterations).
fn pbkdf2_verify<D>(pw: &[u8], rest: &str) -> Option<(bool, u32)>
where
    D: hmac::EagerHash + Digest,
{
    let mut parts = rest.splitn(3, '$');
    let iterations: u32 = parts.next()?.parse().ok().filter(|&i| i > 0 && i <= MAX_PBKDF2_ITERATIONS)?;
    let salt = parts.next()?;
    let expected = STANDARD.decode(parts.next()?).ok()?;
    if expected.is_empty() || expected.len() > 64 {
        return None;
    }
    let mut actual = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<D>(pw, salt.as_bytes(), iterations, &mut actual);
    Some((ct_eq(&actual, &expected), iterations))
}

/// `rest` is the whole bcrypt string (`$2b$12$…`, the cost where the
/// bcrypt crate reads it).
fn bcrypt_verify(pw: &[u8], rest: &str) -> bool {
    let cost = rest.get(4..6).and_then(|c| c.parse::<u32>().ok());
    rest.starts_with('$') && cost.is_some_and(|c| c <= MAX_BCRYPT_COST) && bcrypt::verify(pw, rest).unwrap_or(false)
}

/// `<N>$<salt>$<r>$<p>$<base64 64-byte key>`.
fn scrypt_verify(pw: &[u8], rest: &str) -> Option<bool> {
    let parts: Vec<&str> = rest.split('$').collect();
    let [n, salt, r, p, hash] = parts.as_slice() else { return None };
    let n: u64 = n.parse().ok()?;
    if !n.is_power_of_two() || n < 2 {
        return None;
    }
    let log_n = u8::try_from(n.trailing_zeros()).ok()?;
    let (r, p): (u32, u32) = (r.parse().ok()?, p.parse().ok()?);
    let memory = n.checked_mul(128 * u64::from(r))?;
    if memory > MAX_SCRYPT_MEMORY || memory.checked_mul(u64::from(p))? > MAX_SCRYPT_WORK {
        return None;
    }
    let params = scrypt::Params::new(log_n, r, p).ok()?;
    let expected = STANDARD.decode(hash).ok()?;
    if expected.is_empty() || expected.len() > 128 {
        return None;
    }
    let mut actual = vec![0u8; expected.len()];
    scrypt::scrypt(pw, salt.as_bytes(), &params, &mut actual).ok()?;
    Some(ct_eq(&actual, &expected))
}

/// `<salt>$<hex md5(salt + password)>`: Django still writes it in tests.
fn md5_verify(pw: &[u8], rest: &str) -> Option<bool> {
    let (salt, hash) = rest.split_once('$')?;
    let mut h = md5::Md5::new();
    h.update(salt.as_bytes());
    h.update(pw);
    Some(ct_eq(hex::encode(h.finalize()).as_bytes(), hash.as_bytes()))
}

#[cfg(test)]
pub(crate) fn encode_with_salt(
    kind: HasherKind,
    password: &str,
    salt: &str,
    argon2: Argon2Cost,
    iterations: u32,
) -> String {
    match kind {
        HasherKind::Argon2 => argon2_encode(password, salt.as_bytes(), argon2),
        HasherKind::Pbkdf2Sha256 => pbkdf2_sha256_encode(password, salt, iterations),
    }
}

/// Vectors made by real Django 6.1 (`scripts/django_vectors.py`, which calls
/// each Django hasher's `encode(password, salt)` with fixed salts and checks
/// them with `check_password`).
#[cfg(test)]
mod django_vectors {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/django_vectors.json")).unwrap()
    }

    /// One pass over every vector (they are slow by design): it verifies,
    /// a wrong password does not, and only weaker or foreign hashes ask for
    /// an upgrade (Django's own argon2 defaults use more memory than OWASP's).
    #[test]
    fn every_django_hash_verifies_and_upgrades_only_when_weaker() {
        let v = vectors();
        let wrong = v["wrong_password"].as_str().unwrap();
        let h = Hasher::new(HasherKind::Argon2);
        for entry in v["password_hashes"].as_array().unwrap() {
            let (pw, encoded) = (entry["password"].as_str().unwrap(), entry["encoded"].as_str().unwrap());
            let verdict = h.verify(pw, encoded);
            assert!(verdict.matches, "{encoded} did not verify");
            assert_eq!(verdict.needs_upgrade, !encoded.starts_with("argon2$"), "{encoded}");
            assert!(!h.verify(wrong, encoded).matches, "{encoded} accepted a wrong password");
        }
    }

    #[test]
    fn authgate_writes_the_hashes_django_writes() {
        let v = vectors();
        for entry in v["password_hashes"].as_array().unwrap() {
            let (pw, salt, encoded) = (
                entry["password"].as_str().unwrap(),
                entry["salt"].as_str().unwrap(),
                entry["encoded"].as_str().unwrap(),
            );
            let p = &entry["params"];
            let ours = match entry["algorithm"].as_str().unwrap() {
                "argon2" => {
                    let cost = Argon2Cost {
                        m: p["memory_cost"].as_u64().unwrap() as u32,
                        t: p["time_cost"].as_u64().unwrap() as u32,
                        p: p["parallelism"].as_u64().unwrap() as u32,
                    };
                    encode_with_salt(HasherKind::Argon2, pw, salt, cost, 0)
                }
                "pbkdf2_sha256" => {
                    let iterations = encoded.split('$').nth(1).unwrap().parse().unwrap();
                    encode_with_salt(HasherKind::Pbkdf2Sha256, pw, salt, ARGON2_OWASP, iterations)
                }
                _ => continue,
            };
            assert_eq!(ours, encoded);
        }
    }

    #[test]
    fn bcrypt_sha256_uses_the_whole_long_password() {
        let v = &vectors()["bcrypt_long_password"];
        let pw = v["password"].as_str().unwrap();
        let h = Hasher::new(HasherKind::Argon2);
        assert!(h.verify(pw, v["bcrypt_sha256_encoded"].as_str().unwrap()).matches);
        assert!(!h.verify(pw, v["bcrypt_sha256_of_first_72_bytes"].as_str().unwrap()).matches);
    }

    #[test]
    fn new_hashes_use_the_configured_hasher() {
        let argon = Hasher::new(HasherKind::Argon2);
        let mine = argon.hash("s3cret-enough");
        assert!(mine.starts_with("argon2$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(argon.verify("s3cret-enough", &mine), Verdict { matches: true, needs_upgrade: false });
        let pbkdf2 = Hasher::new(HasherKind::Pbkdf2Sha256);
        assert_eq!(pbkdf2.verify("s3cret-enough", &mine), Verdict { matches: true, needs_upgrade: true });
        let theirs = pbkdf2.hash("s3cret-enough");
        assert!(theirs.starts_with("pbkdf2_sha256$1500000$"));
        assert_eq!(pbkdf2.verify("s3cret-enough", &theirs), Verdict { matches: true, needs_upgrade: false });
    }

    #[test]
    fn malformed_and_unusable_hashes_never_match() {
        let h = Hasher::new(HasherKind::Argon2);
        for bad in [
            "",
            "!",
            "!unusable",
            "argon2$",
            "argon2$argon2id$v=19$m=x$a$b",
            "pbkdf2_sha256$0$salt$AAAA",
            "pbkdf2_sha256$abc$salt$AAAA",
            "bcrypt_sha256$nope",
            "scrypt$3$salt$8$1$AAAA",
            "unknown$x",
            "md5$salt",
        ] {
            assert!(!h.verify("password", bad).matches, "{bad:?}");
        }
    }

    /// Found by fuzzing (fuzz/fuzz_targets/django_hash.rs): a stored hash
    /// asking for absurd work is refused at once, instead of running for
    /// hours (PBKDF2, bcrypt, Argon2 passes) or aborting the process on a
    /// terabyte allocation (Argon2 memory, scrypt N).
    #[test]
    fn hashes_asking_for_absurd_work_never_match_and_return_at_once() {
        let h = Hasher::new(HasherKind::Argon2);
        let started = std::time::Instant::now();
        for absurd in [
            "pbkdf2_sha256$4294967295$salt$/GKnD1ANVXrWWQjcNtaKpzCVFaMo+RD+c+rXBZypCq8=",
            "pbkdf2_sha1$4294967295$salt$C5USsG/jY7rzV4KW2GDwdRWsiVc=",
            "argon2$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$CR3mImtJjb1+UiedQ1A9WKNdpaSBDoKPXUtqniQWtzc",
            "argon2$argon2id$v=19$m=8,t=4294967295,p=1$c2FsdHNhbHQ$CR3mImtJjb1+UiedQ1A9WKNdpaSBDoKPXUtqniQWtzc",
            "argon2$argon2id$v=19$m=16777215,t=1,p=16777215$c2FsdHNhbHQ$CR3mImtJjb1+UiedQ1A9WKNdpaSBDoKPXUtqniQWtzc",
            "bcrypt$$2b$31$AuthgateBcryptSalt000uukv9ossJST/rIuUoJ.CWwf3PfKdh0rG",
            "bcrypt_sha256$$2b$31$AuthgateBcryptSalt000uNmoKgpADhJLrPjCZwAwfc6MwOzZK9Ri",
            "scrypt$1125899906842624$salt$1$1$vwoDcAwzIXCJYDxCpkGssKeaL9uzylHiPh8EAGW+qLgPv7ZFfw==",
            "scrypt$16384$salt$8$1073741823$vwoDcAwzIXCJYDxCpkGssKeaL9uzylHiPh8EAGW+qLgPv7ZFfw==",
        ] {
            assert!(!h.verify("password", absurd).matches, "{absurd:?}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    }
}
