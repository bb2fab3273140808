//! The settings of social sign-in (contract §16).

use std::collections::HashMap;

use super::{ConfigError, Secret, bad, lookup};

/// Social sign-in (contract §16).
#[derive(Debug, Clone, Default)]
pub struct SocialConfig {
    /// `AUTHGATE_OIDC_PROVIDERS` and each one's `AUTHGATE_OIDC_<NAME>_*`.
    pub providers: Vec<ProviderConfig>,
    /// `AUTHGATE_SOCIAL_REDIRECT_URLS`: where the browser flow may return
    /// to, compared byte for byte.
    pub redirect_urls: Vec<String>,
    /// `AUTHGATE_PUBLIC_URL` without a trailing slash; unset:
    /// `http://<AUTHGATE_BIND>`.
    pub public_url: Option<String>,
}

/// One provider, by the name it is configured (and routed) under.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub kind: ProviderKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect, its endpoints and keys from the issuer's discovery
    /// document.
    Oidc { issuer: String },
    /// GitHub's OAuth 2.0 and its REST API (no ID token).
    Github { authorize_url: String, token_url: String, api_url: String },
}

/// Social sign-in (§16): each provider of `AUTHGATE_OIDC_PROVIDERS` with
/// its `AUTHGATE_OIDC_<NAME>_*` variables, the browser flow's redirect
/// targets and the public URL the providers send browsers back to.
pub(super) fn social(vars: &HashMap<String, String>) -> Result<SocialConfig, ConfigError> {
    let mut social = SocialConfig::default();
    if let Some((n, v)) = lookup(vars, "AUTHGATE_PUBLIC_URL") {
        let url = url::Url::parse(v).map_err(|_| bad(n, format!("invalid URL {v:?}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad(n, format!("{v:?} is not an http:// or https:// URL")));
        }
        social.public_url = Some(v.trim_end_matches('/').to_owned());
    }
    if let Some((n, v)) = lookup(vars, "AUTHGATE_SOCIAL_REDIRECT_URLS") {
        for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let ok = url::Url::parse(s).is_ok_and(|u| !u.cannot_be_a_base());
            if !ok {
                return Err(bad(n, format!("invalid URL {s:?}")));
            }
            social.redirect_urls.push(s.to_owned());
        }
    }
    let Some((n, v)) = lookup(vars, "AUTHGATE_OIDC_PROVIDERS") else { return Ok(social) };
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name = name.to_ascii_lowercase();
        let valid = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && name.len() <= 40;
        if !valid || name == "exchange" {
            return Err(bad(n, format!("invalid provider name {name:?} (letters, digits and -; not \"exchange\")")));
        }
        if social.providers.iter().any(|p| p.name == name) {
            return Err(bad(n, format!("provider {name:?} is named twice")));
        }
        social.providers.push(provider(vars, &name)?);
    }
    Ok(social)
}

fn provider(vars: &HashMap<String, String>, name: &str) -> Result<ProviderConfig, ConfigError> {
    let prefix = format!("AUTHGATE_OIDC_{}_", name.to_ascii_uppercase().replace('-', "_"));
    let var = |suffix: &str| {
        let key = format!("{prefix}{suffix}");
        let value = vars.get(&key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        (key, value)
    };
    let required = |suffix: &str| match var(suffix) {
        (_, Some(v)) => Ok(v),
        (key, None) => Err(bad(&key, format!("must be set for the provider {name:?}"))),
    };
    let url_var = |suffix: &str, default: &str| -> Result<String, ConfigError> {
        let (key, value) = var(suffix);
        let v = value.unwrap_or_else(|| default.to_owned());
        let ok = url::Url::parse(&v).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if ok { Ok(v.trim_end_matches('/').to_owned()) } else { Err(bad(&key, format!("invalid URL {v:?}"))) }
    };
    let client_id = required("CLIENT_ID")?;
    let client_secret = Secret(required("CLIENT_SECRET")?);
    let github = name == "github";
    let default_scopes = if github { "read:user user:email" } else { "openid email profile" };
    let scopes = var("SCOPES").1.unwrap_or_else(|| default_scopes.to_owned());
    let scopes = scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let kind = if github {
        ProviderKind::Github {
            authorize_url: url_var("AUTHORIZE_URL", "https://github.com/login/oauth/authorize")?,
            token_url: url_var("TOKEN_URL", "https://github.com/login/oauth/access_token")?,
            api_url: url_var("API_URL", "https://api.github.com")?,
        }
    } else {
        let default = if name == "google" { "https://accounts.google.com" } else { "" };
        let (key, issuer) = var("ISSUER");
        if issuer.is_none() && default.is_empty() {
            return Err(bad(&key, format!("must be set for the provider {name:?} (its OpenID Connect issuer URL)")));
        }
        // Kept as given: it must equal the ID tokens' `iss` (some end in `/`).
        let issuer = issuer.unwrap_or_else(|| default.to_owned());
        if !url::Url::parse(&issuer).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(bad(&key, format!("invalid URL {issuer:?}")));
        }
        ProviderKind::Oidc { issuer }
    };
    Ok(ProviderConfig { name: name.to_owned(), client_id, client_secret, scopes, kind })
}
