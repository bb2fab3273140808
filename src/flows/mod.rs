//! The rules of each flow. Nothing here knows about HTTP: flows take parsed
//! domain values and return results or `Error`s.

pub mod account;
pub mod admin;
pub mod auth;
pub mod bots;
pub mod dashboard;
pub mod devices;
pub mod import;
pub mod introspect;
pub mod login;
pub mod login_defence;
pub mod mfa;
pub mod otp;
pub mod passkeys;
pub mod passwords;
pub mod pumping;
pub mod register;
pub mod social;
pub mod tokens;

use std::future::Future;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

/// Unix seconds, as JWT claims count time.
pub(crate) fn unix(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// Runs the work of a flow whose answer must not depend on the account
/// (reset request, resend) in the background, once the answer is on its
/// way, so the work (heavier for a real account) does not compete with the
/// answer for the CPU. At most `BACKGROUND_LIMIT` run at once; past that the
/// work is dropped and logged (the answer was the same either way).
pub(crate) fn after_the_answer(
    svc: &crate::state::Services,
    what: &'static str,
    work: impl Future<Output = crate::error::Result<()>> + Send + 'static,
) {
    static SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(BACKGROUND_LIMIT)));
    let Ok(slot) = SLOTS.clone().try_acquire_owned() else {
        tracing::error!(what, "too much background work in flight; this request's work was dropped");
        return;
    };
    svc.tasks.spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        if let Err(e) = work.await {
            tracing::error!(what, error = %e, "background work failed");
        }
        drop(slot);
    });
}

const BACKGROUND_LIMIT: usize = 256;

/// Hands `message` for `user` to the delivery queue. One that cannot go
/// anywhere (production mode without its channel, contract §8) is audited
/// `undeliverable`; a text the SMS pumping limits hold back is not sent
/// (§20). The flow's answer is the same either way.
pub(crate) async fn send(
    svc: &crate::state::Services,
    user: crate::domain::UserId,
    message: crate::delivery::Message,
    client: &crate::domain::ClientInfo,
) -> crate::error::Result<()> {
    use crate::delivery::{Delivery, Handed};
    use crate::domain::{AuditAction, AuditEvent, Outcome};
    if let crate::delivery::Message::Sms { to, .. } = &message
        && !pumping::may_text(svc, to, user, client).await?
    {
        return Ok(());
    }
    let channel = message.channel();
    if svc.delivery.send(message) == Handed::Undeliverable {
        let event = AuditEvent::new(AuditAction::Undeliverable, Outcome::Failure, Some(user), client)
            .with_detail(serde_json::json!({"channel": channel}));
        svc.store.record_audit(&event).await?;
    }
    Ok(())
}

/// The field errors for identifiers another live account already holds.
pub(crate) fn taken_errors(taken: crate::store::UserTaken) -> crate::error::FieldErrors {
    let mut errors = crate::error::FieldErrors::new();
    if taken.email {
        errors.add("email", "A user with this email already exists.");
    }
    if taken.phone {
        errors.add("phone", "A user with this phone number already exists.");
    }
    errors
}
