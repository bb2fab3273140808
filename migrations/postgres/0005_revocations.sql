-- The revocation feed (contract §12, §17): every change that must reach the
-- Bearer check of every instance is a row here, written by the triggers
-- below in the transaction of the change itself, so no statement, present or
-- future, can revoke a session or change a user without announcing it.
--   kind 'session': that session was revoked (or deleted) while live; its
--                   access tokens must be refused from now on.
--   kind 'user':    the user's row changed (role, names, flags, password,
--                   deletion...): cached copies are stale.
-- Instances LISTEN on 'authgate_revocations_<schema>' and, on a notification,
-- read the rows they have not seen. `seq` is handed out at insert, not at
-- commit, so readers do not trust its order: they read by `txid`, the writing
-- transaction's id, against the oldest transaction still running
-- (`pg_snapshot_xmin`), which no commit can overtake.
CREATE TABLE revocations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('session', 'user')),
    user_id    TEXT NOT NULL,
    session_id TEXT,
    -- The database's own clock (microseconds): the triggers cannot see the
    -- store's. Only the start-up read and the sweep use it, against the
    -- same clock.
    at         BIGINT NOT NULL DEFAULT ((extract(epoch FROM clock_timestamp()) * 1000000)::bigint),
    txid       BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
);
CREATE INDEX revocations_by_txid ON revocations (txid);
CREATE INDEX revocations_by_at ON revocations (at);

CREATE FUNCTION authgate_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO revocations (kind, user_id, session_id) VALUES ('session', OLD.user_id, OLD.id);
    ELSE
        INSERT INTO revocations (kind, user_id, session_id) VALUES ('session', NEW.user_id, NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON sessions FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION authgate_session_revoked();
CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL)
    EXECUTE FUNCTION authgate_session_revoked();

CREATE FUNCTION authgate_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO revocations (kind, user_id) VALUES ('user', OLD.id);
    ELSE
        INSERT INTO revocations (kind, user_id) VALUES ('user', NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER users_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION authgate_user_changed();
CREATE TRIGGER users_deleted AFTER DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION authgate_user_changed();

-- One notification per statement, delivered at commit, carrying the highest
-- sequence number it wrote (a hint: readers go by txid, see above).
CREATE FUNCTION authgate_revocations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('authgate_revocations_' || TG_TABLE_SCHEMA, (SELECT max(seq)::text FROM added));
    RETURN NULL;
END $$;

CREATE TRIGGER revocations_notify AFTER INSERT ON revocations
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION authgate_revocations_notify();

-- Sessions revoked shortly before this migration: their access tokens may
-- still be live, and instances load the recent rows at start.
INSERT INTO revocations (kind, user_id, session_id, at)
SELECT 'session', user_id, id, revoked_at FROM sessions
 WHERE revoked_at > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - 86400000000;
