//! `AUTHGATE_*` settings, parsed once at start into typed values.
//!
//! Sources, weakest first: built-in defaults, an optional TOML file named by
//! `AUTHGATE_CONFIG` (keys are the variable names without the prefix, in any
//! case: `bind = "0.0.0.0:8000"`), then the environment. Every bad value fails
//! with one line that names the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::crypto::hashers::HasherKind;

mod defence;
mod social;

pub use self::defence::{BreachedPasswords, CaptchaConfig, CaptchaProvider, ChallengeMode, DefenceConfig};
pub use self::social::{ProviderConfig, ProviderKind, SocialConfig};
pub use crate::telemetry::LogFormat;

#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

/// A rate such as `10/min`: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("invalid rate {s:?} (expected e.g. 10/min, 1000/day)");
        let (count, unit) = s.trim().split_once('/').ok_or_else(err)?;
        let count: u32 = count.trim().parse().map_err(|_| err())?;
        // DRF reads only the first letter of the unit (`10/minute` == `10/m`).
        let period = match unit.trim().chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86400,
            _ => return Err(err()),
        };
        if count == 0 {
            return Err(err());
        }
        Ok(Rate { count, period: Duration::from_secs(period) })
    }
}

/// Development (the default: a first run works with nothing configured)
/// or production (contract §14.4: refuses unsafe settings, never logs a
/// message in place of sending it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Env {
    #[default]
    Development,
    Production,
}

/// Where `/metrics` is served (contract §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsBind {
    /// A listener of its own, which must stay private.
    Separate(SocketAddr),
    /// The main address, only when `AUTHGATE_METRICS_BIND` names it.
    Main,
}

/// A secret that never shows up in `Debug` output.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    /// Connections per instance: PostgreSQL's pool, or SQLite's readers.
    pub database_max_connections: u32,
    pub redis_url: Option<String>,
    /// With Redis unreachable: allow requests (true) or refuse them (false).
    pub redis_fail_open: bool,
    pub secret_key: Option<Secret>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    pub password_min_length: usize,
    pub password_hasher: HasherKind,
    pub smtp_url: Option<Secret>,
    pub email_from: String,
    pub sms_webhook_url: Option<Secret>,
    pub reset_url: String,
    pub expose_otp: bool,
    pub throttle_enabled: bool,
    pub throttle_burst: Rate,
    pub throttle_sustained: Rate,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// Serve `GET /metrics` (Prometheus text).
    pub metrics_enabled: bool,
    /// Where `/metrics` is served: its own listener unless asked otherwise.
    pub metrics_bind: MetricsBind,
    /// How long a shutdown may take: requests in flight, then the delivery
    /// queue.
    pub shutdown_timeout: Duration,
    pub env: Env,
    /// Open connections beyond which new ones are closed at once (§14.3).
    pub max_connections: usize,
    /// A request's header must arrive within this of its first byte.
    pub header_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub idle_timeout: Duration,
    /// A request's body must arrive within this.
    pub body_timeout: Duration,
    /// Origins allowed to call from a browser (§14.2); empty: no CORS.
    pub cors_origins: Vec<String>,
    /// Refuse sign-in to unverified accounts (§14.4).
    pub require_verified: bool,
    /// Failures of one login id before sign-in attempts are delayed
    /// (§14.1); 0 turns the delay off.
    pub login_failures_before_delay: u32,
    /// Roles that must enrol a second factor before using most Bearer
    /// routes (§15.2).
    pub mfa_required_roles: Vec<crate::domain::Role>,
    /// How tokens are signed (§17): HS256 with the secret, or a key pair
    /// kept in the database.
    pub jwt_algorithm: crate::crypto::signing::JwtAlgorithm,
    /// The service tokens that may call introspection (§17).
    pub introspection_tokens: Vec<Secret>,
    /// Until when the Django original's tokens are accepted (§18); unset:
    /// the end an import set, if any.
    pub legacy_tokens_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The Django original's `TIME_ZONE`: reset tokens count seconds of its
    /// wall clock (§18); UTC by default.
    pub time_zone: crate::domain::WallClock,
    /// Live sessions a user may have; a sign-in beyond it revokes the least
    /// recently used (§12); 0: no limit.
    pub max_sessions_per_user: u32,
    /// Tell a user of a sign-in from a new (device, network) pair (§12).
    pub new_device_alerts: bool,
    /// How often an instance on SQLite reads the revocations other
    /// processes on the file committed (§17).
    pub revocation_poll: Duration,
    /// Revoked sessions an instance holds in memory at most; past it,
    /// Bearer checks read the database until they expired (§17).
    pub revocation_max_sessions: usize,
    /// Users an instance caches for the Bearer check at most.
    pub revocation_max_users: usize,
    /// The WebAuthn relying party of passkeys (§15.3).
    pub webauthn: WebauthnConfig,
    /// Social sign-in (§16).
    pub social: SocialConfig,
    /// Bot and abuse defence (§20).
    pub defence: DefenceConfig,
    /// Where the service reads the time (tests move it).
    pub clock: crate::domain::Clock,
}

