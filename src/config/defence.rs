//! The settings of bot and abuse defence (contract §20).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, Rate, Secret, bad, boolean, lookup};

/// When sign-in, registration, reset and resend need a solved challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChallengeMode {
    /// Never: clients of the original solve none.
    #[default]
    Off,
    Always,
    /// Where failures point to guessing (§20's three rules).
    Adaptive,
}

/// A CAPTCHA service whose tokens answer a challenge (§20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptchaProvider {
    Turnstile,
    Hcaptcha,
    Recaptcha,
}

impl CaptchaProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptchaProvider::Turnstile => "turnstile",
            CaptchaProvider::Hcaptcha => "hcaptcha",
            CaptchaProvider::Recaptcha => "recaptcha",
        }
    }

    /// The provider's own siteverify endpoint.
    pub fn default_verify_url(self) -> &'static str {
        match self {
            CaptchaProvider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
            CaptchaProvider::Hcaptcha => "https://api.hcaptcha.com/siteverify",
            CaptchaProvider::Recaptcha => "https://www.google.com/recaptcha/api/siteverify",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CaptchaConfig {
    pub provider: CaptchaProvider,
    pub secret: Secret,
    pub verify_url: String,
    /// With the provider unreachable: accept (true) or answer 503 (false).
    pub fail_open: bool,
}

/// Where breached passwords are looked up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BreachedPasswords {
    #[default]
    Off,
    /// The k-anonymity range API at `hibp_url`.
    Hibp,
    /// A Pwned Passwords file (SHA-1, ordered by hash).
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct DefenceConfig {
    pub challenge: ChallengeMode,
    /// The largest number a challenge may hide (its cost to a client).
    pub challenge_maxnumber: u64,
    /// Failed sign-ins over 60 s, all instances together, past which every
    /// client gets a challenge (`adaptive`).
    pub challenge_attack_rate: Rate,
    pub captcha: Option<CaptchaConfig>,
    /// FireHOL netset files; a listed client is refused where no Bearer
    /// token is needed.
    pub ip_blocklists: Vec<PathBuf>,
    /// ISO 3166 codes (upper case) texts may go to; empty: all.
    pub sms_allowed_countries: Vec<String>,
    pub sms_per_number_limit: Rate,
    /// Texts per number prefix (its first 6 digits); `None`: no limit.
    pub sms_prefix_limit: Option<Rate>,
    pub breached_passwords: BreachedPasswords,
    /// The range API; the 5-character prefix is appended.
    pub hibp_url: String,
}

impl Default for DefenceConfig {
    fn default() -> Self {
        DefenceConfig {
            challenge: ChallengeMode::Off,
            challenge_maxnumber: 100_000,
            challenge_attack_rate: Rate { count: 50, period: Duration::from_secs(60) },
            captcha: None,
            ip_blocklists: Vec::new(),
            sms_allowed_countries: Vec::new(),
            sms_per_number_limit: Rate { count: 5, period: Duration::from_secs(3600) },
            sms_prefix_limit: None,
            breached_passwords: BreachedPasswords::Off,
            hibp_url: "https://api.pwnedpasswords.com/range/".into(),
        }
    }
}

/// Reads every `AUTHGATE_` variable of §20.
pub(super) fn defence(vars: &HashMap<String, String>) -> Result<DefenceConfig, ConfigError> {
    let mut d = DefenceConfig::default();
    let get = |name: &'static str| lookup(vars, name);
    if let Some((n, v)) = get("AUTHGATE_CHALLENGE") {
        d.challenge = match v.to_ascii_lowercase().as_str() {
            "off" => ChallengeMode::Off,
            "always" => ChallengeMode::Always,
            "adaptive" => ChallengeMode::Adaptive,
            _ => return Err(bad(n, format!("invalid mode {v:?} (expected off, always or adaptive)"))),
        };
    }
    if let Some((n, v)) = get("AUTHGATE_CHALLENGE_MAXNUMBER") {
        d.challenge_maxnumber = v
            .parse()
            .ok()
            .filter(|n| (1_000..=100_000_000).contains(n))
            .ok_or_else(|| bad(n, format!("invalid number {v:?} (expected 1000 to 100000000)")))?;
    }
    if let Some((n, v)) = get("AUTHGATE_CHALLENGE_ATTACK_RATE") {
        d.challenge_attack_rate = v.parse().map_err(|e| bad(n, e))?;
    }
    d.captcha = captcha(vars)?;
    if let Some((n, v)) = get("AUTHGATE_IP_BLOCKLISTS") {
        for path in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !std::path::Path::new(path).is_file() {
                return Err(bad(n, format!("{path:?} is not a readable file")));
            }
            d.ip_blocklists.push(PathBuf::from(path));
        }
    }
    if let Some((n, v)) = get("AUTHGATE_SMS_ALLOWED_COUNTRIES") {
        for code in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let code = code.to_ascii_uppercase();
            if code.parse::<phonenumber::country::Id>().is_err() {
                return Err(bad(n, format!("unknown country code {code:?} (ISO 3166 alpha-2, e.g. US, DE)")));
            }
            d.sms_allowed_countries.push(code);
        }
    }
    if let Some((n, v)) = get("AUTHGATE_SMS_PER_NUMBER_LIMIT") {
        d.sms_per_number_limit = v.parse().map_err(|e| bad(n, e))?;
    }
    if let Some((n, v)) = get("AUTHGATE_SMS_PREFIX_LIMIT") {
        d.sms_prefix_limit = Some(v.parse().map_err(|e| bad(n, e))?);
    }
    if let Some((n, v)) = get("AUTHGATE_HIBP_URL") {
        if !url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(bad(n, format!("invalid URL {v:?}")));
        }
        d.hibp_url = v.to_owned();
    }
    if let Some((n, v)) = get("AUTHGATE_BREACHED_PASSWORDS") {
        d.breached_passwords = match v {
            "off" => BreachedPasswords::Off,
            "hibp" => BreachedPasswords::Hibp,
            _ => match v.strip_prefix("file:") {
                Some(path) if std::path::Path::new(path).is_file() => BreachedPasswords::File(PathBuf::from(path)),
                Some(path) => return Err(bad(n, format!("{path:?} is not a readable file"))),
                None => return Err(bad(n, format!("invalid value {v:?} (expected off, hibp or file:PATH)"))),
            },
        };
    }
    Ok(d)
}

