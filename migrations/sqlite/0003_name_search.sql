-- The names lower-cased by authgate itself (SQLite's lower() folds only
-- ASCII), so the admin search finds "Łukasz" as "łukasz" too.
ALTER TABLE users ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
UPDATE users SET name_key = lower(first_name || ' ' || last_name);
