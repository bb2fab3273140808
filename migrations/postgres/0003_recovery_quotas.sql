-- Recovery quotas per requesting network as well as per account (security
-- finding 8). A code belongs to the network that asked for it (IPv4 /24,
-- IPv6 /64; '' when unknown): one live code per user, purpose and network,
-- so a stranger asking for codes replaces only their own network's. The
-- window counters move to recovery_events: one row per code sent, guess
-- judged or reset email sent, so windows slide and the counts sum per
-- account or per network. Codes stored before this migration keep working
-- as the code of network ''.
ALTER TABLE otp_codes ADD COLUMN network TEXT NOT NULL DEFAULT '';
ALTER TABLE otp_codes ALTER COLUMN network DROP DEFAULT;
ALTER TABLE otp_codes DROP CONSTRAINT otp_codes_pkey;
ALTER TABLE otp_codes ADD PRIMARY KEY (user_id, purpose, network);
ALTER TABLE otp_codes DROP COLUMN failures, DROP COLUMN issued, DROP COLUMN window_start;

-- kind: verify_code, reset_code (codes sent), verify_guess, reset_guess
-- (guesses judged), reset_email (reset links sent). Rows older than a day
-- are deleted as the user's next event is recorded.
CREATE TABLE recovery_events (
    user_id TEXT NOT NULL REFERENCES users (id),
    kind    TEXT NOT NULL,
    network TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX recovery_events_by_user ON recovery_events (user_id, kind, at);