/// The relying party passkeys are bound to (§15.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnConfig {
    /// `AUTHGATE_WEBAUTHN_RP_ID`: the domain credentials are scoped to.
    pub rp_id: String,
    /// `AUTHGATE_WEBAUTHN_ORIGINS`: where ceremonies may run, each
    /// `scheme://host[:port]`.
    pub origins: Vec<String>,
    /// `AUTHGATE_WEBAUTHN_RP_NAME`: what authenticators show.
    pub rp_name: String,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        WebauthnConfig {
            rp_id: "localhost".into(),
            origins: vec!["http://localhost:8000".into()],
            rp_name: "authgate".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: "sqlite://authgate.db".into(),
            database_max_connections: 10,
            redis_url: None,
            redis_fail_open: true,
            secret_key: None,
            access_token_ttl: Duration::from_secs(5 * 60),
            refresh_token_ttl: Duration::from_secs(24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            password_min_length: 8,
            password_hasher: HasherKind::Argon2,
            smtp_url: None,
            email_from: "no-reply@localhost".into(),
            sms_webhook_url: None,
            reset_url: "http://localhost:3000/reset-password?uid={uid}&token={token}".into(),
            expose_otp: false,
            throttle_enabled: true,
            throttle_burst: Rate { count: 10, period: Duration::from_secs(60) },
            throttle_sustained: Rate { count: 1000, period: Duration::from_secs(86400) },
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            metrics_enabled: true,
            metrics_bind: MetricsBind::Separate(SocketAddr::from(([127, 0, 0, 1], 9464))),
            shutdown_timeout: Duration::from_secs(30),
            env: Env::Development,
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            require_verified: false,
            login_failures_before_delay: 5,
            mfa_required_roles: Vec::new(),
            jwt_algorithm: crate::crypto::signing::JwtAlgorithm::Hs256,
            introspection_tokens: Vec::new(),
            legacy_tokens_until: None,
            time_zone: crate::domain::WallClock::utc(),
            max_sessions_per_user: 0,
            new_device_alerts: false,
            revocation_poll: Duration::from_millis(250),
            revocation_max_sessions: 1_000_000,
            revocation_max_users: 100_000,
            webauthn: WebauthnConfig::default(),
            social: SocialConfig::default(),
            defence: DefenceConfig::default(),
            clock: crate::domain::Clock::system(),
        }
    }
}

impl Config {
    /// Reads the TOML file named by `AUTHGATE_CONFIG` (if any), then the
    /// process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("AUTHGATE_")).collect();
        let mut vars = match env.get("AUTHGATE_CONFIG") {
            Some(path) => read_toml(path)?,
            None => HashMap::new(),
        };
        vars.extend(env);
        Config::from_vars(&vars)
    }

    /// Builds a config from `AUTHGATE_*` names and raw values.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        edge(vars, &mut c)?;
        storage(vars, &mut c)?;
        tokens(vars, &mut c)?;
        accounts(vars, &mut c)?;
        delivery(vars, &mut c)?;
        c.webauthn = webauthn(vars, &c)?;
        c.social = social::social(vars)?;
        c.defence = defence::defence(vars)?;
        c.check_production()?;
        Ok(c)
    }

    /// Production mode refuses the development conveniences (§14.4).
    pub fn check_production(&self) -> Result<(), ConfigError> {
        if self.env != Env::Production {
            return Ok(());
        }
        let refuse = |var: &str, why: &str| Err(bad(var, format!("{why} (AUTHGATE_ENV=production)")));
        if self.secret_key.is_none() {
            return refuse("AUTHGATE_SECRET_KEY", "must be set in production");
        }
        if self.expose_otp {
            return refuse("AUTHGATE_EXPOSE_OTP", "must be false in production");
        }
        if !self.throttle_enabled {
            return refuse("AUTHGATE_THROTTLE_ENABLED", "must be true in production");
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.env == Env::Production
    }
}

