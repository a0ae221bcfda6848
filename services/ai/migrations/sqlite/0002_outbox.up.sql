-- Ai events (categories proposed for new transactions) committed with the
-- ledger events that caused them (see the kit's outbox relay).
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
