//! authgate: users, passwords and JWTs, compatible with a Django +
//! SimpleJWT service, as a binary or as a module of another axum server.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = authgate::Config::from_env()?;
//! let router = authgate::app(config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! authgate::serve(listener, router, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod config;
pub mod crypto;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod flows;
pub mod http;
pub mod state;
pub mod store;
pub mod throttle;

use std::future::Future;
use std::net::SocketAddr;

pub use config::Config;
pub use error::Error;
pub use state::{AppState, Services};

/// Connects to the configured database, applies migrations, and returns the
/// router with every route of the contract.
pub async fn app(config: Config) -> Result<axum::Router, Error> {
    Ok(http::router(Services::build(config).await?))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish. Client addresses reach the handlers.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
