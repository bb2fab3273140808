//! §20: blocklist (tests to come).
