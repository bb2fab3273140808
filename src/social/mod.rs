//! The social sign-in providers (contract §16): OpenID Connect providers,
//! found by discovery, whose ID tokens are checked against their JWKS
//! (`oidc.rs`), and GitHub's OAuth 2.0 with its REST API (`github.rs`).
//! Every call to a provider goes through one reqwest client (`http.rs`).

mod github;
mod http;
mod oidc;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{ProviderKind, SocialConfig};
use crate::domain::Clock;
use crate::domain::social::Identity;

pub use self::http::HttpClient;

/// Why a provider's answer was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The ID token failed a check (signature, `iss`, `aud`, `exp`,
    /// `nonce`, shape); the reason is for the log.
    InvalidIdToken(String),
    /// The provider refused the code (used, expired, another verifier or
    /// redirect URI), or answered its exchange with something else.
    CodeRefused(String),
    /// The provider could not be reached, or its discovery failed.
    Unreachable(String),
    /// An ID token for a provider that issues none (GitHub).
    NoIdTokens,
}

impl Refusal {
    pub fn reason(&self) -> &str {
        match self {
            Refusal::InvalidIdToken(why) | Refusal::CodeRefused(why) | Refusal::Unreachable(why) => why,
            Refusal::NoIdTokens => "the provider issues no ID tokens",
        }
    }
}

/// The proof of a sign-in a client brings back from a provider.
pub enum Proof<'a> {
    IdToken { id_token: &'a str, nonce: Option<&'a str> },
    Code { code: &'a str, code_verifier: Option<&'a str>, redirect_uri: &'a str, nonce: Option<&'a str> },
}

/// One configured provider.
pub struct Provider {
    pub name: String,
    kind: Kind,
}

enum Kind {
    Oidc(Box<oidc::Oidc>),
    Github(Box<github::Github>),
}

impl Provider {
    /// Where to send a browser to sign in: with `state`, `nonce` (OIDC)
    /// and the PKCE challenge of `verifier`, back to `redirect_uri`.
    pub async fn authorization_url(
        &self,
        http: &HttpClient,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, Refusal> {
        match &self.kind {
            Kind::Oidc(p) => p.authorization_url(http, redirect_uri, state, nonce, verifier).await,
            Kind::Github(p) => p.authorization_url(redirect_uri, state, verifier),
        }
    }

    /// The identity a proof stands for, once every check has passed.
    pub async fn identify(&self, http: &HttpClient, proof: &Proof<'_>) -> Result<Identity, Refusal> {
        let mut identity = match (&self.kind, proof) {
            (Kind::Oidc(p), Proof::IdToken { id_token, nonce }) => p.verify(http, id_token, *nonce).await?,
            (Kind::Oidc(p), Proof::Code { code, code_verifier, redirect_uri, nonce }) => {
                p.redeem(http, code, *code_verifier, redirect_uri, *nonce).await?
            }
            (Kind::Github(_), Proof::IdToken { .. }) => return Err(Refusal::NoIdTokens),
            (Kind::Github(p), Proof::Code { code, code_verifier, redirect_uri, .. }) => {
                p.redeem(http, code, *code_verifier, redirect_uri).await?
            }
        };
        identity.provider.clone_from(&self.name);
        Ok(identity)
    }
}

/// Every configured provider, by name.
pub struct Providers {
    by_name: HashMap<String, Arc<Provider>>,
    pub http: HttpClient,
}

impl Providers {
    pub fn new(config: &SocialConfig, clock: &Clock) -> Result<Providers, String> {
        let http = HttpClient::new()?;
        let mut by_name = HashMap::new();
        for p in &config.providers {
            let kind = match &p.kind {
                ProviderKind::Oidc { issuer } => Kind::Oidc(Box::new(oidc::Oidc::new(p, issuer, clock.clone())?)),
                ProviderKind::Github { authorize_url, token_url, api_url } => {
                    Kind::Github(Box::new(github::Github::new(p, authorize_url, token_url, api_url)?))
                }
            };
            by_name.insert(p.name.clone(), Arc::new(Provider { name: p.name.clone(), kind }));
        }
        Ok(Providers { by_name, http })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Provider>> {
        self.by_name.get(name).cloned()
    }
}
