//! Breached passwords (contract §20). Placeholder: none is breached.

use crate::config::{ConfigError, DefenceConfig};
use crate::domain::Password;

pub struct Breached;

impl Breached {
    pub fn from_config(_config: &DefenceConfig) -> Result<Breached, ConfigError> {
        Ok(Breached)
    }

    /// Whether `password` appears in a breach.
    pub async fn is_breached(&self, _password: &Password) -> bool {
        false
    }
}
