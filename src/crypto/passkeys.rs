//! WebAuthn ceremonies (contract §15.3) through webauthn-rs, the Kanidm
//! project's library, with its safe defaults: user verification required,
//! signature counters checked, origins and RP ID matched exactly. Nothing
//! here verifies a signature itself; this module only carries the
//! library's state to and from the database and sorts its errors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::domain::UserId;
use crate::domain::passkey::CEREMONY_SECS;

/// Why an answer to a ceremony was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a credential at all (bad JSON, bad encoding): 400 on it.
    Malformed,
    /// An unknown credential or a bad signature: 401.
    Rejected,
    /// The signature counter did not grow (a cloned authenticator?): 400.
    CounterWentBack,
    /// Well formed but not for this ceremony: another origin, RP ID or
    /// challenge, no user verification: 400.
    Invalid,
}

/// Checks that `rp_id` and `origins` make a valid relying party.
pub fn check(rp_id: &str, origins: &[String]) -> Result<(), String> {
    RelyingParty::new(rp_id, origins, "check").map(drop)
}

/// The relying party, built once from the config.
pub struct RelyingParty {
    webauthn: Webauthn,
}

/// A registration's answer, accepted: what to store.
pub struct NewCredential {
    pub credential_id: String,
    /// The webauthn-rs `Passkey`, serialised.
    pub credential: String,
}

/// An assertion, accepted: the credential with its new counter.
pub struct Asserted {
    pub credential: String,
    pub counter: u32,
    pub user_verified: bool,
}

/// An authentication's state: for known credentials, or discoverable ones.
#[derive(Serialize, Deserialize)]
enum AuthState {
    Known(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// A parsed `PublicKeyCredential` (an assertion).
pub struct Assertion(PublicKeyCredential);

impl Assertion {
    pub fn parse(json: &Value) -> Result<Assertion, Refusal> {
        PublicKeyCredential::deserialize(json).map(Assertion).map_err(|_| Refusal::Malformed)
    }

    /// base64url of the credential id, as stored.
    pub fn credential_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.get_credential_id())
    }

    /// The user handle a discoverable credential answers with.
    pub fn user_handle(&self) -> Option<UserId> {
        self.0.get_user_unique_id().and_then(|b| Uuid::from_slice(b).ok()).map(UserId::from_uuid)
    }
}

