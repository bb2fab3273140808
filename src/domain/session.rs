//! Sessions and the rotation of their refresh tokens (contract §4, §12):
//! the values a session is made of, and the pure judgement of a presented
//! refresh token that was not the session's current one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::device::location_hint;
use super::network::network;
use super::{AuditAction, AuditEvent, ClientInfo, Jti, Outcome, SessionId, UserId};

/// The claims that pin a refresh token: with them the same token can be
/// signed again, byte for byte, without storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshState {
    pub jti: Jti,
    pub iat: i64,
    pub exp: i64,
}

/// A sign-in about to be recorded.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub refresh: RefreshState,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
    /// The user row's `updated_at` when the sign-in was decided: the session
    /// opens only if the row is still so (a password reset, deactivation,
    /// deletion or role change in between wins over the sign-in).
    pub user_updated_at: DateTime<Utc>,
    /// The device label of `user_agent` (`device::device_label`).
    pub device: String,
    /// With this session open, the user keeps at most this many live
    /// sessions; the least recently used go (0: no limit).
    pub max_sessions: u32,
    /// Whether a (device, network) pair new for the user is audited
    /// `new_device` (an alert follows).
    pub new_device_alerts: bool,
}

impl NewSession {
    /// The network the pair of a new-device alert is made of: IPv4 /24,
    /// IPv6 /64, or "" when the address is unknown.
    pub fn network(&self) -> String {
        location_hint(self.ip.as_deref()).unwrap_or_default()
    }

    /// The client that signed in, as audit events record it.
    pub fn client(&self) -> ClientInfo {
        ClientInfo { ip: self.ip.as_deref().and_then(|ip| ip.parse().ok()), user_agent: self.user_agent.clone() }
    }

    /// `session_evicted`: `evicted` was revoked to make room for this
    /// session (AUTHGATE_MAX_SESSIONS_PER_USER).
    pub fn eviction_event(&self, evicted: SessionId) -> AuditEvent {
        AuditEvent::new(AuditAction::SessionEvicted, Outcome::Success, Some(self.user_id), &self.client()).with_detail(
            json!({"session_id": evicted.to_string(), "by_session_id": self.id.to_string(), "reason": "max_sessions"}),
        )
    }

    /// `new_device`: the user signed in from a (device, network) pair not
    /// seen before.
    pub fn new_device_event(&self) -> AuditEvent {
        let network = self.network();
        AuditEvent::new(AuditAction::NewDevice, Outcome::Success, Some(self.user_id), &self.client()).with_detail(
            json!({
                "session_id": self.id.to_string(),
                "device": self.device,
                "location_hint": (!network.is_empty()).then_some(network),
            }),
        )
    }
}

/// What recording a sign-in did besides opening its session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opened {
    /// Live sessions revoked to keep the user within `max_sessions`, least
    /// recently used first (for whoever announces revocations).
    pub evicted: Vec<SessionId>,
    /// The (device, network) pair is new for a user who had signed in
    /// before (a first sign-in is no new device).
    pub new_device: bool,
}

/// A device sign-in, as listed to its owner.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A refresh token presented for rotation.
#[derive(Debug, Clone)]
pub struct Rotate {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub presented_jti: Jti,
    pub next: RefreshState,
    pub grace: Duration,
    /// Who presented it: on rotation the session's latest client (§12),
    /// and within the grace the only client answered (§4).
    pub presenter: ClientInfo,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// This caller won the rotation; the session now holds `next`.
    Rotated,
    /// The token was rotated moments ago (within the grace) by this same
    /// client: here is the session's current token, to be handed out again
    /// unchanged.
    Grace(RefreshState),
    /// The token was rotated moments ago by another client (another user
    /// agent or network): refused, and the session lives on. `rotated_ip`
    /// is the address of the client that rotated it.
    Suspected { rotated_ip: Option<String> },
    /// A retired token came back: the session has been revoked.
    Reused,
    /// No such live session (revoked, expired, or never existed).
    Dead,
}

