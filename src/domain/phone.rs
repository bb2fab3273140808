use std::fmt;

/// A phone number valid per libphonenumber metadata, held in E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

const INVALID: &str = "Enter a valid phone number in international format, e.g. +14155552671.";

impl Phone {
    pub fn parse(raw: &str) -> Result<Phone, &'static str> {
        let s = raw.trim();
        // Formatting characters are fine; letters (vanity numbers) and
        // anything odd are not, and neither is a number without its country.
        if s.len() > 32 || !s.starts_with('+') || !s[1..].chars().all(|c| c.is_ascii_digit() || " -().".contains(c)) {
            return Err(INVALID);
        }
        let number = phonenumber::parse(None, s).map_err(|_| INVALID)?;
        if !phonenumber::is_valid(&number) {
            return Err(INVALID);
        }
        Ok(Phone(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ISO 3166 code of the number's region (`US`, `CA`, `DE`), per
    /// libphonenumber's metadata; `None` for non-geographic numbers.
    pub fn region(&self) -> Option<String> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        number.country().id().map(|id| id.as_ref().to_owned())
    }

    /// The first 6 digits of the number (without `+`): the prefix SMS
    /// pumping velocity is counted by (§20).
    pub fn prefix(&self) -> &str {
        let digits = self.0.trim_start_matches('+');
        &digits[..digits.len().min(6)]
    }

    pub fn from_trusted(stored: String) -> Phone {
        Phone(stored)
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_is_libphonenumber_s_and_the_prefix_six_digits() {
        let region = |s: &str| Phone::parse(s).unwrap().region();
        assert_eq!(region("+14155552671").as_deref(), Some("US"));
        assert_eq!(region("+16135550123").as_deref(), Some("CA"), "+1 is shared: the region follows the number");
        assert_eq!(region("+447400123456").as_deref(), Some("GB"));
        assert_eq!(region("+447911123456").as_deref(), Some("GG"), "+44 7911 is Guernsey's");
        assert_eq!(Phone::parse("+447911123456").unwrap().prefix(), "447911");
    }

    #[test]
    fn normalizes_to_e164() {
        for (input, want) in [
            ("+14155552671", "+14155552671"),
            ("+1 (415) 555-2671", "+14155552671"),
            (" +44 7911 123456 ", "+447911123456"),
            ("+44-7911-123-456", "+447911123456"),
        ] {
            assert_eq!(Phone::parse(input).unwrap().as_str(), want);
        }
    }

    /// Found by fuzzing (fuzz/fuzz_targets/email_phone.rs): libphonenumber's
    /// metadata has German numbers of up to 15 national digits, 17 in all,
    /// past E.164's 15. The contract follows libphonenumber (§3): accepted,
    /// in E.164's form.
    #[test]
    fn a_long_german_number_valid_per_libphonenumber_is_accepted() {
        assert_eq!(Phone::parse("+49911 7915 2415 2456").unwrap().as_str(), "+49911791524152456");
    }

    #[test]
    fn rejects_invalid_numbers() {
        for bad in ["", "4155552671", "+1415", "+999123456789", "+1415555267a", "+1 800 FLOWERS", "++14155552671"] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