impl RelyingParty {
    pub fn new(rp_id: &str, origins: &[String], rp_name: &str) -> Result<RelyingParty, String> {
        let urls = origins
            .iter()
            .map(|o| Url::parse(o).map_err(|_| format!("invalid origin {o:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        // Each origin's host must be the RP ID or a subdomain of it.
        for url in &urls {
            WebauthnBuilder::new(rp_id, url).map_err(|e| format!("{url} is not on the RP ID's domain: {e}"))?;
        }
        let (first, rest) = urls.split_first().ok_or("no origin is set")?;
        let builder = WebauthnBuilder::new(rp_id, first).map_err(|e| e.to_string())?;
        let builder = rest.iter().fold(builder, |b, url| b.append_allowed_origin(url));
        let timeout = std::time::Duration::from_secs(CEREMONY_SECS.unsigned_abs());
        let webauthn = builder.rp_name(rp_name).timeout(timeout).build().map_err(|e| e.to_string())?;
        Ok(RelyingParty { webauthn })
    }

    /// The creation options (`publicKey`) and the state to keep. Resident
    /// keys are preferred, so an authenticator that can makes a
    /// discoverable credential; the credentials already registered are
    /// excluded.
    pub fn start_registration(
        &self,
        user: UserId,
        name: &str,
        exclude: &[String],
    ) -> crate::error::Result<(Value, String)> {
        let exclude = exclude.iter().filter_map(|c| URL_SAFE_NO_PAD.decode(c).ok()).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(*user.as_uuid(), name, name, Some(exclude))
            .map_err(crate::error::Error::internal)?;
        let mut public_key = serde_json::to_value(options.public_key).map_err(crate::error::Error::internal)?;
        if let Some(selection) = public_key.get_mut("authenticatorSelection") {
            selection["residentKey"] = "preferred".into();
        }
        Ok((public_key, serde_json::to_string(&state).map_err(crate::error::Error::internal)?))
    }

    pub fn finish_registration(&self, response: &Value, state: &str) -> Result<NewCredential, Refusal> {
        let response = RegisterPublicKeyCredential::deserialize(response).map_err(|_| Refusal::Malformed)?;
        let state: PasskeyRegistration = serde_json::from_str(state).map_err(|_| Refusal::Invalid)?;
        let passkey = self.webauthn.finish_passkey_registration(&response, &state).map_err(refusal)?;
        Ok(NewCredential {
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
            credential: serde_json::to_string(&passkey).map_err(|_| Refusal::Invalid)?,
        })
    }

    /// Request options for these credentials (`publicKey`) and the state.
    pub fn start_authentication(&self, credentials: &[String]) -> crate::error::Result<(Value, String)> {
        let passkeys: Vec<Passkey> = credentials.iter().filter_map(|c| serde_json::from_str(c).ok()).collect();
        let (options, state) =
            self.webauthn.start_passkey_authentication(&passkeys).map_err(crate::error::Error::internal)?;
        finish_start(options.public_key, AuthState::Known(state))
    }

    /// Request options for any discoverable credential (empty
    /// `allowCredentials`), and the state.
    pub fn start_discoverable(&self) -> crate::error::Result<(Value, String)> {
        let (options, state) =
            self.webauthn.start_discoverable_authentication().map_err(crate::error::Error::internal)?;
        finish_start(options.public_key, AuthState::Discoverable(state))
    }

    /// Checks an assertion against the ceremony's state and the stored
    /// credential it names.
    pub fn finish_authentication(&self, a: &Assertion, state: &str, stored: &str) -> Result<Asserted, Refusal> {
        let state: AuthState = serde_json::from_str(state).map_err(|_| Refusal::Invalid)?;
        let mut passkey: Passkey = serde_json::from_str(stored).map_err(|_| Refusal::Rejected)?;
        let result = match state {
            AuthState::Known(state) => self.webauthn.finish_passkey_authentication(&a.0, &state),
            AuthState::Discoverable(state) => {
                self.webauthn.finish_discoverable_authentication_v2(&a.0, state, &passkey)
            }
        }
        .map_err(refusal)?;
        if passkey.update_credential(&result).is_none() {
            return Err(Refusal::Rejected); // signed by another of the allowed credentials
        }
        Ok(Asserted {
            credential: serde_json::to_string(&passkey).map_err(|_| Refusal::Invalid)?,
            counter: result.counter(),
            user_verified: result.user_verified(),
        })
    }
}

fn finish_start(options: impl Serialize, state: AuthState) -> crate::error::Result<(Value, String)> {
    let public_key = serde_json::to_value(options).map_err(crate::error::Error::internal)?;
    Ok((public_key, serde_json::to_string(&state).map_err(crate::error::Error::internal)?))
}

/// Sorts the library's errors into the contract's answers.
fn refusal(e: WebauthnError) -> Refusal {
    match e {
        WebauthnError::CredentialPossibleCompromise => Refusal::CounterWentBack,
        WebauthnError::AuthenticationFailure
        | WebauthnError::SignatureInvalid
        | WebauthnError::CredentialNotFound
        | WebauthnError::CredentialRetrievalError => Refusal::Rejected,
        WebauthnError::ParseBase64Failure(_)
        | WebauthnError::ParseCBORFailure(_)
        | WebauthnError::ParseJSONFailure(_)
        | WebauthnError::ParseNOMFailure
        | WebauthnError::ParseInsufficientBytesAvailable => Refusal::Malformed,
        _ => Refusal::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rp_id_must_be_the_origins_domain() {
        assert!(check("localhost", &["http://localhost:8000".into()]).is_ok());
        assert!(check("example.com", &["https://auth.example.com".into()]).is_ok());
        assert!(check("example.com", &["https://evil.test".into()]).is_err());
        assert!(check("example.com", &["https://a.example.com".into(), "https://evil.test".into()]).is_err());
        assert!(check("localhost", &[]).is_err());
    }
}