fn captcha(vars: &HashMap<String, String>) -> Result<Option<CaptchaConfig>, ConfigError> {
    let get = |name: &'static str| lookup(vars, name);
    let Some((n, v)) = get("AUTHGATE_CAPTCHA_PROVIDER") else {
        if let Some((n, _)) = get("AUTHGATE_CAPTCHA_SECRET") {
            return Err(bad(n, "is set but AUTHGATE_CAPTCHA_PROVIDER is not".into()));
        }
        return Ok(None);
    };
    let provider = match v.to_ascii_lowercase().as_str() {
        "turnstile" => CaptchaProvider::Turnstile,
        "hcaptcha" => CaptchaProvider::Hcaptcha,
        "recaptcha" => CaptchaProvider::Recaptcha,
        _ => return Err(bad(n, format!("unknown provider {v:?} (expected turnstile, hcaptcha or recaptcha)"))),
    };
    let secret = match get("AUTHGATE_CAPTCHA_SECRET") {
        Some((_, s)) => Secret(s.to_owned()),
        None => return Err(bad("AUTHGATE_CAPTCHA_SECRET", format!("must be set with the provider {v:?}"))),
    };
    let verify_url = match get("AUTHGATE_CAPTCHA_VERIFY_URL") {
        Some((_, u)) if url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) => u.to_owned(),
        Some((n, u)) => return Err(bad(n, format!("invalid URL {u:?}"))),
        None => provider.default_verify_url().to_owned(),
    };
    let fail_open = match get("AUTHGATE_CAPTCHA_FAIL_OPEN") {
        Some((n, b)) => boolean(n, b)?,
        None => false,
    };
    Ok(Some(CaptchaConfig { provider, secret, verify_url, fail_open }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_defaults_follow_the_contract() {
        let d = defence(&HashMap::new()).unwrap();
        assert_eq!(d.challenge, ChallengeMode::Off);
        assert_eq!(d.challenge_maxnumber, 100_000);
        assert_eq!(d.challenge_attack_rate, Rate { count: 50, period: Duration::from_secs(60) });
        assert!(d.captcha.is_none() && d.ip_blocklists.is_empty() && d.sms_allowed_countries.is_empty());
        assert_eq!(d.sms_per_number_limit, Rate { count: 5, period: Duration::from_secs(3600) });
        assert_eq!((d.sms_prefix_limit, d.breached_passwords), (None, BreachedPasswords::Off));
    }

    #[test]
    fn each_setting_parses_and_a_bad_one_names_its_variable() {
        let d = defence(&vars(&[
            ("AUTHGATE_CHALLENGE", "adaptive"),
            ("AUTHGATE_CAPTCHA_PROVIDER", "hcaptcha"),
            ("AUTHGATE_CAPTCHA_SECRET", "s"),
            ("AUTHGATE_SMS_ALLOWED_COUNTRIES", "us, de"),
            ("AUTHGATE_SMS_PREFIX_LIMIT", "20/hour"),
            ("AUTHGATE_BREACHED_PASSWORDS", "hibp"),
        ]))
        .unwrap();
        assert_eq!(d.challenge, ChallengeMode::Adaptive);
        let captcha = d.captcha.unwrap();
        assert_eq!((captcha.verify_url.as_str(), captcha.fail_open), ("https://api.hcaptcha.com/siteverify", false));
        assert_eq!(d.sms_allowed_countries, ["US", "DE"]);
        assert_eq!(d.sms_prefix_limit, Some(Rate { count: 20, period: Duration::from_secs(3600) }));
        assert_eq!(d.breached_passwords, BreachedPasswords::Hibp);
        for (var, value) in [
            ("AUTHGATE_CHALLENGE", "sometimes"),
            ("AUTHGATE_CHALLENGE_MAXNUMBER", "10"),
            ("AUTHGATE_CAPTCHA_PROVIDER", "turnstile"),
            ("AUTHGATE_SMS_ALLOWED_COUNTRIES", "XX"),
            ("AUTHGATE_BREACHED_PASSWORDS", "file:/nonexistent/pwned.txt"),
            ("AUTHGATE_IP_BLOCKLISTS", "/nonexistent/firehol_level1.netset"),
        ] {
            let e = defence(&vars(&[(var, value)])).unwrap_err();
            let expected = if value == "turnstile" { "AUTHGATE_CAPTCHA_SECRET" } else { var };
            assert_eq!(e.var, expected, "{var}={value}");
        }
    }
}
