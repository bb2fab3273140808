//! Bot and abuse defence (contract §20): proof of work and CAPTCHA in
//! front of sign-in, registration, reset and resend; IP blocklists; SMS
//! pumping limits; breached passwords.

mod blocklist;
mod breached;
mod captcha;
mod challenge;
mod sms;
