//! What the test suite reads besides the HTTP API: the names of the
//! metrics it scrapes (contract §10).

pub use crate::telemetry::{
    DELIVERIES, HTTP_DURATION, HTTP_REQUESTS, LOGINS, REFRESH_REUSE, THROTTLED, TOKEN_REFRESHES,
};
