use super::Message;

/// The fallback when no email or SMS channel is configured: the message,
/// code included, goes to the log so a developer can complete the flow.
/// This is the one place where authgate logs a secret, by design.
pub fn write(message: &Message) {
    match message {
        Message::Email { to, subject, body } => tracing::warn!(
            target: "authgate::delivery", channel = "email", %to, %subject, %body,
            "no email channel configured (AUTHGATE_SMTP_URL); message logged instead"
        ),
        Message::Sms { to, body } => tracing::warn!(
            target: "authgate::delivery", channel = "sms", %to, %body,
            "no SMS channel configured (AUTHGATE_SMS_WEBHOOK_URL); message logged instead"
        ),
    }
}
