//! An OpenID Connect provider: its endpoints and keys from discovery
//! (`<issuer>/.well-known/openid-configuration`), kept for the life of the
//! process; its JWKS fetched again when an ID token names a key it does not
//! hold (a rotation), at most once a minute. ID tokens are checked by
//! `openidconnect`: signature (asymmetric algorithms only), `iss`, `aud`,
//! `exp` against the service's clock, and `nonce`.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
};
use tokio::sync::Mutex;

use super::{HttpClient, Refusal};
use crate::config::ProviderConfig;
use crate::domain::Clock;
use crate::domain::social::Identity;

/// The JWKS is fetched again for an unknown key at most this often.
const JWKS_REFETCH_EVERY: Duration = Duration::from_secs(60);

/// Signatures an ID token may carry: the provider's keys, never the client
/// secret (HMAC) or none.
const ALGORITHMS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    scopes: Vec<String>,
    clock: Clock,
    discovered: Mutex<Option<Discovered>>,
}

#[derive(Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    jwks_fetched: Instant,
}

impl Oidc {
    pub fn new(config: &ProviderConfig, issuer: &str, clock: Clock) -> Result<Oidc, String> {
        let issuer =
            IssuerUrl::new(issuer.to_owned()).map_err(|e| format!("{}: issuer {issuer:?}: {e}", config.name))?;
        Ok(Oidc {
            issuer,
            client_id: ClientId::new(config.client_id.clone()),
            client_secret: ClientSecret::new(config.client_secret.0.clone()),
            scopes: config.scopes.clone(),
            clock,
            discovered: Mutex::new(None),
        })
    }

    /// The discovery document (and JWKS), fetched once.
    async fn metadata(&self, http: &HttpClient) -> Result<Discovered, Refusal> {
        let mut discovered = self.discovered.lock().await;
        if let Some(d) = discovered.as_ref() {
            return Ok(d.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), http)
            .await
            .map_err(|e| Refusal::Unreachable(format!("discovery of {}: {e}", self.issuer.as_str())))?;
        let d = Discovered { metadata, jwks_fetched: Instant::now() };
        *discovered = Some(d.clone());
        Ok(d)
    }

    /// The JWKS once more, unless it was fetched within the last minute:
    /// whether it was.
    async fn refetch_jwks(&self, http: &HttpClient) -> bool {
        let mut discovered = self.discovered.lock().await;
        let Some(d) = discovered.as_mut() else { return false };
        if d.jwks_fetched.elapsed() < JWKS_REFETCH_EVERY {
            return false;
        }
        d.jwks_fetched = Instant::now();
        match CoreJsonWebKeySet::fetch_async(d.metadata.jwks_uri(), http).await {
            Ok(jwks) => {
                d.metadata = d.metadata.clone().set_jwks(jwks);
                true
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer.as_str(), error = %e, "social sign-in: the JWKS could not be fetched");
                false
            }
        }
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(metadata, self.client_id.clone(), Some(self.client_secret.clone()))
    }

    pub async fn authorization_url(
        &self,
        http: &HttpClient,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, Refusal> {
        let d = self.metadata(http).await?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| Refusal::Unreachable(e.to_string()))?;
        let client = self.client(d.metadata).set_redirect_uri(redirect);
        let (state, nonce) = (state.to_owned(), nonce.to_owned());
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_owned()));
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scopes(self.scopes.iter().filter(|s| *s != "openid").map(|s| Scope::new(s.clone())))
            .set_pkce_challenge(challenge)
            .url();
        Ok(url.into())
    }

    /// Exchanges an authorization code (with its PKCE verifier, at the
    /// redirect URI it was issued for) and checks the ID token it brings.
    pub async fn redeem(
        &self,
        http: &HttpClient,
        code: &str,
        verifier: Option<&str>,
        redirect_uri: &str,
        nonce: Option<&str>,
    ) -> Result<Identity, Refusal> {
        let d = self.metadata(http).await?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| Refusal::CodeRefused("the redirect URI is not a URL".into()))?;
        let client = self.client(d.metadata);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| Refusal::Unreachable(format!("the provider has no token endpoint: {e}")))?
            .set_redirect_uri(Cow::Owned(redirect));
        let request = match verifier {
            Some(v) => request.set_pkce_verifier(PkceCodeVerifier::new(v.to_owned())),
            None => request,
        };
        let tokens = request.request_async(http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(e) => Refusal::CodeRefused(format!("token endpoint: {e}")),
            RequestTokenError::Request(e) => Refusal::Unreachable(format!("token endpoint: {e}")),
            other => Refusal::CodeRefused(format!("token endpoint: {other}")),
        })?;
        use openidconnect::TokenResponse;
        let id_token = tokens.id_token().ok_or_else(|| Refusal::InvalidIdToken("no ID token in the answer".into()))?;
        self.check(http, id_token, nonce).await
    }

    /// Checks an ID token a client brings.
    pub async fn verify(&self, http: &HttpClient, id_token: &str, nonce: Option<&str>) -> Result<Identity, Refusal> {
        let token: CoreIdToken =
            id_token.trim().parse().map_err(|_| Refusal::InvalidIdToken("not a signed JWT".into()))?;
        self.check(http, &token, nonce).await
    }

    async fn check(&self, http: &HttpClient, token: &CoreIdToken, nonce: Option<&str>) -> Result<Identity, Refusal> {
        let d = self.metadata(http).await?;
        let mut checked = self.claims(&d.metadata, token, nonce);
        let unknown_key = matches!(
            &checked,
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey))
        );
        if unknown_key && self.refetch_jwks(http).await {
            let d = self.metadata(http).await?;
            checked = self.claims(&d.metadata, token, nonce);
        }
        checked.map(|claims| identity(&claims)).map_err(|e| Refusal::InvalidIdToken(e.to_string()))
    }

    fn claims(
        &self,
        metadata: &CoreProviderMetadata,
        token: &CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        let clock = self.clock.clone();
        let verifier = CoreIdTokenVerifier::new_public_client(
            self.client_id.clone(),
            self.issuer.clone(),
            metadata.jwks().clone(),
        )
        .set_allowed_algs(ALGORITHMS)
        .set_time_fn(move || clock.now());
        let claims = match nonce {
            Some(n) => token.claims(&verifier, &Nonce::new(n.to_owned())),
            None => token.claims(&verifier, |_: Option<&Nonce>| -> Result<(), String> { Ok(()) }),
        };
        claims.cloned()
    }
}

fn identity(claims: &CoreIdTokenClaims) -> Identity {
    let given_name = claims.given_name().and_then(|c| c.get(None)).map(|v| v.as_str().to_owned()).unwrap_or_default();
    let family_name = claims.family_name().and_then(|c| c.get(None)).map(|v| v.as_str().to_owned()).unwrap_or_default();
    Identity {
        provider: String::new(),
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
        given_name,
        family_name,
    }
}
