//! Sessions: sign-ins, refresh rotations, listing and revocation.

use rusqlite::params;

use super::login_defence::remember_network;
use super::rows::{STORED_REFRESH, parsed, session, stored_refresh};
use super::writer::{row, rows};
use super::{Store, Tx};
use crate::domain::session::{NewSession, Opened, Rotate, Rotation, Session, judge_stale, rotation_event};
use crate::domain::{AuditEvent, SessionId, UserId, micros};
use crate::error::Result;

/// Moves the session from the presented token to the next, if the presented
/// one is current, and records the presenter as its latest client: `?1`
/// session, `?2` user, `?3` presented jti, `?4..?6` the next token's jti,
/// iat and exp, `?7` now (µs), `?8` now (s), `?9` the presenter's IP, `?10`
/// its user agent.
const ROTATE: &str = "UPDATE sessions
    SET previous_jti = refresh_jti, refresh_jti = ?4, refresh_iat = ?5, refresh_exp = ?6,
        rotated_at = ?7, last_used_at = ?7, ip = ?9, user_agent = ?10
  WHERE id = ?1 AND user_id = ?2 AND refresh_jti = ?3 AND revoked_at IS NULL AND refresh_exp > ?8";

impl Store {
    /// Records a sign-in: the session, the user's `last_login`, its network,
    /// its (device, network) pair, the evictions beyond the session limit
    /// and the audit events, in one write. The writer runs one write at a
    /// time, so concurrent sign-ins at the limit leave exactly the limit,
    /// and a password write that revokes every session comes wholly before
    /// this one (which then finds the user changed and opens nothing) or
    /// wholly after.
    pub async fn open_session(&self, s: &NewSession, event: &AuditEvent) -> Result<Option<Opened>> {
        let (s, event) = (s.clone(), event.clone());
        self.write(move |tx| {
            let unchanged = tx.exec(
                "UPDATE users SET last_login = ?2 WHERE id = ?1 AND updated_at = ?3",
                params![s.user_id.to_string(), micros(s.at), micros(s.user_updated_at)],
            )?;
            if unchanged == 0 {
                return Ok(None);
            }
            insert_session(tx, &s)?;
            remember_network(tx, &s)?;
            tx.audit(event)?;
            let new_device = remember_device(tx, &s)?;
            if new_device && s.new_device_alerts {
                tx.audit(s.new_device_event())?;
            }
            let evicted = evict(tx, &s)?;
            Ok(Some(Opened { evicted, new_device }))
        })
        .await
    }

    /// Rotates the session's refresh token (see the contract): decided in
    /// the writer's transaction, with the clock read there.
    pub async fn rotate_session(&self, rotate: &Rotate) -> Result<Rotation> {
        let r = rotate.clone();
        self.write(move |tx| rotate_on(tx, &r)).await
    }

    /// The user's live sessions, newest first.
    pub async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>> {
        let now = self.clock.unix();
        self.read(move |conn| {
            rows(
                conn,
                "SELECT id, created_at, last_used_at, ip, user_agent FROM sessions
                  WHERE user_id = ?1 AND revoked_at IS NULL AND refresh_exp > ?2
                  ORDER BY created_at DESC, id DESC",
                params![user.to_string(), now],
                session,
            )
        })
        .await
    }

    /// Revokes one live session of `user`; false (and no event) when there
    /// was none.
    pub async fn revoke_session(&self, id: SessionId, user: UserId, reason: &str, event: &AuditEvent) -> Result<bool> {
        let (reason, event) = (reason.to_owned(), event.clone());
        self.write(move |tx| {
            let done = revoke_one(tx, id, user, &reason)?;
            if done {
                tx.audit(event)?;
            }
            Ok(done)
        })
        .await
    }

    /// Revokes every live session of the user; returns how many.
    pub async fn revoke_all_sessions(&self, user: UserId, reason: &str, event: &AuditEvent) -> Result<u64> {
        let (reason, event) = (reason.to_owned(), event.clone());
        self.write(move |tx| {
            let n = revoke_all(tx, &user.to_string(), &reason)?;
            tx.audit(event)?;
            Ok(n)
        })
        .await
    }
}

