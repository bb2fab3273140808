//! The signing keys of an asymmetric `AUTHGATE_JWT_ALGORITHM` (contract
//! §17): made on first start, read into the ring every request signs and
//! checks with, and re-read every `RELOAD`, so a rotation reaches every
//! instance within a second without a database read per request.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, Secret};
use crate::crypto::jwt::{JwtKeys, RingHandle};
use crate::crypto::sealing::Sealer;
use crate::crypto::signing::{self, JwtAlgorithm, KeyPair, KeyRing};
use crate::domain::Clock;
use crate::error::{Error, Result};
use crate::store::{Store, StoredKey};

/// How often every instance re-reads the keys (a query of a few rows).
pub const RELOAD: Duration = Duration::from_millis(500);

/// How long after a rotation an instance may still sign with the retired
/// key: until its next reload, with room for a slow one.
const SIGNING_LAG: i64 = 2;

/// What reading the keys needs.
struct Keyring {
    alg: JwtAlgorithm,
    sealer: Sealer,
    /// Seconds a retired key keeps verifying: the longest token lifetime,
    /// plus `SIGNING_LAG`.
    lifetime: i64,
    clock: Clock,
}

impl Keyring {
    fn new(config: &Config, secret: &Secret) -> Keyring {
        let longest = config.refresh_token_ttl.max(config.access_token_ttl).as_secs();
        Keyring {
            alg: config.jwt_algorithm,
            sealer: Sealer::new(secret.0.as_bytes()),
            lifetime: i64::try_from(longest).unwrap_or(i64::MAX / 2) + SIGNING_LAG,
            clock: config.clock.clone(),
        }
    }

    /// The rows of keys that may still verify, and their fingerprint (as
    /// `KeyRing::fingerprint` has it).
    async fn rows(&self, store: &Store) -> Result<(Vec<StoredKey>, Vec<(String, Option<i64>)>)> {
        let since = self.clock.now() - chrono::TimeDelta::seconds(self.lifetime);
        let rows = store.signing_keys(Some(self.alg.as_str()), since).await?;
        let mut print: Vec<_> = rows.iter().map(|r| (r.kid.clone(), self.usable_until(r.retired_at))).collect();
        print.sort_by_key(|(_, until)| until.is_some());
        Ok((rows, print))
    }

    fn usable_until(&self, retired_at: Option<DateTime<Utc>>) -> Option<i64> {
        retired_at.map(|t| t.timestamp().saturating_add(self.lifetime))
    }

    /// The ring of `rows`; `None` when none is active.
    fn ring(&self, rows: &[StoredKey]) -> Result<Option<KeyRing>> {
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let der = self.sealer.open(&row.kid, &row.sealed).ok_or_else(|| {
                Error::internal(format!(
                    "signing key {} cannot be opened with AUTHGATE_SECRET_KEY (was the secret changed?)",
                    row.kid
                ))
            })?;
            let pair = KeyPair::from_der(&row.kid, self.alg, &der, self.usable_until(row.retired_at))
                .ok_or_else(|| Error::internal(format!("signing key {} is not an {} key", row.kid, self.alg)))?;
            keys.push(pair);
        }
        Ok(KeyRing::new(keys))
    }

    /// A new key, sealed, not yet stored.
    async fn new_key(&self) -> Result<StoredKey> {
        let alg = self.alg;
        let der = tokio::task::spawn_blocking(move || signing::generate(alg)).await.map_err(Error::internal)?;
        let kid = signing::new_kid();
        let sealed = self.sealer.seal(&kid, &der);
        Ok(StoredKey { kid, alg: alg.as_str().to_string(), sealed, created_at: self.clock.now(), retired_at: None })
    }
}

/// The keys of `config`: the secret for HS256; else the ring of key pairs,
/// the first made now if there is none (of instances starting together,
/// one key wins), kept fresh by a reload task that ends with the keys.
pub async fn load(store: &Store, config: &Config, secret: &Secret) -> Result<JwtKeys> {
    if !config.jwt_algorithm.is_asymmetric() {
        return Ok(JwtKeys::new(secret.0.as_bytes()));
    }
    let keyring = Keyring::new(config, secret);
    let (rows, _) = keyring.rows(store).await?;
    let ring = match keyring.ring(&rows)? {
        Some(ring) => ring,
        None => {
            let key = keyring.new_key().await?;
            if store.add_first_signing_key(&key).await? {
                tracing::info!(kid = %key.kid, alg = %keyring.alg, "signing key created");
            }
            let (rows, _) = keyring.rows(store).await?;
            keyring.ring(&rows)?.ok_or_else(|| Error::internal("no active signing key after creating one"))?
        }
    };
    let keys = JwtKeys::pairs(ring);
    let handle = keys.handle().expect("key pairs have a ring");
    tokio::spawn(reload(store.clone(), keyring, handle));
    Ok(keys)
}

/// Re-reads the keys every `RELOAD` until the keys are dropped; a new ring
/// is built only when the rows changed. A failed read keeps the ring in use.
async fn reload(store: Store, keyring: Keyring, handle: RingHandle) {
    let mut failing = false;
    loop {
        tokio::time::sleep(RELOAD).await;
        let Some(current) = handle.current() else { return };
        match reread(&store, &keyring, &current).await {
            Ok(Some(ring)) => {
                tracing::info!(active = %ring.fingerprint()[0].0, "signing keys reloaded");
                if !handle.replace(ring) {
                    return;
                }
                failing = false;
            }
            Ok(None) => failing = false,
            Err(e) => {
                // Once per outage, not every half second.
                if !failing {
                    tracing::warn!(error = %e, "signing keys could not be re-read; keeping the current ones");
                }
                failing = true;
            }
        }
    }
}

/// The new ring if the keys changed since `current`.
async fn reread(store: &Store, keyring: &Keyring, current: &KeyRing) -> Result<Option<KeyRing>> {
    let (rows, print) = keyring.rows(store).await?;
    if print == current.fingerprint() {
        return Ok(None);
    }
    keyring.ring(&rows)?.map(Some).ok_or_else(|| Error::internal("the signing keys have no active key"))
}

/// Refuses key commands under HS256, which signs with the secret.
fn asymmetric(config: &Config) -> Result<()> {
    if config.jwt_algorithm.is_asymmetric() {
        return Ok(());
    }
    Err(Error::BadRequest(
        "AUTHGATE_JWT_ALGORITHM is HS256, which signs with AUTHGATE_SECRET_KEY: there are no signing keys \
         (set it to EdDSA, ES256 or RS256)"
            .into(),
    ))
}

/// Makes a new key the active one (`authgate keys rotate`); the retired
/// key verifies until the last token it signed has expired. Returns it.
pub async fn rotate(store: &Store, config: &Config, secret: &Secret) -> Result<StoredKey> {
    asymmetric(config)?;
    let key = Keyring::new(config, secret).new_key().await?;
    store.rotate_signing_key(&key).await?;
    tracing::info!(kid = %key.kid, alg = %config.jwt_algorithm, "signing key rotated");
    Ok(key)
}

/// Every stored key, oldest first (`authgate keys list`).
pub async fn list(store: &Store, config: &Config) -> Result<Vec<StoredKey>> {
    asymmetric(config)?;
    store.signing_keys(None, DateTime::<Utc>::UNIX_EPOCH).await
}
