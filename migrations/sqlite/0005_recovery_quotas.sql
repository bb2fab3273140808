-- Recovery quotas per requesting network as well as per account (security
-- finding 8). A code belongs to the network that asked for it (IPv4 /24,
-- IPv6 /64; '' when unknown): one live code per user, purpose and network,
-- so a stranger asking for codes replaces only their own network's. The
-- window counters of 0002 move to recovery_events: one row per code sent,
-- guess judged or reset email sent, so windows slide and the counts sum per
-- account or per network. Codes stored before this migration keep working
-- as the code of network ''.
CREATE TABLE otp_codes_by_network (
    user_id    TEXT NOT NULL REFERENCES users (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    network    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,           -- HMAC-SHA256, never the code
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,  -- guesses from its own network
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, purpose, network)
);
INSERT INTO otp_codes_by_network (user_id, purpose, network, code_hash, expires_at, attempts, created_at)
    SELECT user_id, purpose, '', code_hash, expires_at, attempts, created_at FROM otp_codes;
DROP TABLE otp_codes;
ALTER TABLE otp_codes_by_network RENAME TO otp_codes;

-- kind: verify_code, reset_code (codes sent), verify_guess, reset_guess
-- (guesses judged), reset_email (reset links sent). Rows older than a day
-- are deleted as the user's next event is recorded.
CREATE TABLE recovery_events (
    user_id TEXT NOT NULL REFERENCES users (id),
    kind    TEXT NOT NULL,
    network TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX recovery_events_by_user ON recovery_events (user_id, kind, at);
