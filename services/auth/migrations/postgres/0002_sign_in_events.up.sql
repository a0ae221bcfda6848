-- The clients each user has signed in from (a hash of the client's network
-- and user agent), so a sign-in from a new one is announced, and the
-- outbox the announcement goes through (see the kit's outbox relay).
CREATE TABLE known_clients (
    user_id    UUID NOT NULL,
    client_key BYTEA NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_key)
);

CREATE TABLE outbox (
    seq            BIGSERIAL PRIMARY KEY,
    event_id       UUID NOT NULL,
    user_id        UUID NOT NULL,
    kind           TEXT NOT NULL,
    claim_token    UUID,
    claim_until_ms BIGINT NOT NULL DEFAULT 0,
    payload        BYTEA NOT NULL,
    create_time    TIMESTAMPTZ NOT NULL
);
