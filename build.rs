//! Builds the PostgreSQL run of the integration suite (`tests/api_pg.rs`)
//! only when a test database is named, so a machine without PostgreSQL runs
//! the suite once, on SQLite; links the binaries with packed relocations;
//! unpacks the common-password lists into one sorted text.
use std::io::Read;

fn main() {
    common_passwords();
    println!("cargo::rustc-check-cfg=cfg(authgate_pg_tests)");
    println!("cargo::rerun-if-env-changed=AUTHGATE_TEST_DATABASE_URL");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=migrations");
    // The binary's relative relocations in the packed form (DT_RELR, glibc
    // 2.36+, binutils 2.38+): 1.3 MB of relocation records, read whole by
    // the loader at every start, become a few kB (idle RSS, issue 13).
    // AUTHGATE_PACKED_RELOCATIONS=0 builds for an older glibc.
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("-linux-gnu") && std::env::var("AUTHGATE_PACKED_RELOCATIONS").as_deref() != Ok("0") {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo::rerun-if-env-changed=AUTHGATE_PACKED_RELOCATIONS");
    if std::env::var("AUTHGATE_TEST_DATABASE_URL").is_ok_and(|v| !v.trim().is_empty()) {
        println!("cargo::rustc-cfg=authgate_pg_tests");
    }
}

/// Django's and zxcvbn's lists (data/README.md), each line trimmed as Django
/// reads it, as one sorted, de-duplicated text of lines that the password
/// policy searches in place (no start-up work, no heap).
fn common_passwords() {
    let mut words = Vec::new();
    for name in ["common-passwords.txt.gz", "common-passwords-zxcvbn.txt.gz"] {
        let path = format!("data/{name}");
        println!("cargo::rerun-if-changed={path}");
        let gz = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap_or_else(|e| panic!("{path}: {e}"));
        words.extend(text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()));
    }
    words.sort_unstable();
    words.dedup();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("common-passwords.txt"), words.join("\n")).expect("OUT_DIR is writable");
}
