//! The storage contract's own tests (issue 13): each operation of
//! `contract.rs`, through `Store`'s public methods only, on every backend
//! this machine has: SQLite always (a temporary file), PostgreSQL when
//! `AUTHGATE_TEST_DATABASE_URL` names a database (a schema per test).
//! Whichever implementation serves a database, these must pass unchanged.

/// Runs the contract test `$name` (an `async fn(&Db)` of the module)
/// once per backend, each run a test of its own (`$name::sqlite`,
/// `$name::postgres`) on a fresh, migrated database whose clock is manual
/// (`db.clock`), so that nothing sleeps.
macro_rules! on_each_backend {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                $crate::store::tests::harness::run($crate::store::Backend::Sqlite, super::$name).await;
            }

            #[cfg(authgate_pg_tests)]
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                $crate::store::tests::harness::run($crate::store::Backend::Postgres, super::$name).await;
            }
        }
    };
}

mod harness;

mod accounts;
mod admin;
mod codes;
mod devices;
mod login_defence;
mod mfa;
mod operation;
mod passkeys;
mod sessions;
