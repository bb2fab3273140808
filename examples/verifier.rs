//! A host application that embeds `authgate::Verifier` to protect a route
//! with authgate's access tokens: the same checks as authgate's own Bearer
//! check (signature against the current key set, expiry, type, a live
//! session and an active user).
//!
//! Run it next to an authgate on the same database and settings
//! (`AUTHGATE_DATABASE_URL`, `AUTHGATE_SECRET_KEY`,
//! `AUTHGATE_JWT_ALGORITHM`):
//!
//! ```sh
//! cargo run --example verifier
//! curl -H "Authorization: Bearer $ACCESS" http://127.0.0.1:3000/orders
//! ```

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;

async fn orders(State(verifier): State<authgate::Verifier>, headers: HeaderMap) -> (StatusCode, String) {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match verifier.verify(token).await {
        Ok(caller) => (StatusCode::OK, format!("orders of {} (session {})\n", caller.user.id, caller.session_id)),
        Err(authgate::Error::Unauthorized(why)) => (StatusCode::UNAUTHORIZED, format!("{why}\n")),
        Err(e) => {
            eprintln!("verifier: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "try again later\n".into())
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = authgate::Config::from_env()?;
    let verifier = authgate::Verifier::new(config).await?;
    let app = Router::new().route("/orders", get(orders)).with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