/// The listener and the HTTP edge: address, mode, connection cap,
/// timeouts, CORS, proxies, shutdown, logs and metrics.
fn edge(vars: &HashMap<String, String>, c: &mut Config) -> Result<(), ConfigError> {
    let get = |name: &'static str| lookup(vars, name);
    if let Some((n, v)) = get("AUTHGATE_BIND") {
        c.bind = v
            .parse()
            .map_err(|_| bad(n, format!("invalid address {v:?} (expected host:port, e.g. 127.0.0.1:8000)")))?;
    }
    if let Some((n, v)) = get("AUTHGATE_ENV") {
        c.env = match v.to_ascii_lowercase().as_str() {
            "development" | "dev" => Env::Development,
            "production" | "prod" => Env::Production,
            _ => return Err(bad(n, format!("invalid mode {v:?} (expected development or production)"))),
        };
    }
    if let Some((n, v)) = get("AUTHGATE_MAX_CONNECTIONS") {
        c.max_connections = v
            .parse()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| bad(n, format!("invalid connection count {v:?} (expected 1 to 1000000)")))?;
    }
    if let Some((n, v)) = get("AUTHGATE_HEADER_TIMEOUT") {
        c.header_timeout = positive(n, duration(n, v)?)?;
    }
    if let Some((n, v)) = get("AUTHGATE_IDLE_TIMEOUT") {
        c.idle_timeout = positive(n, duration(n, v)?)?;
    }
    if let Some((n, v)) = get("AUTHGATE_BODY_TIMEOUT") {
        c.body_timeout = positive(n, duration(n, v)?)?;
    }
    if let Some((n, v)) = get("AUTHGATE_CORS_ORIGINS") {
        c.cors_origins = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                origin(s).ok_or_else(|| bad(n, format!("invalid origin {s:?} (expected e.g. https://shop.example)")))
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some((n, v)) = get("AUTHGATE_TRUSTED_PROXIES") {
        c.trusted_proxies = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| cidr(s).ok_or_else(|| bad(n, format!("invalid CIDR {s:?}"))))
            .collect::<Result<_, _>>()?;
    }
    if let Some((n, v)) = get("AUTHGATE_SHUTDOWN_TIMEOUT") {
        c.shutdown_timeout = duration(n, v)?;
    }
    if let Some((n, v)) = get("AUTHGATE_LOG_FORMAT") {
        c.log_format = match v.to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(bad(n, format!("invalid format {v:?} (expected text or json)"))),
        };
    }
    if let Some((n, v)) = get("AUTHGATE_METRICS_ENABLED") {
        c.metrics_enabled = boolean(n, v)?;
    }
    if let Some((n, v)) = get("AUTHGATE_METRICS_BIND") {
        let addr: SocketAddr = v
            .parse()
            .map_err(|_| bad(n, format!("invalid address {v:?} (expected host:port, e.g. 127.0.0.1:9100)")))?;
        // Naming the main address is the explicit request to serve
        // metrics there (contract §10).
        c.metrics_bind =
            if addr == c.bind && addr.port() != 0 { MetricsBind::Main } else { MetricsBind::Separate(addr) };
    }
    Ok(())
}

/// The database, Redis and the revocation feed.
fn storage(vars: &HashMap<String, String>, c: &mut Config) -> Result<(), ConfigError> {
    let get = |name: &'static str| lookup(vars, name);
    if let Some((n, v)) = get("AUTHGATE_DATABASE_URL") {
        if crate::store::Backend::of_url(v).is_none() {
            return Err(bad(
                n,
                format!("unsupported database URL {v:?} (expected sqlite://PATH or postgres://USER@HOST/DB)"),
            ));
        }
        c.database_url = v.into();
    }
    if let Some((n, v)) = get("AUTHGATE_DATABASE_MAX_CONNECTIONS") {
        c.database_max_connections = v
            .parse()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad(n, format!("invalid connection count {v:?} (expected 1 to 1000)")))?;
    }
    if let Some((n, v)) = get("AUTHGATE_REDIS_URL") {
        redis::Client::open(v)
            .map_err(|e| bad(n, format!("invalid Redis URL (expected redis://[:password@]host[:port][/db]): {e}")))?;
        c.redis_url = Some(v.into());
    }
    if let Some((n, v)) = get("AUTHGATE_REDIS_FAIL_OPEN") {
        c.redis_fail_open = boolean(n, v)?;
    }
    if let Some((n, v)) = get("AUTHGATE_REVOCATION_POLL") {
        c.revocation_poll = positive(n, duration(n, v)?)?;
        if c.revocation_poll > Duration::from_secs(1) {
            return Err(bad(n, "must be at most 1s (revocations reach every instance within 1 s)".into()));
        }
    }
    for (var, field) in [
        ("AUTHGATE_REVOCATION_MAX_SESSIONS", &mut c.revocation_max_sessions),
        ("AUTHGATE_REVOCATION_MAX_USERS", &mut c.revocation_max_users),
    ] {
        if let Some((n, v)) = get(var) {
            *field = v
                .parse()
                .ok()
                .filter(|n| (1..=100_000_000).contains(n))
                .ok_or_else(|| bad(n, format!("invalid count {v:?} (expected 1 to 100000000)")))?;
        }
    }
    Ok(())
}

