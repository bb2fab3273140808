//! Logs and metrics. The log subscriber of the binary (text or one JSON
//! object per line); every metric name authgate exports, the process-wide Prometheus
//! recorder, and one small function per thing worth counting, so flows say
//! `telemetry::login(LoginOutcome::Success)` instead of spelling metric names.
//!
//! The recorder is global to the process (the `metrics` crate allows one),
//! while `authgate::app()` may run several times in one process (the test
//! suite starts many servers): it is installed once, by the first app that
//! wants metrics, and every app renders the same registry. Gauges that read
//! an app's own state (hash queue, delivery queue, database pool) are set
//! from the app being scraped, just before rendering.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How the binary's log lines look (`AUTHGATE_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The binary's log subscriber: `filter` (`RUST_LOG`'s syntax) on `writer`,
/// as text or, for `json`, one flat JSON object per event (the access line
/// included: its fields sit next to `timestamp`, `level` and `target`).
pub fn log_subscriber<W>(format: LogFormat, filter: &str, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
        LogFormat::Text => Box::new(builder.finish()),
    }
}

pub const HTTP_REQUESTS: &str = "authgate_http_requests_total";
pub const HTTP_DURATION: &str = "authgate_http_request_duration_seconds";
pub const LOGINS: &str = "authgate_logins_total";
pub const TOKEN_REFRESHES: &str = "authgate_token_refreshes_total";
pub const REFRESH_REUSE: &str = "authgate_refresh_token_reuse_detected_total";
pub const THROTTLED: &str = "authgate_throttled_requests_total";
pub const HASH_QUEUE_DEPTH: &str = "authgate_hash_queue_depth";
pub const DELIVERIES: &str = "authgate_deliveries_total";
pub const DB_POOL_CONNECTIONS: &str = "authgate_db_pool_connections";
pub const REVOCATION_FEED_UP: &str = "authgate_revocation_feed_up";
pub const REVOCATION_FALLBACKS: &str = "authgate_revocation_fallbacks_total";
pub const REVOCATION_DATABASE_CHECKS: &str = "authgate_revocation_database_checks_total";
pub const REVOCATION_ROWS: &str = "authgate_revocation_rows_total";
pub const REVOCATION_REVOKED_SESSIONS: &str = "authgate_revocation_revoked_sessions";
pub const REVOCATION_CACHED_USERS: &str = "authgate_revocation_cached_users";
pub const STORE_OPERATIONS: &str = "authgate_store_operations_total";
pub const SMS_TEXTS: &str = "authgate_sms_texts_total";

/// The route label of a request that matched no route: unknown paths
/// collapse into one series instead of one per path tried.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets, in seconds: fast reads to a slow argon2 login under load.
const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often histogram samples are folded into their buckets when nobody
/// scrapes (rendering does it too).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder the first time it is called and returns
/// its handle. If another recorder is installed already (an embedding
/// application's), authgate's metrics go there and this handle renders an
/// empty registry; that is logged once.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_string()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder is installed already; authgate's /metrics will be empty");
        } else {
            describe();
        }
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("authgate-metrics".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread; scrapes still fold samples");
        }
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route template and status");
    describe_histogram!(HTTP_DURATION, metrics::Unit::Seconds, "HTTP request latency, by method, route and status");
    describe_counter!(LOGINS, "Login attempts, by outcome");
    describe_counter!(TOKEN_REFRESHES, "Refresh token presentations, by outcome");
    describe_counter!(REFRESH_REUSE, "Retired refresh tokens presented again (their session is revoked)");
    describe_counter!(THROTTLED, "Requests refused with 429, by throttle scope");
    describe_gauge!(HASH_QUEUE_DEPTH, "Password hashes queued or running");
    describe_counter!(DELIVERIES, "Messages by channel and outcome (sent, failed, retried, dropped)");
    describe_counter!(SMS_TEXTS, "Texts by country (ISO code, or unknown) and outcome (sent, held: §20's limits)");
    describe_gauge!(DB_POOL_CONNECTIONS, "Database connections, by pool and state (size, idle, in_use, max)");
}

