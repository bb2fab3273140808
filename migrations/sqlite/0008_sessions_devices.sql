-- Device management (contract §12).
--
-- The (device label, network) pairs each account has signed in from: a
-- sign-in from a pair not listed here is a new device (an alert, when
-- AUTHGATE_NEW_DEVICE_ALERTS is on). `network` is the IPv4 /24 or IPv6 /64
-- of the client, or '' when its address is unknown. Written in the
-- sign-in's own transaction.
CREATE TABLE known_devices (
    user_id       TEXT NOT NULL REFERENCES users (id),
    device        TEXT NOT NULL,
    network       TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, device, network)
);

-- AUTHGATE_MAX_SESSIONS_PER_USER evicts the live session used least
-- recently.
CREATE INDEX sessions_by_last_use ON sessions (user_id, last_used_at);
