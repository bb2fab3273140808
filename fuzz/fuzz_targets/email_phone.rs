//! Email and phone parsing (`Email::parse`, `Phone::parse`,
//! `LoginId::parse`): any text is refused or parsed, never a panic, and
//! what parses is in its canonical form (parsing it again gives it back).
#![no_main]

use authgate::domain::{Email, LoginId, Phone};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(email) = Email::parse(raw) {
        assert!(email.as_str().len() <= 254, "{raw:?} parsed to an address over 254 bytes");
        assert_eq!(Email::parse(email.as_str()).as_ref(), Ok(&email), "{raw:?}: not canonical");
        assert_eq!(email.key(), email.as_str().to_lowercase());
    }
    if let Ok(phone) = Phone::parse(raw) {
        let e164 = phone.as_str();
        assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()), "{raw:?} -> {e164:?}");
        // libphonenumber's bound (a 3-digit country code, 17 national
        // digits), which is past E.164's 15 digits for some German numbers:
        // src/domain/phone.rs::a_long_german_number_valid_per_libphonenumber_is_accepted.
        assert!(e164.len() <= 21, "{raw:?} -> {e164:?}: longer than libphonenumber allows");
        assert_eq!(Phone::parse(e164).as_ref(), Ok(&phone), "{raw:?}: not canonical");
    }
    match LoginId::parse(raw) {
        Ok(LoginId::Email(e)) => assert_eq!(Email::parse(raw), Ok(e)),
        Ok(LoginId::Phone(p)) => assert_eq!(Phone::parse(raw), Ok(p)),
        Err(_) => {}
    }
});
