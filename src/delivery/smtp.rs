//! Email over SMTP: `smtp://host:port` (plain, for a local relay) or
//! `smtps://user:pass@host:port` (TLS from the first byte).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::SendError;
use crate::config::ConfigError;

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpSender {
    pub fn new(url: &str, from: &str) -> Result<SmtpSender, ConfigError> {
        let bad = |var: &str, reason: String| ConfigError { var: var.into(), reason };
        let from: Mailbox =
            from.parse().map_err(|e| bad("AUTHGATE_EMAIL_FROM", format!("invalid sender address: {e}")))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| bad("AUTHGATE_SMTP_URL", format!("invalid SMTP URL: {e}")))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Ok(SmtpSender { transport, from })
    }

    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), SendError> {
        let to: Mailbox = to.parse().map_err(|e| SendError::permanent(format!("invalid recipient: {e}")))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| {
            let message = format!("SMTP: {e}");
            // 5xx replies are the server's final word on this message.
            if e.is_permanent() { SendError::permanent(message) } else { SendError::temporary(message) }
        })
    }
}
