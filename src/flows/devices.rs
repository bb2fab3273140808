//! Telling a person of a sign-in from a device they have not used before
//! (contract §12, `AUTHGATE_NEW_DEVICE_ALERTS`).

use chrono::SecondsFormat;

use crate::delivery::Message;
use crate::domain::session::NewSession;
use crate::domain::{ClientInfo, User};
use crate::state::Services;

const SUBJECT: &str = "New sign-in to your account";

/// The alert's text: the device, the time (RFC 3339, UTC) and the network,
/// and how to sign out everywhere.
pub fn alert_text(session: &NewSession) -> String {
    let network = session.network();
    let network = if network.is_empty() { "an unknown network" } else { network.as_str() };
    format!(
        "Your account was just signed in to from a new device.\n\n\
         Device: {device}\nTime: {time}\nNetwork: {network}\n\n\
         If this was you, there is nothing to do. If it was not, sign out everywhere: \
         choose \"Sign out of all devices\" in the app (POST /api/v1/auth/logout-all/), \
         then change your password.",
        device = session.device,
        time = session.at.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// Queues the alert by email, or by SMS for an account with a phone only.
/// A failure is logged: the sign-in has happened either way.
pub async fn alert_new_device(svc: &Services, user: &User, session: &NewSession, client: &ClientInfo) {
    let body = alert_text(session);
    let message = match (&user.email, &user.phone) {
        (Some(email), _) => Message::Email { to: email.to_string(), subject: SUBJECT.into(), body },
        (None, Some(phone)) => Message::Sms { to: phone.to_string(), body },
        (None, None) => return,
    };
    if let Err(e) = super::send(svc, user.id, message, client).await {
        tracing::warn!(user_id = %user.id, error = %e, "the new-device alert could not be queued");
    }
}
