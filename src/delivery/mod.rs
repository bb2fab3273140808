//! Sending codes and links to people. Flows hand a message over and move on:
//! a delivery never changes a flow's answer (no account enumeration).

mod log;

pub use log::LogDelivery;

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

/// Where messages go. `send` must not block: it hands the message over.
pub trait Delivery: Send + Sync + 'static {
    fn send(&self, message: Message);
}
