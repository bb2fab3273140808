//! Six-digit codes and the quotas of account recovery (contract §5, §8;
//! security finding 8), as rules: which codes a guess is judged against,
//! and how many codes, guesses and reset emails an account and a network
//! may have in a window. The store applies them under its write lock.
//!
//! A code belongs to the network that asked for it (IPv4 /24, IPv6 /64):
//! each network holds at most one live code per user and purpose, and a new
//! code replaces only that network's, so a stranger asking for codes cannot
//! void the one the owner asked for.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Wrong guesses from a code's own network after which it is void; guesses
/// from other networks never void it (they are bounded by `GUESSES`).
pub const MAX_ATTEMPTS: i64 = 5;

/// At most `per_network` from one network and `per_account` in all, within
/// any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_account: i64,
    pub per_network: i64,
    pub window: Duration,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Codes sent per user and purpose: an attacker's network gets 3 of the
/// day's 10, so the owner keeps at least 7 (3 from any one network).
pub const CODES: Quota = Quota { per_account: 10, per_network: 3, window: DAY };
/// Guesses judged per user and purpose: at most 50 a day whatever the
/// networks, so a 6-digit code falls to brute force with a chance of about
/// 1 in 10,000 a day (each guess is judged against at most two codes);
/// one network gets 10 of them.
pub const GUESSES: Quota = Quota { per_account: 50, per_network: 10, window: DAY };
/// Reset emails per user: every link in them works, so the cap is about
/// flooding a mailbox, not about locking the owner out.
pub const RESET_EMAILS: Quota = Quota { per_account: 3, per_network: 2, window: Duration::from_secs(3600) };

/// Events older than the longest window are of no use.
pub const KEEP: Duration = DAY;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpPurpose {
    Verify,
    Reset,
}

impl OtpPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            OtpPurpose::Verify => "verify",
            OtpPurpose::Reset => "reset",
        }
    }

    /// The kind of a recovery event counting a code sent.
    pub fn code_sent(self) -> &'static str {
        match self {
            OtpPurpose::Verify => "verify_code",
            OtpPurpose::Reset => "reset_code",
        }
    }

    /// The kind of a recovery event counting a guess.
    pub fn guess(self) -> &'static str {
        match self {
            OtpPurpose::Verify => "verify_guess",
            OtpPurpose::Reset => "reset_guess",
        }
    }
}

/// Which quota refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// The requesting network's share.
    Network,
    /// The account's total.
    Account,
}

impl Spent {
    pub fn as_str(self) -> &'static str {
        match self {
            Spent::Network => "network",
            Spent::Account => "account",
        }
    }
}

/// A code about to be stored for the network that asked for it.
#[derive(Debug, Clone, Copy)]
pub struct NewCode<'a> {
    pub purpose: OtpPurpose,
    /// The requester's network (`domain::network`), or "" when unknown.
    pub network: &'a str,
    pub code_hash: &'a str,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// A live code a guess may be judged against, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpCheck {
    pub code_hash: String,
}

/// What a guess may be judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The guess is counted; these codes may match (none: no live code).
    Judge(Vec<OtpCheck>),
    /// A guess quota is spent: nothing is judged.
    Refused(Spent),
}

/// The kind of a recovery event counting a reset email.
pub const RESET_EMAIL: &str = "reset_email";

/// A live code as `take_otp_attempt` reads it, newest first.
#[derive(Debug, Clone)]
pub struct LiveCode {
    pub code_hash: String,
    pub network: String,
    /// Guesses from its own network, this one included if it is the
    /// guesser's.
    pub attempts: i64,
}

/// The codes a guess from `network` is judged against, from the live codes
/// newest first: its own network's, while that has attempts left, and the
/// newest of all, unless its own network has voided it.
pub fn judged_against(live: Vec<LiveCode>, network: &str) -> Vec<OtpCheck> {
    live.into_iter()
        .enumerate()
        .filter(|(i, c)| {
            let own = c.network == network;
            (own && c.attempts <= MAX_ATTEMPTS) || (!own && *i == 0 && c.attempts < MAX_ATTEMPTS)
        })
        .map(|(_, c)| OtpCheck { code_hash: c.code_hash })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(hash: &str, network: &str, attempts: i64) -> LiveCode {
        LiveCode { code_hash: hash.into(), network: network.into(), attempts }
    }

    fn hashes(checks: Vec<OtpCheck>) -> Vec<String> {
        checks.into_iter().map(|c| c.code_hash).collect()
    }

    const MINE: &str = "203.0.113.0/24";
    const THEIRS: &str = "198.51.100.0/24";

    #[test]
    fn a_guess_is_judged_against_its_own_networks_code_and_the_newest() {
        let live = vec![code("newest", THEIRS, 0), code("mine", MINE, 1), code("older", "192.0.2.0/24", 0)];
        assert_eq!(hashes(judged_against(live, MINE)), ["newest", "mine"]);
    }

    #[test]
    fn the_own_code_counts_this_guess_and_is_void_after_five() {
        assert_eq!(hashes(judged_against(vec![code("mine", MINE, 5)], MINE)), ["mine"], "the fifth guess");
        assert!(judged_against(vec![code("mine", MINE, 6)], MINE).is_empty(), "a sixth guess");
    }

    #[test]
    fn another_networks_code_is_judged_only_while_it_is_the_newest_and_not_void() {
        assert_eq!(hashes(judged_against(vec![code("theirs", THEIRS, 4)], MINE)), ["theirs"]);
        assert!(judged_against(vec![code("theirs", THEIRS, 5)], MINE).is_empty(), "void by its own network");
        let older = vec![code("newest", "192.0.2.0/24", 5), code("theirs", THEIRS, 0)];
        assert!(judged_against(older, MINE).is_empty(), "neither mine nor the newest usable");
    }

    #[test]
    fn no_live_code_judges_nothing() {
        assert!(judged_against(Vec::new(), MINE).is_empty());
    }
}
