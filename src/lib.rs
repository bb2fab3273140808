//! authgate: users, passwords and JWTs, compatible with a Django +
//! SimpleJWT service, as a binary or as a module of another axum server.
//!
//! As a service, with the whole shutdown sequence (stop accepting, finish
//! the requests in flight, flush the delivery queue, close the database):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = authgate::Config::from_env()?;
//! let app = authgate::App::build(config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! app.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! As a router to nest in another application:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = authgate::Config::from_env()?;
//! let router = authgate::app(config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! authgate::serve(listener, router, std::future::pending()).await?;
//! # Ok(()) }
//! ```

// What an embedding application needs: the config and its parts, the
// values and the error in its signatures, and the crypto an application
// may check tokens or hashes with. The rest is the service's own.
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod testing;

mod defence;
mod delivery;
mod flows;
mod http;
mod revocation;
mod server;
mod social;
mod state;
mod store;
mod tasks;
mod telemetry;
mod throttle;

use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use config::Config;
use config::MetricsBind;
pub use domain::import::Skip as ImportSkip;
pub use error::Error;
pub use flows::auth::Principal;
pub use flows::import::{ImportProgress, ImportSummary};
pub use http::openapi::document_value as openapi_document;
pub use server::Limits;
use state::{AppState, Services};
pub use telemetry::log_subscriber;

/// Connects to the configured database, applies migrations, and returns the
/// router with every route of the contract.
pub async fn app(config: Config) -> Result<axum::Router, Error> {
    Ok(App::build(config).await?.router())
}

/// A built authgate: its services, its routers, and the way it stops.
pub struct App {
    services: AppState,
    router: axum::Router,
    /// Set when metrics are served on `AUTHGATE_METRICS_BIND`.
    metrics_router: Option<axum::Router>,
    metrics_listener: Option<TcpListener>,
}

impl App {
    /// Connects to the database, applies migrations, installs the metrics
    /// recorder (once per process) and builds the routers.
    pub async fn build(config: Config) -> Result<App, Error> {
        if config.metrics_enabled {
            telemetry::install();
        }
        let services = Services::build(config).await?;
        let separate =
            services.config.metrics_enabled && matches!(services.config.metrics_bind, MetricsBind::Separate(_));
        Ok(App {
            router: http::router(services.clone()),
            metrics_router: separate.then(|| http::metrics_router(services.clone())),
            metrics_listener: None,
            services,
        })
    }

    /// Every route of the contract (and `/metrics`, unless it has an
    /// address of its own).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// `/metrics` alone, when `AUTHGATE_METRICS_BIND` is set.
    pub fn metrics_router(&self) -> Option<axum::Router> {
        self.metrics_router.clone()
    }

    /// Listens on `AUTHGATE_METRICS_BIND` now and returns the bound address
    /// (`serve` does it otherwise): a port of 0 is known before serving.
    pub async fn bind_metrics(&mut self) -> std::io::Result<Option<SocketAddr>> {
        if self.metrics_listener.is_none()
            && self.metrics_router.is_some()
            && let MetricsBind::Separate(addr) = self.services.config.metrics_bind
        {
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("AUTHGATE_METRICS_BIND: cannot listen on {addr}: {e}"))
            })?;
            self.metrics_listener = Some(listener);
        }
        self.metrics_listener.as_ref().map(TcpListener::local_addr).transpose()
    }

    /// Serves on `listener` (and the metrics address) until `signal`, then
    /// shuts down within `AUTHGATE_SHUTDOWN_TIMEOUT`: stops accepting,
    /// lets the requests in flight and the work they started finish, sends
    /// what the delivery queue holds, and closes the database. Each step is
    /// logged; whatever the timeout cut short is logged as lost.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Some(addr) = self.bind_metrics().await? {
            tracing::info!(address = %addr, "metrics listening");
        }
        let (stop, stopped) = watch::channel(false);
        let when_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut servers = JoinSet::new();
        let limits = Limits::from(&self.services.config);
        servers.spawn(serve_with(listener, self.router, limits, when_stopped(stopped.clone())));
        if let (Some(listener), Some(router)) = (self.metrics_listener.take(), self.metrics_router.take()) {
            servers.spawn(serve_with(listener, router, limits, when_stopped(stopped.clone())));
        }

        let mut outcome = Ok(());
        tokio::select! {
            () = signal => {}
            Some(ended) = servers.join_next() => outcome = flatten(ended),
        }
        let timeout = self.services.config.shutdown_timeout;
        let deadline = Instant::now() + timeout;
        tracing::info!(?timeout, "shutdown: no longer accepting connections; finishing the requests in flight");
        let _ = stop.send(true);
        self.services.tasks.drain();
        let finished = tokio::time::timeout_at(deadline, async {
            while let Some(ended) = servers.join_next().await {
                if let (Ok(()), Err(e)) = (&outcome, flatten(ended)) {
                    outcome = Err(e);
                }
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(?timeout, "shutdown: requests still in flight at the timeout were cut off");
            servers.abort_all();
        } else {
            tracing::info!("shutdown: every request answered");
        }

        wait_for_background_work(&self.services.tasks, deadline).await;
        tracing::info!("shutdown: flushing the delivery queue");
        let pending = self.services.delivery.close(deadline.saturating_duration_since(Instant::now())).await;
        if pending == 0 {
            tracing::info!("shutdown: delivery queue flushed");
        } else {
            tracing::error!(pending, "shutdown: messages not sent by the timeout are lost");
        }
        tracing::info!("shutdown: closing the database pool");
        self.services.store.close().await;
        tracing::info!("shutdown complete");
        outcome
    }
}

