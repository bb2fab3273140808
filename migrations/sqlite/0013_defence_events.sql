-- Bot and abuse defence (contract §20): recent events by key, read over a
-- window by the rules that need them. Keys: `fail:net:<network>` and
-- `fail:all` (failed sign-ins, the adaptive challenge), `sms:number:<e164>`
-- and `sms:prefix:<6 digits>` (texts, SMS pumping), `spent:<signature>`
-- (a solved challenge, used once). Times in microseconds; a row is swept
-- once `expires_at` has passed (nothing reads it any more).
CREATE TABLE defence_events (
    event_key  TEXT NOT NULL,
    at         INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX defence_events_by_key ON defence_events (event_key, at);
CREATE INDEX defence_events_by_expiry ON defence_events (expires_at);
