//! §20: captcha (tests to come).
