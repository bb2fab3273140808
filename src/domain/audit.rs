use std::net::IpAddr;

use serde_json::Value;

use super::UserId;

/// Who is asking: the client IP and user agent of a request.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
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

/// What an audit event records (contract §9). The stored `action` column
/// holds [`AuditAction::as_str`], so these names are a stored format: a
/// new action is a new variant, an existing name never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Register,
    Login,
    LoginFailed,
    LoginDelayed,
    TokenRefresh,
    TokenReuse,
    TokenReuseSuspected,
    Logout,
    LogoutAll,
    SessionRevoke,
    ProfileUpdate,
    OtpVerify,
    OtpResend,
    OtpIssueRefused,
    PasswordChange,
    PasswordResetRequest,
    PasswordReset,
    ResetLinkRefused,
    Undeliverable,
    UserCreate,
    AdminUserUpdate,
    AdminUserDelete,
    AdminUserRestore,
    MfaEnabled,
    MfaDisabled,
    MfaVerify,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    MfaReset,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyCounterError,
    SessionEvicted,
    NewDevice,
    /// An admin revoked one session of a user (the user's own revocation
    /// is `SessionRevoke`).
    SessionRevoked,
    /// A sign-in with a social provider (§16).
    SocialLogin,
    /// A provider identity linked to an account (§16).
    SocialLinked,
    /// A provider identity unlinked from an account (§16).
    SocialUnlinked,
    /// A request from a listed address refused (§20).
    BlockedIp,
    /// A text held back by a per-number or per-prefix limit (§20).
    SmsVelocity,
    /// A text to a country outside `AUTHGATE_SMS_ALLOWED_COUNTRIES` held
    /// back (§20).
    SmsCountryRefused,
}

impl AuditAction {
    pub const ALL: [AuditAction; 41] = [
        AuditAction::Register,
        AuditAction::Login,
        AuditAction::LoginFailed,
        AuditAction::LoginDelayed,
        AuditAction::TokenRefresh,
        AuditAction::TokenReuse,
        AuditAction::TokenReuseSuspected,
        AuditAction::Logout,
        AuditAction::LogoutAll,
        AuditAction::SessionRevoke,
        AuditAction::ProfileUpdate,
        AuditAction::OtpVerify,
        AuditAction::OtpResend,
        AuditAction::OtpIssueRefused,
        AuditAction::PasswordChange,
        AuditAction::PasswordResetRequest,
        AuditAction::PasswordReset,
        AuditAction::ResetLinkRefused,
        AuditAction::Undeliverable,
        AuditAction::UserCreate,
        AuditAction::AdminUserUpdate,
        AuditAction::AdminUserDelete,
        AuditAction::AdminUserRestore,
        AuditAction::MfaEnabled,
        AuditAction::MfaDisabled,
        AuditAction::MfaVerify,
        AuditAction::RecoveryCodeUsed,
        AuditAction::RecoveryCodesRegenerated,
        AuditAction::MfaReset,
        AuditAction::PasskeyAdded,
        AuditAction::PasskeyRemoved,
        AuditAction::PasskeyCounterError,
        AuditAction::SessionEvicted,
        AuditAction::NewDevice,
        AuditAction::SessionRevoked,
        AuditAction::SocialLogin,
        AuditAction::SocialLinked,
        AuditAction::SocialUnlinked,
        AuditAction::BlockedIp,
        AuditAction::SmsVelocity,
        AuditAction::SmsCountryRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Register => "register",
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::LoginDelayed => "login_delayed",
            AuditAction::TokenRefresh => "token_refresh",
            AuditAction::TokenReuse => "token_reuse",
            AuditAction::TokenReuseSuspected => "token_reuse_suspected",
            AuditAction::Logout => "logout",
            AuditAction::LogoutAll => "logout_all",
            AuditAction::SessionRevoke => "session_revoke",
            AuditAction::ProfileUpdate => "profile_update",
            AuditAction::OtpVerify => "otp_verify",
            AuditAction::OtpResend => "otp_resend",
            AuditAction::OtpIssueRefused => "otp_issue_refused",
            AuditAction::PasswordChange => "password_change",
            AuditAction::PasswordResetRequest => "password_reset_request",
            AuditAction::PasswordReset => "password_reset",
            AuditAction::ResetLinkRefused => "reset_link_refused",
            AuditAction::Undeliverable => "undeliverable",
            AuditAction::UserCreate => "user_create",
            AuditAction::AdminUserUpdate => "admin_user_update",
            AuditAction::AdminUserDelete => "admin_user_delete",
            AuditAction::AdminUserRestore => "admin_user_restore",
            AuditAction::MfaEnabled => "mfa_enabled",
            AuditAction::MfaDisabled => "mfa_disabled",
            AuditAction::MfaVerify => "mfa_verify",
            AuditAction::RecoveryCodeUsed => "recovery_code_used",
            AuditAction::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            AuditAction::MfaReset => "mfa_reset",
            AuditAction::PasskeyAdded => "passkey_added",
            AuditAction::PasskeyRemoved => "passkey_removed",
            AuditAction::PasskeyCounterError => "passkey_counter_error",
            AuditAction::SessionEvicted => "session_evicted",
            AuditAction::NewDevice => "new_device",
            AuditAction::SessionRevoked => "session_revoked",
            AuditAction::SocialLogin => "social_login",
            AuditAction::SocialLinked => "social_linked",
            AuditAction::SocialUnlinked => "social_unlinked",
            AuditAction::BlockedIp => "blocked_ip",
            AuditAction::SmsVelocity => "sms_velocity",
            AuditAction::SmsCountryRefused => "sms_country_refused",
        }
    }
}

/// One line of the audit trail (contract §9).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: AuditAction,
    pub outcome: Outcome,
    pub user_id: Option<UserId>,
    pub actor_id: Option<UserId>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub detail: Value,
}

impl AuditEvent {
    pub fn new(action: AuditAction, outcome: Outcome, user_id: Option<UserId>, client: &ClientInfo) -> AuditEvent {
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
        self.action.as_str()
    }

    pub fn with_detail(mut self, detail: Value) -> AuditEvent {
        self.detail = detail;
        self
    }

    /// The structured log line that accompanies the stored event.
    pub fn log(&self) {
        tracing::info!(
            target: "authgate::audit",
            action = self.action.as_str(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_the_stored_strings_and_distinct() {
        let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        let distinct: std::collections::HashSet<&&str> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        assert_eq!(AuditAction::Login.as_str(), "login");
        assert_eq!(AuditAction::TokenReuseSuspected.as_str(), "token_reuse_suspected");
        assert_eq!(AuditAction::AdminUserRestore.as_str(), "admin_user_restore");
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')), "{names:?}");
    }
}