/// Signing, tokens, sessions and the original's tokens (§18).
fn tokens(vars: &HashMap<String, String>, c: &mut Config) -> Result<(), ConfigError> {
    let get = |name: &'static str| lookup(vars, name);
    if let Some((n, v)) = get("AUTHGATE_SECRET_KEY") {
        if v.len() < 32 {
            return Err(bad(n, "too short: use at least 32 characters".into()));
        }
        c.secret_key = Some(Secret(v.into()));
    }
    if let Some((n, v)) = get("AUTHGATE_ACCESS_TOKEN_TTL") {
        c.access_token_ttl = positive(n, duration(n, v)?)?;
    }
    if let Some((n, v)) = get("AUTHGATE_REFRESH_TOKEN_TTL") {
        c.refresh_token_ttl = positive(n, duration(n, v)?)?;
    }
    if let Some((n, v)) = get("AUTHGATE_REFRESH_REUSE_GRACE") {
        c.refresh_reuse_grace = duration(n, v)?;
    }
    if let Some((n, v)) = get("AUTHGATE_JWT_ALGORITHM") {
        c.jwt_algorithm = crate::crypto::signing::JwtAlgorithm::parse(v.trim())
            .ok_or_else(|| bad(n, format!("unknown algorithm {v:?} (expected HS256, EdDSA, ES256 or RS256)")))?;
    }
    if let Some((_, v)) = get("AUTHGATE_INTROSPECTION_TOKENS") {
        c.introspection_tokens =
            v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Secret(s.to_string())).collect();
    }
    if let Some((n, v)) = get("AUTHGATE_LEGACY_TOKENS_UNTIL") {
        let t = chrono::DateTime::parse_from_rfc3339(v.trim())
            .map_err(|e| bad(n, format!("not an RFC 3339 time {v:?}: {e}")))?;
        c.legacy_tokens_until = Some(t.with_timezone(&chrono::Utc));
    }
    if let Some((n, v)) = get("AUTHGATE_TIME_ZONE") {
        let name = v.trim();
        c.time_zone = crate::domain::WallClock::named(name)
            .map_err(|e| bad(n, format!("unknown time zone {v:?} (an IANA name such as Europe/Paris): {e}")))?;
    }
    if let Some((n, v)) = get("AUTHGATE_MAX_SESSIONS_PER_USER") {
        c.max_sessions_per_user = v
            .parse()
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| bad(n, format!("invalid count {v:?} (expected 0, no limit, to 100000)")))?;
    }
    if let Some((n, v)) = get("AUTHGATE_NEW_DEVICE_ALERTS") {
        c.new_device_alerts = boolean(n, v)?;
    }
    Ok(())
}

/// Passwords, sign-in rules, second factors and the throttle.
fn accounts(vars: &HashMap<String, String>, c: &mut Config) -> Result<(), ConfigError> {
    let get = |name: &'static str| lookup(vars, name);
    if let Some((n, v)) = get("AUTHGATE_PASSWORD_MIN_LENGTH") {
        c.password_min_length = v
            .parse()
            .ok()
            .filter(|n: &usize| (1..=4096).contains(n))
            .ok_or_else(|| bad(n, format!("invalid length {v:?} (expected 1 to 4096)")))?;
    }
    if let Some((n, v)) = get("AUTHGATE_PASSWORD_HASHER") {
        c.password_hasher = v.parse().map_err(|e| bad(n, e))?;
    }
    if let Some((n, v)) = get("AUTHGATE_REQUIRE_VERIFIED") {
        c.require_verified = boolean(n, v)?;
    }
    if let Some((n, v)) = get("AUTHGATE_LOGIN_FAILURES_BEFORE_DELAY") {
        c.login_failures_before_delay = v
            .parse()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| bad(n, format!("invalid count {v:?} (expected 0 to 1000)")))?;
    }
    if let Some((n, v)) = get("AUTHGATE_MFA_REQUIRED_ROLES") {
        c.mfa_required_roles = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| bad(n, format!("unknown role {s:?} (client, vendor, staff, admin)"))))
            .collect::<Result<_, _>>()?;
    }
    if let Some((n, v)) = get("AUTHGATE_THROTTLE_ENABLED") {
        c.throttle_enabled = boolean(n, v)?;
    }
    if let Some((n, v)) = get("AUTHGATE_THROTTLE_BURST") {
        c.throttle_burst = v.parse().map_err(|e| bad(n, e))?;
    }
    if let Some((n, v)) = get("AUTHGATE_THROTTLE_SUSTAINED") {
        c.throttle_sustained = v.parse().map_err(|e| bad(n, e))?;
    }
    Ok(())
}

