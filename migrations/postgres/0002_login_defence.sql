-- The per-account sign-in defence (contract §14.1).
--
-- Failed sign-ins per login id (the normalized email or phone, whether or
-- not an account has it): `network` is '' for the login id's own counter,
-- or a network (IPv4 /24, IPv6 /64) from which the account signed in
-- recently, which keeps a counter of its own. `latest_at` is the latest
-- failure (microseconds); a row 15 minutes older counts as empty and is
-- swept.
CREATE TABLE login_failures (
    login_key TEXT NOT NULL,
    network   TEXT NOT NULL DEFAULT '',
    failures  BIGINT NOT NULL,
    latest_at BIGINT NOT NULL,
    PRIMARY KEY (login_key, network)
);
CREATE INDEX login_failures_by_age ON login_failures (latest_at);

-- The networks each account signed in from, and when it last did: within
-- 30 days a network is trusted and keeps its own failure counter, so that
-- failures elsewhere never delay the owner on a network they use.
CREATE TABLE trusted_networks (
    user_id         TEXT NOT NULL REFERENCES users (id),
    network         TEXT NOT NULL,
    last_success_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, network)
);
CREATE INDEX trusted_networks_by_age ON trusted_networks (last_success_at);
