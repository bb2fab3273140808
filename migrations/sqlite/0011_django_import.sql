-- Refresh tokens the Django original issued (SimpleJWT's outstanding tokens,
-- contract §18), imported by `authgate import-django --from-database`. A
-- refresh token without `sid` whose jti is here (and not blacklisted)
-- becomes a session at its first refresh; `session_id` then names it, so a
-- second presentation is judged by that session's rotation rules.
CREATE TABLE legacy_refresh_tokens (
    jti         TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    expires_at  INTEGER NOT NULL,               -- unix seconds
    blacklisted INTEGER NOT NULL DEFAULT 0,
    session_id  TEXT
);
