//! The per-account sign-in defence around the password check (contract
//! §14.1): after N failures for a login id, attempts for it wait an
//! escalating delay, answered 429 without checking the password; the
//! account itself is never locked. A network the account signed in from
//! within 30 days is judged by its own counter, so failures elsewhere never
//! delay the owner there.
//!
//! An attempt is counted as a failure when it is let through, before the
//! password is checked, and forgiven when the password was right: judging
//! and counting in one atomic step is what stops a burst of concurrent
//! guesses from all passing a check that none of them has counted yet.

use serde_json::json;

use crate::domain::network::network;
use crate::domain::soft_lock::{self, Charge, SoftLock, Verdict};
use crate::domain::{AuditAction, AuditEvent, ClientInfo, Outcome, User};
use crate::error::{Error, Result};
use crate::state::Services;
use crate::telemetry;
use crate::throttle::whole_seconds;

/// The answer's message while a login id is delayed.
pub const DELAYED: &str = "Too many failed attempts for this account. Try again later.";

/// An attempt the defence let through, counted as a failure until it
/// proves otherwise. Dropping it (wrong credentials) leaves the failure.
#[must_use = "a correct password must reset the counters, an attempt that was not wrong credentials forgive it"]
pub struct Admitted(Option<Charge>);

impl Admitted {
    /// A successful sign-in: every counter of the login id starts again. A
    /// failure is logged, not answered: the session exists already.
    pub async fn signed_in(self, svc: &Services) {
        let Some(charge) = self.0 else { return };
        if let Err(e) = svc.login_counters.reset(&svc.store, &charge.login).await {
            tracing::warn!(error = %e, "login defence: the failure counters were not reset after a sign-in");
        }
    }

    /// The password was right but sign-in is refused for another reason
    /// (an inactive account): only wrong credentials count as failures.
    pub async fn forgive(self, svc: &Services) {
        let Some(charge) = self.0 else { return };
        if let Err(e) = svc.login_counters.forgive(&svc.store, &charge).await {
            tracing::warn!(error = %e, "login defence: a failure was not taken back");
        }
    }
}

/// Lets an attempt for `raw_login` (whose account is `user`, if any) go on
/// to the password check and counts it, or refuses it with the delay's 429
/// (audited `login_delayed`).
pub async fn admit(svc: &Services, raw_login: &str, user: Option<&User>, client: &ClientInfo) -> Result<Admitted> {
    let lock = SoftLock::new(svc.config.login_failures_before_delay);
    if lock.is_off() {
        return Ok(Admitted(None));
    }
    let now = svc.clock.now();
    let network = client.ip.map(|ip| network(ip).to_string());
    let trusted = match &network {
        Some(net) => svc.store.network_trusted(user.map(|u| u.id), net, soft_lock::trusted_since(now)).await?,
        None => false,
    };
    let charge = Charge { login: soft_lock::login_key(raw_login), network: network.clone().filter(|_| trusted) };
    match svc.login_counters.attempt(&svc.store, &svc.tasks, lock, &charge, now).await? {
        Verdict::Allowed => Ok(Admitted(Some(charge))),
        Verdict::Delayed { retry_after } => {
            let retry_after_secs = whole_seconds(retry_after);
            telemetry::login(telemetry::LoginOutcome::Delayed);
            let counter = if trusted { "network" } else { "login" };
            let detail = json!({"network": network, "counter": counter, "retry_after": retry_after_secs});
            let event = AuditEvent::new(AuditAction::LoginDelayed, Outcome::Failure, user.map(|u| u.id), client);
            svc.store.record_audit(&event.with_detail(detail)).await?;
            Err(Error::Delayed { message: DELAYED, retry_after_secs })
        }
    }
}

/// A second factor about to be checked (§15.2), admitted and counted as
/// a failure of each login id of the account (its email and its phone: the
/// factor belongs to the account, whichever id the sign-in used), or
/// refused with the delay's 429 when any of them is delayed.
pub async fn admit_second_factor(svc: &Services, user: &User, client: &ClientInfo) -> Result<SecondFactor> {
    let ids = [user.email.as_ref().map(|e| e.as_str().to_owned()), user.phone.as_ref().map(|p| p.as_str().to_owned())];
    let mut admitted = Vec::new();
    for id in ids.into_iter().flatten() {
        admitted.push(admit(svc, &id, Some(user), client).await?);
    }
    Ok(SecondFactor(admitted))
}

/// A second factor being checked: a failure of each of the account's login
/// ids until it proves right. Dropping it (a wrong answer) leaves them.
#[must_use = "a right second factor must reset the counters"]
pub struct SecondFactor(Vec<Admitted>);

impl SecondFactor {
    /// The last factor passed: the sign-in succeeded (§14.1 resets).
    pub async fn signed_in(self, svc: &Services) {
        for admitted in self.0 {
            admitted.signed_in(svc).await;
        }
    }
}

/// §14.1's count for a login id: its failures in the current window, from
/// every network (what §20's adaptive challenge counts).
pub async fn failures(svc: &Services, raw_login: &str) -> Result<u32> {
    let failures = svc.login_counters.failures(&svc.store, &soft_lock::login_key(raw_login)).await?;
    Ok(failures.at(svc.clock.now()).count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Secret};
    use crate::domain::Clock;

    /// Services on a fresh SQLite file, reading `clock`.
    async fn services(clock: &Clock) -> (crate::state::AppState, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("authgate-unit-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = Config {
            database_url: format!("sqlite://{}", dir.join("authgate.db").display()),
            secret_key: Some(Secret("login-defence-unit-test-secret-0123456789".into())),
            clock: clock.clone(),
            ..Config::default()
        };
        (Services::build(config).await.unwrap(), dir)
    }

    #[tokio::test]
    async fn the_count_is_the_login_ids_failures_in_its_window_from_every_network() {
        // Arrange
        let clock = Clock::manual();
        let (svc, dir) = services(&clock).await;
        let from = |ip: &str| ClientInfo { ip: Some(ip.parse().unwrap()), user_agent: None };

        // Act: attempts let through and not signed in are failures.
        for ip in ["203.0.113.9", "198.51.100.7", "2001:db8::1"] {
            let _wrong_password = admit(&svc, "Ana@Example.com", None, &from(ip)).await.unwrap();
        }
        let counted = failures(&svc, "ana@example.COM").await.unwrap();
        let other = failures(&svc, "bea@example.com").await.unwrap();
        clock.advance(soft_lock::WINDOW);
        let later = failures(&svc, "ana@example.com").await.unwrap();

        // Assert
        assert_eq!((counted, other, later), (3, 0, 0));
        svc.store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
