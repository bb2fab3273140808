//! SMS through a webhook: `POST {"to": "+1…", "message": "…"}` as JSON.

use std::time::Duration;

use super::SendError;

pub struct SmsWebhook {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl SmsWebhook {
    pub fn new(url: &str) -> Result<SmsWebhook, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the URL must be http:// or https://".into());
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(SmsWebhook { client, url })
    }

    pub async fn send(&self, to: &str, message: &str) -> Result<(), SendError> {
        let res = self
            .client
            .post(self.url.clone())
            .json(&serde_json::json!({"to": to, "message": message}))
            .send()
            .await
            // Without the URL: it may carry credentials.
            .map_err(|e| SendError::temporary(format!("SMS webhook: {}", e.without_url())))?;
        let status = res.status();
        let message = format!("SMS webhook answered {status}");
        match status.as_u16() {
            200..=299 => Ok(()),
            // Rate limited, a timeout or a fault at the provider: worth another try.
            408 | 429 | 500..=599 => Err(SendError::temporary(message)),
            _ => Err(SendError::permanent(message)),
        }
    }
}
