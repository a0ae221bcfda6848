-- Ai events (categories proposed for new transactions) committed with the
-- ledger events that caused them (see the kit's outbox relay).
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
