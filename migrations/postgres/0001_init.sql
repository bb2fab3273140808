-- authgate schema (PostgreSQL). The same tables as the SQLite schema, so the
-- one set of queries serves both: times are BIGINT microseconds since the
-- Unix epoch (UTC), ids are UUID text, flags are BOOLEAN.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT,
    -- The whole address lower-cased: uniqueness and look-up ignore case.
    email_key     TEXT,
    phone         TEXT,                 -- E.164
    password      TEXT NOT NULL,        -- Django's encoded hash
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    -- Both names lower-cased by authgate (Unicode rules), for the admin search.
    name_key      TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('client', 'vendor', 'staff', 'admin')),
    auth_provider TEXT NOT NULL CHECK (auth_provider IN ('email', 'phone', 'google')),
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    is_verified   BOOLEAN NOT NULL DEFAULT FALSE,
    last_login    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    deleted_at    BIGINT,               -- soft delete: the row stays
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);

-- Uniqueness holds among accounts that are not deleted, so a deleted
-- account's address can be taken again (and restore then conflicts).
CREATE UNIQUE INDEX users_email_live ON users (email_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_phone_live ON users (phone) WHERE deleted_at IS NULL;
CREATE INDEX users_newest ON users (created_at DESC, id DESC);
CREATE INDEX users_admins ON users (role) WHERE role = 'admin';

-- One row per sign-in (device). Only the current refresh token's jti is
-- kept, with the one it replaced, to serve the reuse grace and to detect
-- reuse; the token itself is never stored.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    refresh_jti    TEXT NOT NULL,
    refresh_iat    BIGINT NOT NULL,     -- unix seconds, as in the token
    refresh_exp    BIGINT NOT NULL,     -- unix seconds, as in the token
    previous_jti   TEXT,
    rotated_at     BIGINT,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    ip             TEXT,
    user_agent     TEXT,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at DESC);

-- At most one live code per user and purpose; a new code replaces the old,
-- carrying over the 24-hour window's counters (failures, codes issued).
CREATE TABLE otp_codes (
    user_id      TEXT NOT NULL REFERENCES users (id),
    purpose      TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    code_hash    TEXT NOT NULL,         -- HMAC-SHA256, never the code
    expires_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    failures     BIGINT NOT NULL DEFAULT 0,
    issued       BIGINT NOT NULL DEFAULT 1,
    window_start BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, purpose)
);

CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,        -- UUIDv7: sorts by time
    at         BIGINT NOT NULL,
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
