use std::net::IpAddr;

use serde_json::Value;

use super::UserId;

/// Who is asking: the client IP and user agent of a request.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One line of the audit trail (contract §9).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: &'static str,
    pub outcome: Outcome,
    pub user_id: Option<UserId>,
    pub actor_id: Option<UserId>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub detail: Value,
}

impl AuditEvent {
    pub fn new(action: &'static str, outcome: Outcome, user_id: Option<UserId>, client: &ClientInfo) -> AuditEvent {
        AuditEvent {
            action,
            outcome,
            user_id,
            actor_id: user_id,
            ip: client.ip,
            user_agent: client.user_agent.clone(),
            detail: Value::Object(Default::default()),
        }
    }

    /// The action as stored in the `action` column.
    pub fn action_name(&self) -> &'static str {
        self.action
    }

    pub fn with_detail(mut self, detail: Value) -> AuditEvent {
        self.detail = detail;
        self
    }

    /// The structured log line that accompanies the stored event.
    pub fn log(&self) {
        tracing::info!(
            target: "authgate::audit",
            action = self.action,
            outcome = self.outcome.as_str(),
            user_id = self.user_id.map(|u| u.to_string()),
            actor_id = self.actor_id.map(|u| u.to_string()),
            ip = self.ip.map(|i| i.to_string()),
            user_agent = self.user_agent.as_deref(),
            detail = %self.detail,
            "audit"
        );
    }
}