/// Email, SMS and the links they carry.
fn delivery(vars: &HashMap<String, String>, c: &mut Config) -> Result<(), ConfigError> {
    let get = |name: &'static str| lookup(vars, name);
    if let Some((n, v)) = get("AUTHGATE_SMTP_URL") {
        if !(v.starts_with("smtp://") || v.starts_with("smtps://")) {
            return Err(bad(n, "expected smtp://host:port or smtps://user:pass@host:port".into()));
        }
        c.smtp_url = Some(Secret(v.into()));
    }
    if let Some((n, v)) = get("AUTHGATE_EMAIL_FROM") {
        if !v.contains('@') {
            return Err(bad(n, format!("invalid sender address {v:?}")));
        }
        c.email_from = v.into();
    }
    if let Some((n, v)) = get("AUTHGATE_SMS_WEBHOOK_URL") {
        if !(v.starts_with("http://") || v.starts_with("https://")) {
            return Err(bad(n, "expected an http:// or https:// URL".into()));
        }
        c.sms_webhook_url = Some(Secret(v.into()));
    }
    if let Some((n, v)) = get("AUTHGATE_RESET_URL") {
        if !(v.contains("{uid}") && v.contains("{token}")) {
            return Err(bad(n, "the URL must contain {uid} and {token}".into()));
        }
        c.reset_url = v.into();
    }
    if let Some((n, v)) = get("AUTHGATE_EXPOSE_OTP") {
        c.expose_otp = boolean(n, v)?;
    }
    Ok(())
}

/// `scheme://host[:port]` as browsers send it in `Origin`, without a path.
fn origin(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let ok = matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' '])
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    ok.then(|| s.to_ascii_lowercase())
}

/// The relying party: each variable, else derived from
/// `AUTHGATE_PUBLIC_URL` (its host, its origin), else from the port of
/// `AUTHGATE_BIND` on `localhost` (§10).
fn webauthn(vars: &HashMap<String, String>, c: &Config) -> Result<WebauthnConfig, ConfigError> {
    let get = |name: &'static str| lookup(vars, name);
    let public = match get("AUTHGATE_PUBLIC_URL") {
        Some((n, v)) => {
            let url = url::Url::parse(v).map_err(|_| bad(n, format!("invalid URL {v:?}")))?;
            let host = url.host_str().ok_or_else(|| bad(n, format!("{v:?} has no host")))?.to_owned();
            Some((host, url.origin().ascii_serialization()))
        }
        None => None,
    };
    let (default_id, default_origin) =
        public.unwrap_or_else(|| ("localhost".into(), format!("http://localhost:{}", c.bind.port())));
    let rp_id = get("AUTHGATE_WEBAUTHN_RP_ID").map_or(default_id, |(_, v)| v.to_ascii_lowercase());
    let origins = match get("AUTHGATE_WEBAUTHN_ORIGINS") {
        Some((n, v)) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                origin(s).ok_or_else(|| bad(n, format!("invalid origin {s:?} (expected e.g. https://example.com)")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![default_origin],
    };
    let rp_name = get("AUTHGATE_WEBAUTHN_RP_NAME").map_or_else(|| "authgate".into(), |(_, v)| v.to_owned());
    let config = WebauthnConfig { rp_id, origins, rp_name };
    crate::crypto::passkeys::check(&config.rp_id, &config.origins)
        .map_err(|why| bad("AUTHGATE_WEBAUTHN_ORIGINS", format!("{why} (AUTHGATE_WEBAUTHN_RP_ID={})", config.rp_id)))?;
    Ok(config)
}

/// A set, non-blank value with its variable's name.
fn lookup<'a>(vars: &'a HashMap<String, String>, name: &'static str) -> Option<(&'static str, &'a str)> {
    vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).map(|v| (name, v))
}

