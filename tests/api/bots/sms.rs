//! §20: sms (tests to come).
