//! SMS through a webhook: `POST {"to": "+1…", "message": "…"}` as JSON.

use std::time::Duration;

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

    pub async fn send(&self, to: &str, message: &str) -> Result<(), String> {
        let res = self
            .client
            .post(self.url.clone())
            .json(&serde_json::json!({"to": to, "message": message}))
            .send()
            .await
            .map_err(|e| format!("SMS webhook: {e}"))?;
        if res.status().is_success() { Ok(()) } else { Err(format!("SMS webhook answered {}", res.status())) }
    }
}