fn read_toml(path: &str) -> Result<HashMap<String, String>, ConfigError> {
    let var = "AUTHGATE_CONFIG";
    let text = std::fs::read_to_string(path).map_err(|e| bad(var, format!("cannot read {path}: {e}")))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(var, format!("{path}: {}", e.message())))?;
    table
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                toml::Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>().map(|v| v.join(",")),
                other => scalar(&other),
            };
            let value = value.ok_or_else(|| bad(var, format!("{path}: {key} must be a string, number or boolean")))?;
            Ok((format!("AUTHGATE_{}", key.to_ascii_uppercase()), value))
        })
        .collect()
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn bad(var: &str, reason: String) -> ConfigError {
    ConfigError { var: var.to_string(), reason }
}

fn duration(var: &str, v: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(v).map_err(|_| bad(var, format!("invalid duration {v:?} (expected e.g. 10s, 5m, 1d)")))
}

fn positive(var: &str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() { Err(bad(var, "must be greater than zero".into())) } else { Ok(d) }
}

fn boolean(var: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(var, format!("invalid boolean {v:?} (expected true or false)"))),
    }
}

/// A CIDR, or a bare address meaning just that host.
fn cidr(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.access_token_ttl, Duration::from_secs(300));
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(86400));
        assert_eq!(c.refresh_reuse_grace, Duration::from_secs(10));
        assert_eq!(c.throttle_burst, "10/min".parse().unwrap());
        assert_eq!(c.redis_url, None);
        assert!(c.redis_fail_open);
        assert!(c.metrics_enabled);
        assert_eq!(c.metrics_bind, MetricsBind::Separate("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(c.env, Env::Development);
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.body_timeout, Duration::from_secs(30));
        assert!(c.cors_origins.is_empty());
        assert!(!c.require_verified);
        assert_eq!(c.login_failures_before_delay, 5);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn observability_settings_parse() {
        let c = Config::from_vars(&vars(&[
            ("AUTHGATE_METRICS_ENABLED", "off"),
            ("AUTHGATE_METRICS_BIND", "0.0.0.0:9100"),
            ("AUTHGATE_SHUTDOWN_TIMEOUT", "1m 30s"),
        ]))
        .unwrap();
        assert!(!c.metrics_enabled);
        assert_eq!(c.metrics_bind, MetricsBind::Separate("0.0.0.0:9100".parse().unwrap()));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(90));
        let c = Config::from_vars(&vars(&[("AUTHGATE_SHUTDOWN_TIMEOUT", "0s")])).unwrap();
        assert_eq!(c.shutdown_timeout, Duration::ZERO, "0s: do not wait for requests in flight");
    }

    #[test]
    fn metrics_go_on_the_main_address_only_when_it_is_named() {
        let same = [("AUTHGATE_BIND", "127.0.0.1:8000"), ("AUTHGATE_METRICS_BIND", "127.0.0.1:8000")];
        assert_eq!(Config::from_vars(&vars(&same)).unwrap().metrics_bind, MetricsBind::Main);
        let c = Config::from_vars(&vars(&[("AUTHGATE_METRICS_BIND", "127.0.0.1:9100")])).unwrap();
        assert_eq!(c.metrics_bind, MetricsBind::Separate("127.0.0.1:9100".parse().unwrap()));
    }

    #[test]
    fn production_mode_refuses_the_development_conveniences() {
        let secret = ("AUTHGATE_SECRET_KEY", "0123456789abcdef0123456789abcdef");
        let prod = ("AUTHGATE_ENV", "production");
        assert_eq!(Config::from_vars(&vars(&[prod])).unwrap_err().var, "AUTHGATE_SECRET_KEY");
        let otp = ("AUTHGATE_EXPOSE_OTP", "true");
        assert_eq!(Config::from_vars(&vars(&[prod, secret, otp])).unwrap_err().var, "AUTHGATE_EXPOSE_OTP");
        let off = ("AUTHGATE_THROTTLE_ENABLED", "false");
        assert_eq!(Config::from_vars(&vars(&[prod, secret, off])).unwrap_err().var, "AUTHGATE_THROTTLE_ENABLED");
        let c = Config::from_vars(&vars(&[prod, secret])).unwrap();
        assert!(c.is_production());
        assert!(Config::from_vars(&vars(&[otp, off])).is_ok(), "development allows both");
    }

    #[test]
    fn edge_settings_parse() {
        let c = Config::from_vars(&vars(&[
            ("AUTHGATE_MAX_CONNECTIONS", "128"),
            ("AUTHGATE_HEADER_TIMEOUT", "2s"),
            ("AUTHGATE_IDLE_TIMEOUT", "1m"),
            ("AUTHGATE_BODY_TIMEOUT", "5s"),
            ("AUTHGATE_CORS_ORIGINS", "https://Shop.example, http://localhost:3000"),
            ("AUTHGATE_REQUIRE_VERIFIED", "true"),
            ("AUTHGATE_LOGIN_FAILURES_BEFORE_DELAY", "0"),
        ]))
        .unwrap();
        assert_eq!(c.max_connections, 128);
        assert_eq!(c.header_timeout, Duration::from_secs(2));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.body_timeout, Duration::from_secs(5));
        assert_eq!(c.cors_origins, ["https://shop.example", "http://localhost:3000"]);
        assert!(c.require_verified);
        assert_eq!(c.login_failures_before_delay, 0);
    }

    #[test]
    fn session_settings_parse() {
        let c = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!((c.max_sessions_per_user, c.new_device_alerts), (0, false));
        let c = Config::from_vars(&vars(&[
            ("AUTHGATE_MAX_SESSIONS_PER_USER", "3"),
            ("AUTHGATE_NEW_DEVICE_ALERTS", "true"),
        ]))
        .unwrap();
        assert_eq!((c.max_sessions_per_user, c.new_device_alerts), (3, true));
        let bad = Config::from_vars(&vars(&[("AUTHGATE_MAX_SESSIONS_PER_USER", "-1")])).unwrap_err();
        assert_eq!(bad.var, "AUTHGATE_MAX_SESSIONS_PER_USER");
    }

    #[test]
    fn redis_settings_parse() {
        let c = Config::from_vars(&vars(&[
            ("AUTHGATE_REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("AUTHGATE_REDIS_FAIL_OPEN", "false"),
        ]))
        .unwrap();
        assert_eq!(c.redis_url.as_deref(), Some("redis://127.0.0.1:6379/0"));
        assert!(!c.redis_fail_open);
    }

    #[test]
    fn signing_settings_parse() {
        use crate::crypto::signing::JwtAlgorithm;
        let c = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(c.jwt_algorithm, JwtAlgorithm::Hs256);
        assert!(c.introspection_tokens.is_empty());
        let c = Config::from_vars(&vars(&[
            ("AUTHGATE_JWT_ALGORITHM", "EdDSA"),
            ("AUTHGATE_INTROSPECTION_TOKENS", "one, two,,"),
        ]))
        .unwrap();
        assert_eq!(c.jwt_algorithm, JwtAlgorithm::EdDsa);
        let tokens: Vec<&str> = c.introspection_tokens.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(tokens, ["one", "two"]);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (k, v) in [
            ("AUTHGATE_BIND", "nope"),
            ("AUTHGATE_ACCESS_TOKEN_TTL", "5x"),
            ("AUTHGATE_THROTTLE_BURST", "ten/min"),
            ("AUTHGATE_PASSWORD_HASHER", "md5"),
            ("AUTHGATE_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("AUTHGATE_EXPOSE_OTP", "maybe"),
            ("AUTHGATE_SECRET_KEY", "short"),
            ("AUTHGATE_SMTP_URL", "mail.example.com"),
            ("AUTHGATE_EMAIL_FROM", "nobody"),
            ("AUTHGATE_SMS_WEBHOOK_URL", "ftp://x"),
            ("AUTHGATE_RESET_URL", "https://shop.example/reset"),
            ("AUTHGATE_REDIS_URL", "localhost:6379"),
            ("AUTHGATE_REDIS_FAIL_OPEN", "sometimes"),
            ("AUTHGATE_METRICS_ENABLED", "perhaps"),
            ("AUTHGATE_METRICS_BIND", "9100"),
            ("AUTHGATE_SHUTDOWN_TIMEOUT", "soon"),
            ("AUTHGATE_ENV", "staging"),
            ("AUTHGATE_MAX_CONNECTIONS", "0"),
            ("AUTHGATE_HEADER_TIMEOUT", "0s"),
            ("AUTHGATE_IDLE_TIMEOUT", "never"),
            ("AUTHGATE_BODY_TIMEOUT", "-1"),
            ("AUTHGATE_CORS_ORIGINS", "shop.example/path"),
            ("AUTHGATE_REQUIRE_VERIFIED", "perhaps"),
            ("AUTHGATE_LOGIN_FAILURES_BEFORE_DELAY", "-3"),
            ("AUTHGATE_JWT_ALGORITHM", "HS512"),
        ] {
            let err = Config::from_vars(&vars(&[(k, v)])).unwrap_err();
            assert!(err.to_string().starts_with(k), "{err}");
        }
    }

    #[test]
    fn social_providers_parse() {
        let c = Config::from_vars(&vars(&[
            ("AUTHGATE_OIDC_PROVIDERS", "google, GitHub,corp-sso"),
            ("AUTHGATE_OIDC_GOOGLE_CLIENT_ID", "g-id"),
            ("AUTHGATE_OIDC_GOOGLE_CLIENT_SECRET", "g-secret"),
            ("AUTHGATE_OIDC_GITHUB_CLIENT_ID", "gh-id"),
            ("AUTHGATE_OIDC_GITHUB_CLIENT_SECRET", "gh-secret"),
            ("AUTHGATE_OIDC_GITHUB_API_URL", "http://127.0.0.1:9000/github/"),
            ("AUTHGATE_OIDC_CORP_SSO_CLIENT_ID", "c-id"),
            ("AUTHGATE_OIDC_CORP_SSO_CLIENT_SECRET", "c-secret"),
            ("AUTHGATE_OIDC_CORP_SSO_ISSUER", "https://sso.corp.example/"),
            ("AUTHGATE_OIDC_CORP_SSO_SCOPES", "openid email"),
            ("AUTHGATE_SOCIAL_REDIRECT_URLS", "https://shop.example/done, http://localhost:3000/cb?x=1"),
            ("AUTHGATE_PUBLIC_URL", "https://auth.shop.example/"),
        ]))
        .unwrap();
        let s = &c.social;
        assert_eq!(s.public_url.as_deref(), Some("https://auth.shop.example"));
        assert_eq!(s.redirect_urls, ["https://shop.example/done", "http://localhost:3000/cb?x=1"]);
        let names: Vec<&str> = s.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["google", "github", "corp-sso"]);
        assert_eq!(s.providers[0].kind, ProviderKind::Oidc { issuer: "https://accounts.google.com".into() });
        assert_eq!(s.providers[0].scopes, ["openid", "email", "profile"]);
        assert_eq!(s.providers[1].scopes, ["read:user", "user:email"]);
        assert_eq!(
            s.providers[1].kind,
            ProviderKind::Github {
                authorize_url: "https://github.com/login/oauth/authorize".into(),
                token_url: "https://github.com/login/oauth/access_token".into(),
                api_url: "http://127.0.0.1:9000/github".into(),
            }
        );
        assert_eq!(s.providers[2].kind, ProviderKind::Oidc { issuer: "https://sso.corp.example/".into() });
        assert_eq!(s.providers[2].scopes, ["openid", "email"]);
        for (pairs, var) in [
            (vec![("AUTHGATE_OIDC_PROVIDERS", "exchange")], "AUTHGATE_OIDC_PROVIDERS"),
            (vec![("AUTHGATE_OIDC_PROVIDERS", "a/b")], "AUTHGATE_OIDC_PROVIDERS"),
            (vec![("AUTHGATE_OIDC_PROVIDERS", "corp")], "AUTHGATE_OIDC_CORP_CLIENT_ID"),
            (
                vec![
                    ("AUTHGATE_OIDC_PROVIDERS", "corp"),
                    ("AUTHGATE_OIDC_CORP_CLIENT_ID", "x"),
                    ("AUTHGATE_OIDC_CORP_CLIENT_SECRET", "y"),
                ],
                "AUTHGATE_OIDC_CORP_ISSUER",
            ),
            (vec![("AUTHGATE_PUBLIC_URL", "auth.example")], "AUTHGATE_PUBLIC_URL"),
        ] {
            assert_eq!(Config::from_vars(&vars(&pairs)).unwrap_err().var, var, "{pairs:?}");
        }
    }

    #[test]
    fn rates_and_proxies_parse() {
        let c = Config::from_vars(&vars(&[
            ("AUTHGATE_THROTTLE_SUSTAINED", "50/hour"),
            ("AUTHGATE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
        ]))
        .unwrap();
        assert_eq!(c.throttle_sustained, Rate { count: 50, period: Duration::from_secs(3600) });
        assert_eq!(c.trusted_proxies.len(), 2);
    }
}
