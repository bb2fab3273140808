-- The revocation feed (contract §12, §17): every change that must reach the
-- Bearer check of every instance is a row here, written by the triggers
-- below in the transaction of the change itself, so no statement, present or
-- future, can revoke a session or change a user without announcing it.
--   kind 'session': that session was revoked (or deleted) while live; its
--                   access tokens must be refused from now on.
--   kind 'user':    the user's row changed (role, names, flags, password,
--                   deletion...): cached copies are stale.
-- SQLite commits one writer at a time, so `seq` grows in commit order: an
-- instance reads the rows past the last one it saw (the writer thread right
-- after its own commits; every instance by polling).
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('session', 'user')),
    user_id    TEXT NOT NULL,
    session_id TEXT,
    -- The database's clock (microseconds): only the start-up read and the
    -- sweep use it, against the same clock.
    at         INTEGER NOT NULL
);
CREATE INDEX revocations_by_at ON revocations (at);

CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions
    WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    INSERT INTO revocations (kind, user_id, session_id, at)
    VALUES ('session', NEW.user_id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER));
END;

CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions
    WHEN OLD.revoked_at IS NULL
BEGIN
    INSERT INTO revocations (kind, user_id, session_id, at)
    VALUES ('session', OLD.user_id, OLD.id, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER));
END;

CREATE TRIGGER users_changed AFTER UPDATE ON users
BEGIN
    INSERT INTO revocations (kind, user_id, at)
    VALUES ('user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER));
END;

CREATE TRIGGER users_deleted AFTER DELETE ON users
BEGIN
    INSERT INTO revocations (kind, user_id, at)
    VALUES ('user', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER));
END;

-- Sessions revoked shortly before this migration: their access tokens may
-- still be live, and instances load the recent rows at start.
INSERT INTO revocations (kind, user_id, session_id, at)
SELECT 'session', user_id, id, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) FROM sessions
 WHERE revoked_at > CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) - 86400000000;
