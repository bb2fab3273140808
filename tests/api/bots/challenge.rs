//! §20: challenge (tests to come).