/// What a session holds, for judging a token that was not current.
#[derive(Debug, Clone)]
pub struct StoredRefresh {
    pub current: RefreshState,
    pub previous_jti: Option<Jti>,
    /// Microseconds since the epoch; 0 if never rotated.
    pub rotated_at: i64,
    pub revoked: bool,
    /// The latest client: the one that rotated, once the session has been
    /// refreshed.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The presented token is not the session's current one: a grace replay
/// by the client that rotated, a replay within the grace by anyone else
/// (refused, the session lives on), a reuse (the store then revokes the
/// session), or a dead session. `now` in microseconds.
pub fn judge_stale(stored: Option<StoredRefresh>, r: &Rotate, now: i64) -> Rotation {
    let Some(stored) = stored.filter(|s| !s.revoked) else { return Rotation::Dead };
    if stored.current.jti == r.presented_jti {
        return Rotation::Dead; // current, so it failed on expiry
    }
    let grace_us = i64::try_from(r.grace.as_micros()).unwrap_or(i64::MAX);
    if stored.previous_jti.as_ref() != Some(&r.presented_jti) || now >= stored.rotated_at.saturating_add(grace_us) {
        return Rotation::Reused;
    }
    if same_client(&stored, &r.presenter) {
        Rotation::Grace(stored.current)
    } else {
        Rotation::Suspected { rotated_ip: stored.ip }
    }
}

/// The presenter is the client that rotated: the same user agent from the
/// same network (IPv4 /24, IPv6 /64), so a retried request or a second tab
/// is answered and a thief elsewhere is not.
fn same_client(stored: &StoredRefresh, presenter: &ClientInfo) -> bool {
    let stored_network = stored.ip.as_deref().map(|ip| ip.parse().ok().map(network));
    let presenter_network = presenter.ip.map(|ip| Some(network(ip)));
    stored.user_agent == presenter.user_agent && stored_network == presenter_network
}

/// The audit event of a rotation's outcome, written in the rotation's own
/// transaction.
pub fn rotation_event(r: &Rotate, outcome: &Rotation) -> AuditEvent {
    let sid = r.session_id.to_string();
    let (action, result, detail) = match outcome {
        Rotation::Rotated => (AuditAction::TokenRefresh, Outcome::Success, json!({"session_id": sid})),
        Rotation::Grace(_) => (AuditAction::TokenRefresh, Outcome::Success, json!({"session_id": sid, "grace": true})),
        Rotation::Suspected { rotated_ip } => (
            AuditAction::TokenReuseSuspected,
            Outcome::Failure,
            json!({
                "session_id": sid,
                "presented_ip": r.presenter.ip.map(|ip| ip.to_string()),
                "rotated_ip": rotated_ip,
            }),
        ),
        Rotation::Reused => {
            (AuditAction::TokenReuse, Outcome::Failure, json!({"session_id": sid, "jti": r.presented_jti.as_str()}))
        }
        Rotation::Dead => {
            (AuditAction::TokenRefresh, Outcome::Failure, json!({"session_id": sid, "reason": "session_ended"}))
        }
    };
    AuditEvent::new(action, result, Some(r.user_id), &r.presenter).with_detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);
    const ROTATED_AT: i64 = 1_000_000_000;

    fn client(ip: &str, agent: &str) -> ClientInfo {
        ClientInfo { ip: Some(ip.parse().unwrap()), user_agent: Some(agent.to_string()) }
    }

    fn state(jti: &str) -> RefreshState {
        RefreshState { jti: Jti::from_claim(jti), iat: 1, exp: 2 }
    }

    /// A session rotated from `old` to `new` at `ROTATED_AT` by `by`.
    fn rotated_by(by: &ClientInfo) -> Option<StoredRefresh> {
        Some(StoredRefresh {
            current: state("new"),
            previous_jti: Some(Jti::from_claim("old")),
            rotated_at: ROTATED_AT,
            revoked: false,
            ip: by.ip.map(|ip| ip.to_string()),
            user_agent: by.user_agent.clone(),
        })
    }

    fn presented(jti: &str, presenter: &ClientInfo, grace: Duration) -> Rotate {
        Rotate {
            session_id: SessionId::new(),
            user_id: UserId::new(),
            presented_jti: Jti::from_claim(jti),
            next: state("next"),
            grace,
            presenter: presenter.clone(),
        }
    }

    fn judge(by: &ClientInfo, presenter: &ClientInfo, after_us: i64) -> Rotation {
        judge_stale(rotated_by(by), &presented("old", presenter, GRACE), ROTATED_AT + after_us)
    }

