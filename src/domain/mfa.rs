//! Second factors as stored (contract §15): a TOTP enrolment, recovery
//! codes, and the state of a sign-in waiting for its second factor.

/// A TOTP enrolment: pending until its first code confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totp {
    /// As stored: sealed (`crypto::totp::seal_secret`) around the base32
    /// secret the authenticator app was given.
    pub secret: String,
    pub confirmed: bool,
    /// The last step (`unix / 30`) whose code was accepted: a code of this
    /// step or an earlier one is a replay.
    pub last_step: i64,
}

/// What an account has as second factors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: Option<Totp>,
    pub recovery_codes_left: u32,
    /// Registered passkeys (§15.3).
    pub passkeys: u32,
}

impl MfaStatus {
    pub fn totp_active(&self) -> bool {
        self.totp.as_ref().is_some_and(|t| t.confirmed)
    }

    /// An account with a second factor signs in in two steps (§15.2).
    pub fn has_second_factor(&self) -> bool {
        self.totp_active() || self.passkeys > 0
    }

    /// The methods the second step accepts, in the contract's order.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if self.totp_active() {
            methods.push("totp");
        }
        if self.recovery_codes_left > 0 {
            methods.push("recovery_code");
        }
        if self.passkeys > 0 {
            methods.push("webauthn");
        }
        methods
    }
}

/// The admin user object's `mfa` (§15.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MfaSummary {
    pub totp: bool,
    pub passkeys: u32,
}

/// Wrong answers an `mfa_token` survives: the fifth kills it (§15.2).
pub const MFA_MAX_FAILURES: u32 = 5;

/// An `mfa_token` lives this long (§15.2).
pub const MFA_TOKEN_SECS: i64 = 300;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_confirmed_totp_is_a_second_factor() {
        let pending = Totp { secret: "S".into(), confirmed: false, last_step: -1 };
        let mut status = MfaStatus { totp: Some(pending), recovery_codes_left: 0, passkeys: 0 };
        assert!(!status.has_second_factor());
        assert!(status.methods().is_empty());
        status.totp.as_mut().unwrap().confirmed = true;
        status.recovery_codes_left = 3;
        assert!(status.has_second_factor());
        assert_eq!(status.methods(), ["totp", "recovery_code"]);
    }

    #[test]
    fn a_passkey_alone_is_a_second_factor() {
        let status = MfaStatus { totp: None, recovery_codes_left: 0, passkeys: 1 };
        assert!(status.has_second_factor());
        assert_eq!(status.methods(), ["webauthn"]);
    }
}
