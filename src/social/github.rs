//! GitHub: OAuth 2.0 (no ID token), then its REST API for the user
//! (`GET /user`) and the verified primary email (`GET /user/emails`). The
//! identity's issuer is the authorization server's origin
//! (`https://github.com`) and its subject GitHub's numeric user id.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use serde_json::Value;

use super::{HttpClient, Refusal};
use crate::config::ProviderConfig;
use crate::domain::social::Identity;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct Github {
    client: Client,
    issuer: String,
    api_url: String,
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct GithubUser {
    id: Value,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

impl Github {
    pub fn new(config: &ProviderConfig, authorize_url: &str, token_url: &str, api_url: &str) -> Result<Github, String> {
        let bad = |what: &str, e: &dyn std::fmt::Display| format!("{}: {what}: {e}", config.name);
        let auth = AuthUrl::new(authorize_url.to_owned()).map_err(|e| bad("authorize URL", &e))?;
        let token = TokenUrl::new(token_url.to_owned()).map_err(|e| bad("token URL", &e))?;
        let issuer =
            url::Url::parse(authorize_url).map_err(|e| bad("authorize URL", &e))?.origin().ascii_serialization();
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.0.clone()))
            .set_auth_uri(auth)
            .set_token_uri(token)
            // GitHub reads the client's credentials from the form.
            .set_auth_type(AuthType::RequestBody);
        Ok(Github { client, issuer, api_url: api_url.to_owned(), scopes: config.scopes.clone() })
    }

    pub fn authorization_url(&self, redirect_uri: &str, state: &str, verifier: &str) -> Result<String, Refusal> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| Refusal::Unreachable(e.to_string()))?;
        let state = state.to_owned();
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_owned()));
        let (url, _) = self
            .client
            .clone()
            .set_redirect_uri(redirect)
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes.iter().map(|s| Scope::new(s.clone())))
            .set_pkce_challenge(challenge)
            .url();
        Ok(url.into())
    }

    pub async fn redeem(
        &self,
        http: &HttpClient,
        code: &str,
        verifier: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Identity, Refusal> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| Refusal::CodeRefused("the redirect URI is not a URL".into()))?;
        let client = self.client.clone().set_redirect_uri(redirect);
        let request = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        let request = match verifier {
            Some(v) => request.set_pkce_verifier(PkceCodeVerifier::new(v.to_owned())),
            None => request,
        };
        // GitHub answers a bad code with a 200 whose body is an error: it
        // does not parse as tokens.
        let tokens = request.request_async(http).await.map_err(|e| match e {
            RequestTokenError::Request(e) => Refusal::Unreachable(format!("token endpoint: {e}")),
            other => Refusal::CodeRefused(format!("token endpoint: {other}")),
        })?;
        let token = tokens.access_token().secret();
        let user: GithubUser = self.api(http, token, "/user").await?;
        let emails: Vec<GithubEmail> = self.api(http, token, "/user/emails").await?;
        let subject = match &user.id {
            Value::Number(n) => n.to_string(),
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => return Err(Refusal::CodeRefused("the GitHub user has no id".into())),
        };
        // Only the primary email, and only when GitHub has verified it.
        let email = emails.into_iter().find(|e| e.primary && e.verified).map(|e| e.email);
        let name = user.name.filter(|n| !n.trim().is_empty()).or(user.login).unwrap_or_default();
        let (given_name, family_name) = match name.trim().split_once(' ') {
            Some((first, last)) => (first.to_owned(), last.trim().to_owned()),
            None => (name.trim().to_owned(), String::new()),
        };
        Ok(Identity {
            provider: String::new(),
            issuer: self.issuer.clone(),
            subject,
            email_verified: email.is_some(),
            email,
            given_name,
            family_name,
        })
    }

    async fn api<T: serde::de::DeserializeOwned>(
        &self,
        http: &HttpClient,
        token: &str,
        path: &str,
    ) -> Result<T, Refusal> {
        let request = oauth2::http::Request::get(format!("{}{path}", self.api_url))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .body(Vec::new())
            .map_err(|e| Refusal::Unreachable(e.to_string()))?;
        let answer = http.send(request).await.map_err(|e| Refusal::Unreachable(format!("GitHub API {path}: {e}")))?;
        if !answer.status().is_success() {
            return Err(Refusal::CodeRefused(format!("GitHub API {path}: {}", answer.status())));
        }
        serde_json::from_slice(answer.body()).map_err(|e| Refusal::CodeRefused(format!("GitHub API {path}: {e}")))
    }
}