    #[test]
    fn the_client_that_rotated_gets_the_current_token_within_the_grace() {
        let owner = client("203.0.113.9", "app/1.0");
        assert_eq!(judge(&owner, &owner, 9_999_999), Rotation::Grace(state("new")));
        let same_24 = client("203.0.113.200", "app/1.0");
        assert_eq!(judge(&owner, &same_24, 1), Rotation::Grace(state("new")), "same IPv4 /24");
        let (v6, same_64) = (client("2001:db8:1:2::1", "app/1.0"), client("2001:db8:1:2:ffff::9", "app/1.0"));
        assert_eq!(judge(&v6, &same_64, 1), Rotation::Grace(state("new")), "same IPv6 /64");
        let anonymous = ClientInfo::default();
        assert_eq!(judge(&anonymous, &anonymous, 1), Rotation::Grace(state("new")), "no address, no agent, alike");
    }

    #[test]
    fn another_network_or_agent_within_the_grace_is_suspected_and_names_the_rotating_address() {
        let owner = client("203.0.113.9", "app/1.0");
        for other in [
            client("198.51.100.9", "app/1.0"),
            client("203.0.114.9", "app/1.0"),
            client("203.0.113.9", "curl/8.0"),
            ClientInfo { ip: owner.ip, user_agent: None },
            ClientInfo { ip: None, user_agent: owner.user_agent.clone() },
        ] {
            assert_eq!(
                judge(&owner, &other, 1),
                Rotation::Suspected { rotated_ip: Some("203.0.113.9".into()) },
                "{other:?}"
            );
        }
        let (v6, other_64) = (client("2001:db8:1:2::1", "app/1.0"), client("2001:db8:1:3::1", "app/1.0"));
        assert!(matches!(judge(&v6, &other_64, 1), Rotation::Suspected { .. }), "another IPv6 /64");
    }

    #[test]
    fn after_the_grace_anyone_presenting_the_rotated_token_is_reuse() {
        let owner = client("203.0.113.9", "app/1.0");
        assert_eq!(judge(&owner, &owner, 10_000_000), Rotation::Reused);
        assert_eq!(judge(&owner, &client("198.51.100.9", "x"), 10_000_000), Rotation::Reused);
    }

    #[test]
    fn an_older_ancestor_is_reuse_even_within_the_grace_and_from_the_same_client() {
        let owner = client("203.0.113.9", "app/1.0");
        let r = presented("older", &owner, GRACE);
        assert_eq!(judge_stale(rotated_by(&owner), &r, ROTATED_AT + 1), Rotation::Reused);
    }

    #[test]
    fn a_revoked_or_missing_session_or_an_expired_current_token_is_dead() {
        let owner = client("203.0.113.9", "app/1.0");
        let mut revoked = rotated_by(&owner);
        revoked.as_mut().unwrap().revoked = true;
        let old = presented("old", &owner, GRACE);
        assert_eq!(judge_stale(revoked, &old, ROTATED_AT + 1), Rotation::Dead);
        assert_eq!(judge_stale(None, &old, ROTATED_AT + 1), Rotation::Dead);
        let current = presented("new", &owner, GRACE);
        assert_eq!(judge_stale(rotated_by(&owner), &current, ROTATED_AT + 1), Rotation::Dead);
    }

    #[test]
    fn with_zero_grace_even_the_rotating_client_is_reuse() {
        let owner = client("203.0.113.9", "app/1.0");
        let r = presented("old", &owner, Duration::ZERO);
        assert_eq!(judge_stale(rotated_by(&owner), &r, ROTATED_AT), Rotation::Reused);
    }

    #[test]
    fn each_outcome_has_its_audit_event() {
        let owner = client("203.0.113.9", "app/1.0");
        let r = presented("old", &owner, GRACE);
        let action = |o: Rotation| rotation_event(&r, &o).action_name();
        assert_eq!(action(Rotation::Rotated), "token_refresh");
        assert_eq!(action(Rotation::Reused), "token_reuse");
        assert_eq!(action(Rotation::Suspected { rotated_ip: None }), "token_reuse_suspected");
        let e = rotation_event(&r, &Rotation::Suspected { rotated_ip: Some("198.51.100.1".into()) });
        assert_eq!(e.detail["presented_ip"], "203.0.113.9");
        assert_eq!(e.detail["rotated_ip"], "198.51.100.1");
    }
}