/// Closes the tracker of background work (hash upgrades, a reset request's
/// lookup and message, sends) and waits for it until `deadline`.
async fn wait_for_background_work(tasks: &tasks::Tasks, deadline: Instant) {
    tasks.close();
    if !tasks.is_empty() {
        tracing::info!(running = tasks.len(), "shutdown: waiting for work started by requests");
    }
    if tokio::time::timeout_at(deadline, tasks.wait()).await.is_err() {
        tracing::warn!(running = tasks.len(), "shutdown: background work still running at the timeout was cut off");
    }
}

/// Checks authgate's access tokens inside another Rust application (see
/// `examples/verifier.rs`): the signature (against the same key set,
/// re-read as keys rotate), the expiry and the type, then the same check
/// that the session is live and the user active as the server's own
/// Bearer check.
#[derive(Clone)]
pub struct Verifier {
    services: AppState,
}

impl Verifier {
    /// Connects to the configured database, as the server does.
    pub async fn new(config: Config) -> Result<Verifier, Error> {
        Ok(Verifier { services: Services::build(config).await? })
    }

    /// The verifier of a built server, sharing its keys and database.
    pub fn from_app(app: &App) -> Verifier {
        Verifier { services: app.services.clone() }
    }

    /// The caller behind an access token, or `Error::Unauthorized`.
    pub async fn verify(&self, access_token: &str) -> Result<Principal, Error> {
        flows::auth::authenticate(&self.services, access_token).await
    }
}

/// A signing key, as `authgate keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub alg: String,
    pub created: chrono::DateTime<chrono::Utc>,
    /// Signs now; else retired (it may still verify for a while).
    pub active: bool,
}

fn key_info(k: store::StoredKey) -> SigningKeyInfo {
    SigningKeyInfo { kid: k.kid, alg: k.alg, created: k.created_at, active: k.retired_at.is_none() }
}

/// Makes a new signing key the active one (`authgate keys rotate`, contract
/// §17): running instances sign with it within a second.
pub async fn rotate_signing_key(config: &Config) -> Result<SigningKeyInfo, Error> {
    let store = open_store(config).await?;
    let rotated = async {
        let secret = state::load_secret(&store, config).await?;
        state::signing_keys::rotate(&store, config, &secret).await
    }
    .await;
    store.close().await;
    rotated.map(key_info)
}

/// Every signing key, oldest first (`authgate keys list`).
pub async fn list_signing_keys(config: &Config) -> Result<Vec<SigningKeyInfo>, Error> {
    let store = open_store(config).await?;
    let keys = state::signing_keys::list(&store, config).await;
    store.close().await;
    Ok(keys?.into_iter().map(key_info).collect())
}

async fn open_store(config: &Config) -> Result<store::Store, Error> {
    let store =
        store::Store::connect(&config.database_url, config.database_max_connections, config.clock.clone()).await?;
    store.migrate().await?;
    Ok(store)
}

/// Where `import_django` reads the Django original.
pub use store::django::{DEFAULT_TABLE as DJANGO_USER_TABLE, Source as DjangoSource};

/// Imports the Django original's users, and with a database source its
/// outstanding refresh tokens, into the configured database (`authgate
/// import-django`, contract §18). Rows the contract refuses go to
/// `progress`; an unreadable source or target is an error.
pub async fn import_django(
    config: &Config,
    source: &DjangoSource,
    dry_run: bool,
    progress: &dyn ImportProgress,
) -> Result<ImportSummary, Error> {
    let original = store::django::read(source).await?;
    let store = if dry_run { open_for_dry_run(config).await? } else { open_store(config).await? };
    let done = flows::import::import(&store, original, config.clock.unix(), dry_run, progress).await;
    store.close().await;
    done
}

/// The target of a dry run, opened without writing: the configured
/// database when its schema is current; an empty one in memory when the
/// target is empty or a SQLite file not made yet (there is nothing to
/// compare the rows with); an error when migrations are pending, which a
/// dry run may not apply.
async fn open_for_dry_run(config: &Config) -> Result<store::Store, Error> {
    let empty = || async {
        let scratch = store::Store::connect("sqlite::memory:", 1, config.clock.clone()).await?;
        scratch.migrate().await?;
        Ok(scratch)
    };
    if store::names_missing_file(&config.database_url) {
        return empty().await;
    }
    let target =
        store::Store::connect(&config.database_url, config.database_max_connections, config.clock.clone()).await?;
    let schema = target.schema().await;
    match schema? {
        store::Schema::Current => Ok(target),
        store::Schema::Empty => {
            target.close().await;
            empty().await
        }
        store::Schema::Behind | store::Schema::Newer => {
            target.close().await;
            Err(Error::internal(
                "the target database's schema is not this release's: run `authgate migrate` before a dry run",
            ))
        }
    }
}

/// Applies the migrations to the configured database (`authgate migrate`).
pub async fn migrate(config: &Config) -> Result<(), Error> {
    open_store(config).await?.close().await;
    Ok(())
}

/// Creates a verified admin with the password policy of registration
/// (`authgate createsuperuser`).
pub async fn create_superuser(
    config: Config,
    email: domain::Email,
    phone: Option<domain::Phone>,
    password: domain::Password,
) -> Result<domain::User, Error> {
    let svc = Services::build(config).await?;
    let created = flows::admin::create_superuser(&svc, email, phone, password).await;
    svc.store.close().await;
    created
}

fn flatten(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    ended.map_err(std::io::Error::other)?
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish. Client addresses reach the handlers. The
/// connection limits are the defaults of contract §14.3 (`serve_with`
/// takes others).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, Limits::default(), shutdown).await
}

/// `serve` with the given connection limits and timeouts, typically
/// `Limits::from(&config)`.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve(listener, router, limits, shutdown).await
}
