//! Bot and abuse defence (contract §20): the services behind it, each
//! built once from the config. The rules (when a challenge is required,
//! whether a text may go) are in `flows::bots`; the blocklist's refusal is
//! the surface's (`http::blocklist`).
//!
//! - `blocklist`: FireHOL netsets, reloaded when a file changes.
//! - `breached`: the Pwned Passwords range API or a local file of hashes.
//! - `captcha`: siteverify of Turnstile, hCaptcha and reCAPTCHA tokens.
//! - `events`: recent events by key (failed sign-ins of a network, texts of
//!   a number), shared by every instance through the database or Redis.

pub mod blocklist;
pub mod breached;
pub mod captcha;
pub mod events;

use crate::config::{Config, ConfigError};
use crate::store::Store;
use crate::tasks::Tasks;

pub struct Defence {
    pub blocklist: blocklist::Blocklist,
    pub breached: breached::Breached,
    pub captcha: Option<captcha::Captcha>,
    pub events: events::Events,
}

impl Defence {
    /// Fails on a blocklist or a breached-password file that cannot be
    /// read, or an invalid Redis URL.
    pub fn start(config: &Config, store: &Store, tasks: &Tasks) -> Result<Defence, ConfigError> {
        let defence = &config.defence;
        Ok(Defence {
            blocklist: blocklist::Blocklist::start(defence, tasks)?,
            breached: breached::Breached::from_config(defence)?,
            captcha: defence.captcha.clone().map(captcha::Captcha::new),
            events: events::Events::from_config(config, store, tasks)?,
        })
    }
}

/// The HTTP client of a check that calls out (siteverify, the range API):
/// no redirect followed, an answer within `timeout` or none.
pub(crate) fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
        .build()
        // Only a TLS backend that cannot start fails here; without one no
        // client of this process could work either.
        .unwrap_or_else(|e| panic!("the HTTP client cannot be built: {e}"))
}
