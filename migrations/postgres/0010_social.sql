-- Social sign-in (contract §16).
--
-- An account created by a provider's sign-in names that provider (as
-- configured: `AUTHGATE_OIDC_PROVIDERS`) in `auth_provider`, so the column
-- takes any name now.
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_auth_provider_check;
ALTER TABLE users ADD CONSTRAINT users_auth_provider_named CHECK (auth_provider <> '');

-- A provider identity (its issuer and subject) linked to one account; an
-- account has at most one identity of each provider.
CREATE TABLE social_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    provider   TEXT NOT NULL,             -- the configured name, e.g. google
    email      TEXT,                      -- as the provider gave it when linked
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX social_identities_user_provider ON social_identities (user_id, provider);

-- The browser flow's state (its nonce, PKCE verifier, `next` and the
-- browser it is bound to) and the one-time codes it ends with wait in
-- webauthn_ceremonies, as kinds `social_state` and `social_code`: taken
-- (deleted) by their one use, whichever instance answers.
