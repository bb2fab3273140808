-- Passkeys (contract §15.3): each credential as webauthn-rs serialises it
-- (public key, signature counter, flags), owned by one user.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    credential_id TEXT NOT NULL UNIQUE,   -- base64url, as authenticators send it
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,          -- webauthn-rs `Passkey` JSON
    counter       BIGINT NOT NULL DEFAULT 0,   -- last signature counter accepted
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A WebAuthn ceremony between its options and its answer: the server-side
-- state webauthn-rs needs to finish it, whichever instance answers. Taken
-- (deleted) by the answer, so a challenge works once.
CREATE TABLE webauthn_ceremonies (
    kind       TEXT NOT NULL,             -- register, login, mfa
    key        TEXT NOT NULL,             -- the user (register), ceremony id (login), mfa_token jti (mfa)
    user_id    TEXT REFERENCES users (id),
    state      TEXT NOT NULL,             -- webauthn-rs ceremony state JSON
    expires_at BIGINT  NOT NULL,          -- unix seconds
    PRIMARY KEY (kind, key)
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
