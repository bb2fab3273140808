//! Sending codes and links to people. Flows hand a message to the queue and
//! move on: a delivery never changes a flow's answer (no account
//! enumeration), and a failure is logged, retried and counted.

mod log;
mod queue;
mod sms;
mod smtp;

use std::future::Future;
use std::pin::Pin;

pub use queue::{DeliveryQueue, QueueConfig};
pub use sms::SmsWebhook;
pub use smtp::SmtpSender;

use crate::config::{Config, ConfigError};

/// A message for one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Email { to: String, subject: String, body: String },
    Sms { to: String, body: String },
}

impl Message {
    pub fn channel(&self) -> &'static str {
        match self {
            Message::Email { .. } => "email",
            Message::Sms { .. } => "sms",
        }
    }
}

/// Where flows put messages. `send` must not block: it hands over, or
/// says at once that the message cannot go anywhere.
pub trait Delivery: Send + Sync + 'static {
    fn send(&self, message: Message) -> Handed;
}

/// What became of a message handed to [`Delivery::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    /// Queued, for its channel or (development mode) the log.
    Queued,
    /// No channel for it in production mode: not sent, and nothing of it
    /// logged; the flow audits it `undeliverable` (contract §8).
    Undeliverable,
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Its configured channel.
    Channel,
    /// The log, in development mode when its channel is not configured.
    Log,
    /// Nowhere: production mode without its channel.
    Nowhere,
}

/// Why a send failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub message: String,
    /// The peer refused this message for good (a 4xx from the webhook, an
    /// invalid recipient): retrying would fail again.
    pub permanent: bool,
}

impl SendError {
    pub fn temporary(message: impl Into<String>) -> SendError {
        SendError { message: message.into(), permanent: false }
    }

    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError { message: message.into(), permanent: true }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type DeliverFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Moves one message over its channel; the queue's worker awaits it.
pub trait Transport: Send + Sync + 'static {
    fn deliver<'a>(&'a self, message: &'a Message) -> DeliverFuture<'a>;

    /// Where `message` would go.
    fn route(&self, _message: &Message) -> Route {
        Route::Channel
    }
}

/// The configured channels; a missing one falls back to the log in
/// development mode, and to nothing in production mode.
pub struct Channels {
    pub email: Option<SmtpSender>,
    pub sms: Option<SmsWebhook>,
    /// Development mode: a message without a channel is logged.
    pub log_fallback: bool,
}

impl Channels {
    /// Says at start what happens to messages without a channel: in
    /// development they go to the log, where anyone who reads it can take
    /// over accounts; in production they are not sent.
    pub fn announce(&self) {
        for (name, missing, var) in [
            ("email", self.email.is_none(), "AUTHGATE_SMTP_URL"),
            ("SMS", self.sms.is_none(), "AUTHGATE_SMS_WEBHOOK_URL"),
        ] {
            match (missing, self.log_fallback) {
                (false, _) => {}
                (true, true) => tracing::warn!(
                    "no {name} channel ({var} is unset): {name} messages, codes and reset links included, are \
                     written to the log; for development only (AUTHGATE_ENV=production never does this)"
                ),
                (true, false) => tracing::warn!("no {name} channel ({var} is unset): {name} messages are not sent"),
            }
        }
    }

    pub fn from_config(c: &Config) -> Result<Channels, ConfigError> {
        let email = c.smtp_url.as_ref().map(|url| SmtpSender::new(&url.0, &c.email_from)).transpose()?;
        let sms = c
            .sms_webhook_url
            .as_ref()
            .map(|url| SmsWebhook::new(&url.0))
            .transpose()
            .map_err(|reason| ConfigError { var: "AUTHGATE_SMS_WEBHOOK_URL".into(), reason })?;
        Ok(Channels { email, sms, log_fallback: !c.is_production() })
    }
}

impl Transport for Channels {
    fn deliver<'a>(&'a self, message: &'a Message) -> DeliverFuture<'a> {
        Box::pin(async move {
            match (message, &self.email, &self.sms) {
                (Message::Email { to, subject, body }, Some(smtp), _) => smtp.send(to, subject, body).await,
                (Message::Sms { to, body }, _, Some(webhook)) => webhook.send(to, body).await,
                _ if self.log_fallback => {
                    log::write(message);
                    Ok(())
                }
                _ => Err(SendError::permanent(format!("no {} channel", message.channel()))),
            }
        })
    }

    fn route(&self, message: &Message) -> Route {
        let configured = match message {
            Message::Email { .. } => self.email.is_some(),
            Message::Sms { .. } => self.sms.is_some(),
        };
        match (configured, self.log_fallback) {
            (true, _) => Route::Channel,
            (false, true) => Route::Log,
            (false, false) => Route::Nowhere,
        }
    }
}
