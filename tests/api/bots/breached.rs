//! §20: breached (tests to come).
