//! Proof that a request comes from a person (contract §20): when sign-in,
//! registration, a reset request or a resend must carry a solved ALTCHA
//! challenge or a CAPTCHA token, and checking the one it carries.
//!
//! `adaptive` asks for one only where failures point to guessing: for a
//! login id after 3 failures of §14.1's count, for a network after 3 failed
//! sign-ins from it in 15 minutes, and for everyone while the service sees
//! more failed sign-ins than `AUTHGATE_CHALLENGE_ATTACK_RATE`. A request
//! refused here was never checked, so it counts as no failure.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::login_defence;
use crate::config::ChallengeMode;
use crate::crypto::altcha::{self, Challenge};
use crate::defence::captcha::CaptchaVerdict;
use crate::domain::ClientInfo;
use crate::domain::network::network;
use crate::error::{Error, Result};
use crate::state::Services;

/// How long a challenge may be solved and sent.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Failures of a login id, or of a network, after which `adaptive` asks.
pub const FAILURES_BEFORE_CHALLENGE: u32 = 3;
/// The window of a network's failures.
pub const NETWORK_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The window the attack rate is counted over.
pub const ATTACK_WINDOW: Duration = Duration::from_secs(60);

const REQUIRED: &str = "A solved challenge is required (GET /auth/challenge/).";
const INVALID: &str = "Invalid, expired or already used challenge.";
const CAPTCHA_REFUSED: &str = "The CAPTCHA was not accepted.";
const CAPTCHA_UNAVAILABLE: &str = "The CAPTCHA cannot be checked right now. Try again later.";

/// What a request carries to prove itself: `altcha` (base64 JSON) and
/// `captcha_token`, as sent.
#[derive(Debug, Clone, Default)]
pub struct Proof {
    pub altcha: Option<String>,
    pub captcha_token: Option<String>,
}

/// A new challenge for the widget.
pub fn challenge(svc: &Services) -> Challenge {
    let expires = svc.clock.unix() + CHALLENGE_LIFETIME.as_secs() as i64;
    altcha::create(&key(svc), svc.config.defence.challenge_maxnumber, expires)
}

/// Lets a request naming `login_ids` (raw, as typed) through, or refuses
/// it with a 400 on `altcha` or `captcha_token` (503 when the CAPTCHA
/// provider cannot answer and the config says fail closed).
pub async fn guard(svc: &Services, proof: &Proof, login_ids: &[&str], client: &ClientInfo) -> Result<()> {
    if required(svc, login_ids, client).await? { answered(svc, proof, client).await } else { Ok(()) }
}

/// Counts a failed sign-in (wrong credentials) for the adaptive rules:
/// its network's and the whole service's. Nothing to count otherwise.
pub async fn failed_sign_in(svc: &Services, client: &ClientInfo) -> Result<()> {
    if svc.config.defence.challenge != ChallengeMode::Adaptive {
        return Ok(());
    }
    let now = svc.clock.now();
    if let Some(ip) = client.ip {
        svc.defence.events.note(&network_key(ip), now, NETWORK_WINDOW).await?;
    }
    svc.defence.events.note(ATTACK_KEY, now, ATTACK_WINDOW).await
}

const ATTACK_KEY: &str = "fail:all";

fn network_key(ip: std::net::IpAddr) -> String {
    format!("fail:net:{}", network(ip))
}

async fn required(svc: &Services, login_ids: &[&str], client: &ClientInfo) -> Result<bool> {
    match svc.config.defence.challenge {
        ChallengeMode::Off => Ok(false),
        ChallengeMode::Always => Ok(true),
        ChallengeMode::Adaptive => adaptive(svc, login_ids, client, svc.clock.now()).await,
    }
}

/// The three rules of `adaptive`, cheapest first.
async fn adaptive(svc: &Services, login_ids: &[&str], client: &ClientInfo, now: DateTime<Utc>) -> Result<bool> {
    let events = &svc.defence.events;
    if let Some(ip) = client.ip {
        let since = now - NETWORK_WINDOW;
        if events.count(&network_key(ip), since, FAILURES_BEFORE_CHALLENGE).await? >= FAILURES_BEFORE_CHALLENGE {
            return Ok(true);
        }
    }
    for id in login_ids.iter().filter(|id| !id.trim().is_empty()) {
        if login_defence::failures(svc, id).await? >= FAILURES_BEFORE_CHALLENGE {
            return Ok(true);
        }
    }
    let limit = attack_limit(svc);
    Ok(events.count(ATTACK_KEY, now - ATTACK_WINDOW, limit + 1).await? > limit)
}

/// `AUTHGATE_CHALLENGE_ATTACK_RATE` as failures per [`ATTACK_WINDOW`].
fn attack_limit(svc: &Services) -> u32 {
    let rate = svc.config.defence.challenge_attack_rate;
    let per_window = u128::from(rate.count) * ATTACK_WINDOW.as_millis() / rate.period.as_millis().max(1);
    u32::try_from(per_window).unwrap_or(u32::MAX)
}

/// A challenge is required: a CAPTCHA token answers it when a provider is
/// set, else a solved challenge, spent once.
async fn answered(svc: &Services, proof: &Proof, client: &ClientInfo) -> Result<()> {
    let token = proof.captcha_token.as_deref().filter(|t| !t.trim().is_empty());
    if let (Some(captcha), Some(token)) = (&svc.defence.captcha, token) {
        return match captcha.verify(token.trim(), client.ip).await {
            CaptchaVerdict::Passed => Ok(()),
            CaptchaVerdict::Refused => Err(Error::field("captcha_token", CAPTCHA_REFUSED)),
            CaptchaVerdict::Unanswered if captcha.fail_open() => Ok(()),
            CaptchaVerdict::Unanswered => Err(Error::Unavailable(CAPTCHA_UNAVAILABLE)),
        };
    }
    let Some(payload) = proof.altcha.as_deref().filter(|p| !p.trim().is_empty()) else {
        return Err(Error::field("altcha", REQUIRED));
    };
    let solved = altcha::verify(&key(svc), payload, svc.clock.unix()).map_err(|_| Error::field("altcha", INVALID))?;
    let until = DateTime::from_timestamp(solved.expires, 0).unwrap_or_else(|| svc.clock.now());
    if !svc.defence.events.spend_once(&solved.signature, until, svc.clock.now()).await? {
        return Err(Error::field("altcha", INVALID));
    }
    Ok(())
}

/// The challenges' HMAC key, kept apart from every other use of the secret.
fn key(svc: &Services) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(svc.secret.0.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"authgate.altcha.v1");
    mac.finalize().into_bytes().into()
}
