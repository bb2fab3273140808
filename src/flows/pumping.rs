//! SMS pumping (contract §20): texts that earn a fraudster per message
//! (premium ranges, a country the service has no users in) are held back
//! before they cost anything. A text goes only to an allowed country, to a
//! number below its own limit, and to a prefix (the first 6 digits) below
//! its velocity limit; a held text is audited and the HTTP answer stays as
//! it would have been, so a pumper learns nothing.

use serde_json::json;

use crate::domain::{AuditAction, AuditEvent, ClientInfo, Outcome, Phone, UserId};
use crate::error::Result;
use crate::state::Services;
use crate::telemetry;

pub const COUNTRY_REFUSED: &str = "Phone numbers of this country are not accepted.";

/// Why a text was held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Country,
    Number,
    Prefix,
}

/// Whether `phone` may be registered: its country is allowed.
pub fn country_allowed(svc: &Services, phone: &Phone) -> bool {
    region_allowed(svc, phone.region().as_deref())
}

/// Whether texts may go to `region` (none: a non-geographic number).
fn region_allowed(svc: &Services, region: Option<&str>) -> bool {
    let allowed = &svc.config.defence.sms_allowed_countries;
    allowed.is_empty() || region.is_some_and(|r| allowed.iter().any(|a| a == r))
}

/// Whether a text to `to` may go now; when it may, it is counted against
/// the number's and the prefix's limits. A held one is audited.
pub async fn may_text(svc: &Services, to: &str, user: UserId, client: &ClientInfo) -> Result<bool> {
    // Every number a text goes to was parsed (to E.164) before it was stored.
    let phone = Phone::from_trusted(to.to_owned());
    let region = phone.region();
    let held = match hold(svc, &phone, region.as_deref()).await? {
        None => {
            telemetry::sms_text(region.unwrap_or_else(|| "unknown".into()), "sent");
            return Ok(true);
        }
        Some(held) => held,
    };
    let country = region.unwrap_or_else(|| "unknown".into());
    telemetry::sms_text(country.clone(), "held");
    let (action, detail) = match held {
        Held::Country => (AuditAction::SmsCountryRefused, json!({"country": country})),
        Held::Number => (AuditAction::SmsVelocity, json!({"scope": "number", "country": country})),
        Held::Prefix => (AuditAction::SmsVelocity, json!({"scope": "prefix", "prefix": phone.prefix()})),
    };
    tracing::warn!(user_id = %user, action = action.as_str(), "text held back (SMS pumping defence)");
    let event = AuditEvent::new(action, Outcome::Failure, Some(user), client).with_detail(detail);
    svc.store.record_audit(&event).await?;
    Ok(false)
}

/// The first rule a text to `phone` (of `region`) breaks. The prefix is
/// judged before the number: a text held for its prefix then spends none
/// of its number's allowance.
async fn hold(svc: &Services, phone: &Phone, region: Option<&str>) -> Result<Option<Held>> {
    if !region_allowed(svc, region) {
        return Ok(Some(Held::Country));
    }
    let (defence, events, now) = (&svc.config.defence, &svc.defence.events, svc.clock.now());
    if let Some(rate) = defence.sms_prefix_limit
        && !events.take(&format!("sms:prefix:{}", phone.prefix()), rate.period, rate.count, now).await?
    {
        return Ok(Some(Held::Prefix));
    }
    let rate = defence.sms_per_number_limit;
    if !events.take(&format!("sms:number:{}", phone.as_str()), rate.period, rate.count, now).await? {
        return Ok(Some(Held::Number));
    }
    Ok(None)
}
