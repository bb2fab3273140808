-- Social sign-in (contract §16).
--
-- An account created by a provider's sign-in names that provider (as
-- configured: `AUTHGATE_OIDC_PROVIDERS`) in `auth_provider`, so the column
-- takes any name now. SQLite cannot drop a CHECK constraint with ALTER
-- TABLE; the procedure its documentation gives for a change that leaves
-- the stored rows valid (section 7 of "ALTER TABLE", "making other kinds
-- of table schema changes") rewrites the table's definition in place. The
-- CREATE TABLE below changes the schema cookie, so every connection reads
-- the new definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (auth_provider IN (''email'', ''phone'', ''google''))', 'CHECK (auth_provider <> '''')')
 WHERE type = 'table' AND name = 'users';
PRAGMA writable_schema = OFF;
PRAGMA writable_schema = RESET;

-- A provider identity (its issuer and subject) linked to one account; an
-- account has at most one identity of each provider.
CREATE TABLE social_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    provider   TEXT NOT NULL,             -- the configured name, e.g. google
    email      TEXT,                      -- as the provider gave it when linked
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE UNIQUE INDEX social_identities_user_provider ON social_identities (user_id, provider);

-- The browser flow's state (its nonce, PKCE verifier, `next` and the
-- browser it is bound to) and the one-time codes it ends with wait in
-- webauthn_ceremonies, as kinds `social_state` and `social_code`: taken
-- (deleted) by their one use, whichever instance answers.
