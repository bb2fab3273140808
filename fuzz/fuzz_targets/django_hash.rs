//! The Django hash-string parser and verifier (`Hasher::verify`): any
//! stored hash, any password: never a panic, and a hash that is not the
//! password's never matches.
//!
//! Input: the password, a newline, then the stored hash string.
//!
//! Finding: the verifier took the cost parameters of a stored hash as they
//! were (PBKDF2 iterations up to 2^32, Argon2 memory up to 4 TiB, bcrypt
//! cost up to 31, scrypt N up to 2^63), so one stored hash could make a
//! verification run for hours or abort the process on allocation. It now
//! refuses hashes over `MAX_*` (src/crypto/hashers.rs, regression test
//! `hashes_asking_for_absurd_work_never_match_and_return_at_once`). Those
//! bounds are still far too slow for fuzzing, so the input is bounded much
//! lower here (`cheap`).
#![no_main]

use authgate::crypto::hashers::{Argon2Cost, Hasher, HasherKind};
use libfuzzer_sys::fuzz_target;

/// Bounds the cost parameters the verifier would read, per algorithm,
/// exactly where it reads them (see src/crypto/hashers.rs).
fn cheap(encoded: &str) -> bool {
    let (algorithm, rest) = encoded.split_once('$').unwrap_or(("", ""));
    let fields: Vec<&str> = rest.split('$').collect();
    match algorithm {
        "pbkdf2_sha256" | "pbkdf2_sha1" => {
            rest.split('$').next().and_then(|i| i.parse::<u32>().ok()).is_none_or(|i| i <= 2_000)
        }
        "argon2" => fields.iter().flat_map(|f| f.split(',')).filter_map(|kv| kv.split_once('=')).all(|(k, v)| {
            let limit = match k {
                "m" => 256,
                "t" => 4,
                "p" => 4,
                _ => return true,
            };
            v.parse::<u32>().map_or(true, |v| v <= limit)
        }),
        "scrypt" => {
            let bound =
                |i: usize, limit: u64| fields.get(i).and_then(|v| v.parse::<u64>().ok()).is_none_or(|v| v <= limit);
            bound(0, 1024) && bound(2, 8) && bound(3, 2)
        }
        // bcrypt reads the cost from bytes 4..6 of its 60-byte string.
        "bcrypt" | "bcrypt_sha256" => rest.get(4..6).and_then(|c| c.parse::<u32>().ok()).is_none_or(|c| c <= 5),
        _ => true,
    }
}

/// With `AUTHGATE_FUZZ_SEEDS=<dir>`, writes seeds there first: hashes
/// authgate writes, at costs `cheap` lets through.
fn write_seeds() {
    let Some(dir) = std::env::var_os("AUTHGATE_FUZZ_SEEDS") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("the seed folder");
    for (i, kind) in [HasherKind::Argon2, HasherKind::Pbkdf2Sha256].into_iter().enumerate() {
        let hasher = Hasher { kind, argon2: Argon2Cost { m: 64, t: 1, p: 1 }, pbkdf2_iterations: 1000 };
        let password = "correct horse battery staple";
        std::fs::write(dir.join(format!("seed-authgate-{i}")), format!("{password}\n{}", hasher.hash(password)))
            .expect("a seed");
    }
}

fuzz_target!(init: write_seeds(), |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (password, encoded) = text.split_once('\n').unwrap_or(("password", text));
    if !cheap(encoded) {
        return;
    }
    for kind in [HasherKind::Argon2, HasherKind::Pbkdf2Sha256] {
        let verdict = Hasher::new(kind).verify(password, encoded);
        assert!(!verdict.needs_upgrade || verdict.matches, "an upgrade asked for without a match: {encoded:?}");
        if verdict.matches {
            // A match is a real one: another password does not match too.
            let other = format!("{password}\u{0}x");
            assert!(!Hasher::new(kind).verify(&other, encoded).matches, "{encoded:?} matches two passwords");
        }
    }
});
