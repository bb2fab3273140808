//! The sign-in defence's state (contract §14.1): failure counters per login
//! id and per (login id, trusted network), and the networks each account
//! signed in from. The rules are `domain::soft_lock`'s; judging and counting
//! run in one write, so of concurrent attempts only as many go ahead as the
//! rules allow.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::writer::row;
use super::{Store, Tx};
use crate::domain::network::network;
use crate::domain::session::NewSession;
use crate::domain::soft_lock::{Charge, Failures, SoftLock, Verdict};
use crate::domain::{UserId, from_micros, micros};
use crate::error::Result;

/// The login id's own counter has no network.
const LOGIN_WIDE: &str = "";

impl Store {
    /// Judges an attempt by the counter `charge` names and, when it may go
    /// ahead, counts it as a failure at once on every counter of `charge`.
    pub async fn login_attempt(&self, lock: SoftLock, charge: &Charge, now: DateTime<Utc>) -> Result<Verdict> {
        let charge = charge.clone();
        self.write(move |tx| {
            let login_wide = read_counter(tx.conn, &charge.login, LOGIN_WIDE)?;
            let on_network = match charge.network.as_deref() {
                Some(network) => Some((network, read_counter(tx.conn, &charge.login, network)?)),
                None => None,
            };
            let verdict = lock.judge(on_network.map_or(login_wide, |(_, failures)| failures), now);
            if verdict == Verdict::Allowed {
                write_counter(tx, &charge.login, LOGIN_WIDE, login_wide.after_failure(now))?;
                if let Some((network, failures)) = on_network {
                    write_counter(tx, &charge.login, network, failures.after_failure(now))?;
                }
            }
            Ok(verdict)
        })
        .await
    }

    /// Takes back the failure `login_attempt` counted (an attempt that was
    /// not wrong credentials).
    pub async fn forgive_login_attempt(&self, charge: &Charge) -> Result<()> {
        let charge = charge.clone();
        self.write(move |tx| {
            for network in std::iter::once(LOGIN_WIDE).chain(charge.network.as_deref()) {
                tx.exec(
                    "UPDATE login_failures SET failures = failures - 1
                      WHERE login_key = ?1 AND network = ?2 AND failures > 0",
                    [&charge.login, network],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Every counter of the login id starts again (a successful sign-in).
    pub async fn reset_login_failures(&self, login: &str) -> Result<()> {
        let login = login.to_owned();
        self.write(move |tx| tx.exec("DELETE FROM login_failures WHERE login_key = ?1", [&login]).map(drop)).await
    }

    /// The login id's own counter (every failure, from any network).
    pub async fn login_failures(&self, login: &str) -> Result<Failures> {
        let login = login.to_owned();
        self.read(move |conn| read_counter(conn, &login, LOGIN_WIDE)).await
    }

    /// Whether the account signed in from `network` since `since`; without
    /// an account the same query, for an id no account has, so the work
    /// does not tell an unknown login from a known one.
    pub async fn network_trusted(&self, user: Option<UserId>, network: &str, since: DateTime<Utc>) -> Result<bool> {
        let (user, network) = (user.map(|u| u.to_string()).unwrap_or_default(), network.to_owned());
        self.read(move |conn| {
            let sql = "SELECT 1 FROM trusted_networks WHERE user_id = ?1 AND network = ?2 AND last_success_at >= ?3";
            Ok(row(conn, sql, params![user, network, micros(since)], |_| Ok(()))?.is_some())
        })
        .await
    }

    /// Deletes counters whose window ended before `failures_before` and
    /// trust older than `trusted_before`; returns how many rows went.
    pub async fn sweep_login_defence(
        &self,
        failures_before: DateTime<Utc>,
        trusted_before: DateTime<Utc>,
    ) -> Result<u64> {
        self.write(move |tx| {
            let failures = tx.exec("DELETE FROM login_failures WHERE latest_at < ?1", [micros(failures_before)])?;
            let trust = tx.exec("DELETE FROM trusted_networks WHERE last_success_at < ?1", [micros(trusted_before)])?;
            Ok((failures + trust) as u64)
        })
        .await
    }
}

fn read_counter(conn: &Connection, login: &str, network: &str) -> rusqlite::Result<Failures> {
    let sql = "SELECT failures, latest_at FROM login_failures WHERE login_key = ?1 AND network = ?2";
    let found = row(conn, sql, [login, network], |r| {
        let count = u32::try_from(r.get::<_, i64>("failures")?).unwrap_or(u32::MAX);
        Ok(Failures { count, latest: from_micros(r.get("latest_at")?) })
    })?;
    Ok(found.unwrap_or_default())
}

fn write_counter(tx: &Tx<'_>, login: &str, network: &str, failures: Failures) -> rusqlite::Result<()> {
    tx.exec(
        "INSERT INTO login_failures (login_key, network, failures, latest_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (login_key, network) DO UPDATE SET failures = excluded.failures, latest_at = excluded.latest_at",
        params![login, network, i64::from(failures.count), micros(failures.latest)],
    )?;
    Ok(())
}

/// Records that the session's user signed in from its network at the
/// session's time (inside the sign-in's write).
pub(super) fn remember_network(tx: &Tx<'_>, s: &NewSession) -> rusqlite::Result<()> {
    let Some(ip) = s.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) else { return Ok(()) };
    tx.exec(
        "INSERT INTO trusted_networks (user_id, network, last_success_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, network) DO UPDATE SET last_success_at = excluded.last_success_at",
        params![s.user_id.to_string(), network(ip).to_string(), micros(s.at)],
    )?;
    Ok(())
}
