//! Builds the PostgreSQL run of the integration suite (`tests/api_pg.rs`)
//! only when a test database is named, so a machine without PostgreSQL runs
//! the suite once, on SQLite.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(authgate_pg_tests)");
    println!("cargo::rerun-if-env-changed=AUTHGATE_TEST_DATABASE_URL");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=migrations");
    if std::env::var("AUTHGATE_TEST_DATABASE_URL").is_ok_and(|v| !v.trim().is_empty()) {
        println!("cargo::rustc-cfg=authgate_pg_tests");
    }
}
