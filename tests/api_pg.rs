//! The integration suite again, on PostgreSQL: built when
//! `AUTHGATE_TEST_DATABASE_URL` names a database (`.ci/run` sets it), where
//! each test gets a schema of its own. See `build.rs`.
#![cfg(authgate_pg_tests)]

#[path = "api/main.rs"]
mod api;