/// The hash pool's queue, read by a scrape just before rendering.
pub fn hash_queue_depth(depth: usize) {
    gauge!(HASH_QUEUE_DEPTH).set(depth as f64);
}

/// One database pool's connections, read by a scrape just before rendering.
pub fn db_pool(pool: &'static str, size: u32, idle: u32, in_use: u32, max: u32) {
    for (state, n) in [("size", size), ("idle", idle), ("in_use", in_use), ("max", max)] {
        gauge!(DB_POOL_CONNECTIONS, "pool" => pool, "state" => state).set(f64::from(n));
    }
}

/// Prometheus text for values of one app (the registry is shared by every
/// app of the process; these are appended to the scrape of their own app):
/// `(name, kind, help, value)`.
pub fn own_samples(samples: &[(&str, &str, &str, f64)]) -> String {
    let mut out = String::new();
    for (name, kind, help, value) in samples {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    }
    out
}

/// One answered request. `route` is the route template (never the raw
/// path) or [`UNMATCHED_ROUTE`].
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels =
        [("method", method_label(method).to_string()), ("route", route.to_string()), ("status", status.to_string())];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// Standard methods by name; anything else (a client may send any token)
/// in one series.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// How a login attempt ended, as the metric tells it. An unknown account
/// and a wrong password are one outcome: `/metrics` must not be an
/// account-existence oracle (contract §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    InvalidCredentials,
    /// The right password for an inactive account.
    Inactive,
    /// The right password for an unverified account, with
    /// `AUTHGATE_REQUIRE_VERIFIED` on.
    Unverified,
    /// Refused unchecked: the login id is delayed (§14.1).
    Delayed,
}

impl LoginOutcome {
    pub fn label(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::InvalidCredentials => "invalid_credentials",
            LoginOutcome::Inactive => "inactive",
            LoginOutcome::Unverified => "unverified",
            LoginOutcome::Delayed => "delayed",
        }
    }
}

pub fn login(outcome: LoginOutcome) {
    counter!(LOGINS, "outcome" => outcome.label()).increment(1);
}

/// A refresh: `rotated`, `grace`, `reused`, `session_ended` or `invalid`.
/// A reuse also counts as a detection.
pub fn token_refresh(outcome: &'static str) {
    counter!(TOKEN_REFRESHES, "outcome" => outcome).increment(1);
    if outcome == "reused" {
        counter!(REFRESH_REUSE).increment(1);
    }
}

/// A request refused by the throttle of `scope` (`burst`, `sustained`).
pub fn throttled(scope: &'static str) {
    counter!(THROTTLED, "scope" => scope).increment(1);
}

/// Throttled requests per hour (unix hours) of the last day, in this
/// process: the dashboard's chart of them (§19). Refusals are not stored,
/// so each instance shows its own.
static THROTTLED_HOURS: std::sync::Mutex<[(i64, u64); 24]> = std::sync::Mutex::new([(0, 0); 24]);

/// Counts a throttled request at `unix` (seconds) for the hourly chart.
pub fn throttled_at(unix: i64) {
    let hour = unix.div_euclid(3600);
    let mut hours = THROTTLED_HOURS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let slot = &mut hours[hour.rem_euclid(24) as usize];
    if slot.0 != hour {
        *slot = (hour, 0);
    }
    slot.1 += 1;
}

/// The hours (unix hours) with throttled requests in the last day and
/// their counts.
pub fn throttled_hours() -> Vec<(i64, u64)> {
    let hours = THROTTLED_HOURS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    hours.iter().copied().filter(|(_, n)| *n > 0).collect()
}

/// A message's fate on `channel`: `sent`, `failed` (given up), `retried` or
/// `dropped` (the queue refused it).
pub fn delivery(channel: &'static str, outcome: &'static str) {
    counter!(DELIVERIES, "channel" => channel, "outcome" => outcome).increment(1);
}

/// A text to `country` handed to delivery (`sent`) or held back (`held`).
pub fn sms_text(country: String, outcome: &'static str) {
    counter!(SMS_TEXTS, "country" => country, "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "other");
    }
}
