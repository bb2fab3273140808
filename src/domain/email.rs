use std::fmt;

/// An email address: trimmed, domain lower-cased, shaped like Django's
/// `EmailValidator` accepts. `key()` is the case-insensitive identity used for
/// uniqueness and look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const INVALID: &str = "Enter a valid email address.";

impl Email {
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 254 {
            return Err(INVALID);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(INVALID)?;
        if !valid_local(local) || !valid_domain(domain) {
            return Err(INVALID);
        }
        Ok(Email(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The whole address lower-cased: uniqueness is case-insensitive.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// Rebuilds an address that was valid when it was stored.
    pub fn from_trusted(stored: String) -> Email {
        Email(stored)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_local(local: &str) -> bool {
    const SPECIAL: &str = "!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || SPECIAL.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let tld = labels.last().copied().unwrap_or("");
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && tld.chars().any(|c| !c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases_the_domain_only() {
        let e = Email::parse("  Ana.Smith@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ana.Smith@example.com");
        assert_eq!(e.key(), "ana.smith@example.com");
    }

    #[test]
    fn rejects_what_django_rejects() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a..b@example.com",
            ".a@example.com",
            "a@-example.com",
            "a@example.123",
            "a@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn accepts_common_shapes() {
        for ok in ["a@example.com", "first.last+tag@sub.example.co.uk", "o'brien@example.ie", "x@xn--bcher-kva.example"]
        {
            assert!(Email::parse(ok).is_ok(), "{ok:?} refused");
        }
    }
}
