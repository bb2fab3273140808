//! The rules of each flow. Nothing here knows about HTTP: flows take parsed
//! domain values and return results or `Error`s.

pub mod account;
pub mod admin;
pub mod auth;
pub mod login;
pub mod otp;
pub mod passwords;
pub mod policy;
pub mod register;
pub mod tokens;

use chrono::{DateTime, Utc};

/// Unix seconds, as JWT claims count time.
pub(crate) fn unix(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// Background work of a flow whose answer must not depend on the account
/// starts once the answer is on its way, so the work (heavier for a real
/// account) does not compete with the answer for the CPU.
pub(crate) async fn after_the_answer() {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
}
