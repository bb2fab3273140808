//! IP blocklists (contract §20). Placeholder: nothing is listed.

use std::net::IpAddr;

use crate::config::{ConfigError, DefenceConfig};
use crate::tasks::Tasks;

pub struct Blocklist;

impl Blocklist {
    pub fn start(_config: &DefenceConfig, _tasks: &Tasks) -> Result<Blocklist, ConfigError> {
        Ok(Blocklist)
    }

    /// Whether `ip` is on a list.
    pub fn listed(&self, _ip: IpAddr) -> bool {
        false
    }
}
