-- The clients each user has signed in from (a hash of the client's network
-- and user agent), so a sign-in from a new one is announced, and the
-- outbox the announcement goes through (see the kit's outbox relay).
CREATE TABLE known_clients (
    user_id    BLOB NOT NULL,
    client_key BLOB NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (user_id, client_key)
);

CREATE TABLE outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       BLOB NOT NULL,
    user_id        BLOB NOT NULL,
    kind           TEXT NOT NULL,
    claim_token    BLOB,
    claim_until_ms BIGINT NOT NULL DEFAULT 0,
    payload        BLOB NOT NULL,
    create_time    TEXT NOT NULL
);