/// One rotation, in its savepoint; the clock read now that the write lock
/// is held, so a presenter that waited is judged by when its turn came.
fn rotate_on(tx: &mut Tx<'_>, r: &Rotate) -> rusqlite::Result<Rotation> {
    let now = micros(tx.now());
    let (sid, user) = (r.session_id.to_string(), r.user_id.to_string());
    let rotated = tx.exec(
        ROTATE,
        params![
            sid,
            user,
            r.presented_jti.as_str(),
            r.next.jti.as_str(),
            r.next.iat,
            r.next.exp,
            now,
            now / 1_000_000,
            r.presenter.ip.map(|ip| ip.to_string()),
            r.presenter.user_agent,
        ],
    )? == 1;
    let outcome = if rotated {
        Rotation::Rotated
    } else {
        let stored = row(tx.conn, STORED_REFRESH, [&sid, &user], stored_refresh)?;
        let outcome = judge_stale(stored, r, now);
        if outcome == Rotation::Reused {
            tx.exec("UPDATE sessions SET revoked_at = ?2, revoked_reason = 'reuse' WHERE id = ?1", params![sid, now])?;
        }
        outcome
    };
    tx.audit(rotation_event(r, &outcome))?;
    Ok(outcome)
}

pub(super) fn insert_session(tx: &Tx<'_>, s: &NewSession) -> rusqlite::Result<()> {
    tx.exec(
        "INSERT INTO sessions (id, user_id, refresh_jti, refresh_iat, refresh_exp, created_at, last_used_at, ip, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
        params![
            s.id.to_string(),
            s.user_id.to_string(),
            s.refresh.jti.as_str(),
            s.refresh.iat,
            s.refresh.exp,
            micros(s.at),
            s.ip,
            s.user_agent,
        ],
    )?;
    Ok(())
}

/// Revokes one live session of a user, inside the caller's write; false
/// when there was none.
fn revoke_one(tx: &Tx<'_>, id: SessionId, user: UserId, reason: &str) -> rusqlite::Result<bool> {
    let n = tx.exec(
        "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?4
          WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        params![id.to_string(), user.to_string(), micros(tx.now()), reason],
    )?;
    Ok(n == 1)
}

/// Revokes the user's least recently used live sessions beyond
/// `s.max_sessions` (`s` itself stays), with an event each; returns them.
fn evict(tx: &mut Tx<'_>, s: &NewSession) -> rusqlite::Result<Vec<SessionId>> {
    if s.max_sessions == 0 {
        return Ok(Vec::new());
    }
    let now_s = tx.now().timestamp();
    let (sid, user) = (s.id.to_string(), s.user_id.to_string());
    // The others, most recently used first: those past the first
    // `max_sessions - 1` go.
    let others: Vec<SessionId> = rows(
        tx.conn,
        "SELECT id FROM sessions
          WHERE user_id = ?1 AND id <> ?2 AND revoked_at IS NULL AND refresh_exp > ?3
          ORDER BY last_used_at DESC, id DESC",
        params![user, sid, now_s],
        |r| parsed(r, 0),
    )?;
    let keep = (s.max_sessions - 1) as usize;
    let mut evicted: Vec<SessionId> = others.into_iter().skip(keep).collect();
    evicted.reverse();
    for id in &evicted {
        revoke_one(tx, *id, s.user_id, "evicted")?;
        tx.audit(s.eviction_event(*id))?;
    }
    Ok(evicted)
}

/// Remembers the sign-in's (device, network) pair; true when it is new for
/// a user who had signed in before.
fn remember_device(tx: &Tx<'_>, s: &NewSession) -> rusqlite::Result<bool> {
    let user = s.user_id.to_string();
    let seen_before: bool = tx
        .conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM known_devices WHERE user_id = ?1)")?
        .query_row([&user], |r| r.get(0))?;
    let added = tx.exec(
        "INSERT INTO known_devices (user_id, device, network, first_seen_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, device, network) DO NOTHING",
        params![user, s.device, s.network(), micros(s.at)],
    )? == 1;
    Ok(added && seen_before)
}

/// Revokes every live session of a user, inside the caller's write.
pub(super) fn revoke_all(tx: &Tx<'_>, user: &str, reason: &str) -> rusqlite::Result<u64> {
    let n = tx.exec(
        "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user, micros(tx.now()), reason],
    )?;
    Ok(n as u64)
}
