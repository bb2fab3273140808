//! CAPTCHA tokens (contract §20): Turnstile, hCaptcha and reCAPTCHA share
//! one server-side check, `siteverify`: the secret and the token, posted as
//! a form, answered `{"success": bool, ...}`.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::CaptchaConfig;

/// How long the provider has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Tokens are a few kilobytes at most (Turnstile: 2,048 characters).
pub const MAX_TOKEN_LEN: usize = 4096;

/// What the provider said of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptchaVerdict {
    Passed,
    Refused,
    /// No usable answer (unreachable, an error status, not JSON): the
    /// caller applies `fail_open`.
    Unanswered,
}

pub struct Captcha {
    config: CaptchaConfig,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Answer {
    success: bool,
}

impl Captcha {
    pub fn new(config: CaptchaConfig) -> Captcha {
        Captcha { config, http: super::http_client(TIMEOUT) }
    }

    pub fn fail_open(&self) -> bool {
        self.config.fail_open
    }

    /// Asks the provider about `token`, sent from `ip`.
    pub async fn verify(&self, token: &str, ip: Option<IpAddr>) -> CaptchaVerdict {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return CaptchaVerdict::Refused;
        }
        let sent = self
            .http
            .post(&self.config.verify_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&self.config.secret.0, token, ip))
            .send()
            .await;
        let provider = self.config.provider.as_str();
        let res = match sent.and_then(reqwest::Response::error_for_status) {
            Ok(res) => res,
            Err(e) => {
                tracing::warn!(provider, error = %e, "captcha: siteverify did not answer");
                return CaptchaVerdict::Unanswered;
            }
        };
        match res.json::<Answer>().await {
            Ok(Answer { success: true }) => CaptchaVerdict::Passed,
            Ok(Answer { success: false }) => CaptchaVerdict::Refused,
            Err(e) => {
                tracing::warn!(provider, error = %e, "captcha: siteverify's answer is not what it should be");
                CaptchaVerdict::Unanswered
            }
        }
    }
}

/// siteverify's form: the secret, the token and the client's address.
fn form(secret: &str, token: &str, ip: Option<IpAddr>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("secret", secret).append_pair("response", token);
    if let Some(ip) = ip {
        form.append_pair("remoteip", &ip.to_string());
    }
    form.finish()
}
