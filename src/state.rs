//! Everything a request needs, built once from the config.

use std::sync::Arc;

use crate::config::{Config, Secret};
use crate::crypto::hashers::Hasher;
use crate::crypto::jwt::{JwtKeys, LegacyTokens};
use crate::crypto::passkeys::RelyingParty;
use crate::crypto::pool::HashPool;
use crate::defence::Defence;
use crate::delivery::{Channels, DeliveryQueue, QueueConfig};
use crate::domain::Clock;
use crate::error::Result;
use crate::social::Providers;
use crate::store::Store;
use crate::tasks::Tasks;
use crate::throttle::FailureCounters;

pub mod signing_keys;

pub struct Services {
    pub config: Config,
    pub store: Store,
    pub keys: JwtKeys,
    /// The Django original's tokens and the window they are accepted in (§18).
    pub legacy: LegacyTokens,
    /// The signing secret: JWTs, OTP digests, reset tokens.
    pub secret: Secret,
    pub hashing: HashPool,
    pub delivery: DeliveryQueue,
    /// Throttle counters (contract §7).
    pub limiter: Arc<dyn crate::throttle::Limiter>,
    /// The sign-in defence's failure counters (contract §14.1).
    pub login_counters: FailureCounters,
    /// Where flows read the time (`config.clock`).
    pub clock: Clock,
    /// The WebAuthn relying party of passkeys (§15.3).
    pub passkeys: RelyingParty,
    /// The social sign-in providers (§16).
    pub social: Providers,
    /// Bot and abuse defence (§20).
    pub defence: Defence,
    /// Work left running after an answer; shutdown waits for it.
    pub tasks: Tasks,
}

pub type AppState = Arc<Services>;

impl Services {
    /// Connects to the database, applies migrations and loads the secret.
    pub async fn build(config: Config) -> Result<AppState> {
        config.check_production().map_err(crate::error::Error::internal)?;
        let store = Store::connect(&config.database_url, config.database_max_connections, config.clock.clone()).await?;
        store.migrate().await?;
        let secret = load_secret(&store, &config).await?;
        let keys = signing_keys::load(&store, &config, &secret).await?;
        let legacy = legacy_tokens(&store, &config, &secret).await?;
        let channels = Channels::from_config(&config).map_err(crate::error::Error::internal)?;
        channels.announce();
        let tasks = Tasks::default();
        start_revocation_feed(&store, &tasks, &config);
        let (delivery, _worker) = DeliveryQueue::start(Arc::new(channels), QueueConfig::default(), tasks.clone());
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let web = &config.webauthn;
        let passkeys =
            RelyingParty::new(&web.rp_id, &web.origins, &web.rp_name).map_err(crate::error::Error::internal)?;
        let social = Providers::new(&config.social, &config.clock).map_err(crate::error::Error::internal)?;
        let defence = Defence::start(&config, &store, &tasks).map_err(crate::error::Error::internal)?;
        Ok(Arc::new(Services {
            keys,
            social,
            defence,
            legacy,
            hashing: HashPool::new(Hasher::new(config.password_hasher), cores),
            delivery,
            limiter: crate::throttle::from_config(&config).map_err(crate::error::Error::internal)?,
            login_counters: FailureCounters::from_config(&config).map_err(crate::error::Error::internal)?,
            clock: config.clock.clone(),
            passkeys,
            tasks,
            secret,
            store,
            config,
        }))
    }
}

/// `AUTHGATE_SECRET_KEY`, or the key generated once and kept in the
/// database when it is unset.
pub async fn load_secret(store: &Store, config: &Config) -> Result<Secret> {
    if let Some(s) = &config.secret_key {
        return Ok(s.clone());
    }
    let key = store.setting_or_insert("secret_key", &crate::crypto::random_secret()).await?;
    tracing::warn!(
        "AUTHGATE_SECRET_KEY is not set: signing with a key generated once and kept in the database; \
         set AUTHGATE_SECRET_KEY to share one key across instances"
    );
    Ok(Secret(key))
}

/// The window for the Django original's tokens: `AUTHGATE_LEGACY_TOKENS_UNTIL`,
/// or the end the last import of refresh tokens set (followed as imports
/// move it).
async fn legacy_tokens(store: &Store, config: &Config, secret: &Secret) -> Result<LegacyTokens> {
    let (until, fixed) = match config.legacy_tokens_until {
        Some(t) => (Some(t.timestamp()), true),
        None => (store.legacy_tokens_until().await?, false),
    };
    Ok(LegacyTokens::new(secret.0.as_bytes(), until, fixed, config.clock.unix()))
}

/// The revocation feed (contract §17) and the hourly sweep of its old rows:
/// a row outlives every token it can concern (access lifetime) by far; the
/// refresh lifetime leaves a day of history to read.
fn start_revocation_feed(store: &Store, tasks: &Tasks, config: &Config) {
    let settings = crate::revocation::Settings {
        keep: config.access_token_ttl + crate::revocation::CLOCK_MARGIN,
        max_sessions: config.revocation_max_sessions,
        max_users: config.revocation_max_users,
    };
    store.start_feed(tasks, settings, config.revocation_poll);
    let (store, closing, keep) = (store.clone(), tasks.clone(), config.refresh_token_ttl);
    tasks.spawn(async move {
        let sweep = async {
            loop {
                tokio::time::sleep(REVOCATION_SWEEP_EVERY).await;
                match store.sweep_revocations(keep).await {
                    Ok(n) if n > 0 => tracing::debug!(rows = n, "revocation feed: old rows swept"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "revocation feed: the sweep of old rows failed"),
                }
            }
        };
        tokio::select! {
            () = sweep => {}
            () = closing.closing() => {}
        }
    });
}

const REVOCATION_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
