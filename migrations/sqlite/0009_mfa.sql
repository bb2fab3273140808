-- Second factors (contract §15). One TOTP enrolment per user: pending until
-- its first code confirms it; a new setup replaces a pending one.
CREATE TABLE mfa_totp (
    user_id      TEXT PRIMARY KEY REFERENCES users (id),
    secret       TEXT NOT NULL,           -- base32
    confirmed_at INTEGER,                 -- NULL while pending
    last_step    INTEGER NOT NULL DEFAULT -1,  -- last step accepted (replays)
    created_at   INTEGER NOT NULL
);

-- Recovery codes: only an HMAC of each, keyed by the server secret.
CREATE TABLE mfa_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- A sign-in waiting for its second factor, by its mfa_token's jti: wrong
-- answers counted and its one success recorded, whichever instance answers.
CREATE TABLE mfa_challenges (
    jti        TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    failures   INTEGER NOT NULL DEFAULT 0,
    used_at    INTEGER,
    expires_at INTEGER NOT NULL           -- unix seconds, as in the token
);
CREATE INDEX mfa_challenges_expiry ON mfa_challenges (expires_at);
