-- authgate schema (SQLite). Times are INTEGER microseconds since the Unix
-- epoch (UTC), so they sort and compare as numbers; ids are UUID text.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT,
    -- The whole address lower-cased: uniqueness and look-up ignore case.
    email_key     TEXT,
    phone         TEXT,                 -- E.164
    password      TEXT NOT NULL,        -- Django's encoded hash
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('client', 'vendor', 'staff', 'admin')),
    auth_provider TEXT NOT NULL CHECK (auth_provider IN ('email', 'phone', 'google')),
    is_active     INTEGER NOT NULL DEFAULT 1,
    is_verified   INTEGER NOT NULL DEFAULT 0,
    last_login    INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER,              -- soft delete: the row stays
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);

-- Uniqueness holds among accounts that are not deleted, so a deleted
-- account's address can be taken again (and restore then conflicts).
CREATE UNIQUE INDEX users_email_live ON users (email_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_phone_live ON users (phone) WHERE deleted_at IS NULL;
CREATE INDEX users_newest ON users (created_at DESC, id DESC);

-- One row per sign-in (device). Only the current refresh token's jti is
-- kept, with the one it replaced, to serve the reuse grace and to detect
-- reuse; the token itself is never stored.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    refresh_jti    TEXT NOT NULL,
    refresh_iat    INTEGER NOT NULL,    -- unix seconds, as in the token
    refresh_exp    INTEGER NOT NULL,    -- unix seconds, as in the token
    previous_jti   TEXT,
    rotated_at     INTEGER,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    ip             TEXT,
    user_agent     TEXT,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at DESC);

-- At most one live code per user and purpose; a new code replaces the old.
CREATE TABLE otp_codes (
    user_id    TEXT NOT NULL REFERENCES users (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    code_hash  TEXT NOT NULL,           -- HMAC-SHA256, never the code
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, purpose)
);

CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,        -- UUIDv7: sorts by time
    at         INTEGER NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    user_id    TEXT,
    actor_id   TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT                     -- JSON object
);
CREATE INDEX audit_newest ON audit_events (at DESC, id DESC);
CREATE INDEX audit_by_user ON audit_events (user_id, at DESC);

-- Server-wide values such as the generated signing secret.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
