-- Categorization rules, run in (stage, id) order; conditions as JSON
-- ([{"field": "merchant", "operator": "contains", "value": "..."}]).
CREATE TABLE rules (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL,
    name        TEXT NOT NULL,
    conditions  TEXT NOT NULL,
    category_id BLOB NOT NULL,
    stage       INTEGER NOT NULL,
    stop        BOOLEAN NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL
);
CREATE INDEX rules_by_user ON rules (user_id, stage, id);

-- The history learned from the ledger's events: per transaction, its
-- normalized merchant (key and name) and category (NULL: uncategorized, split or
-- deleted), at the version it was last seen.
CREATE TABLE merchant_history (
    user_id        BLOB NOT NULL,
    transaction_id BLOB NOT NULL,
    merchant_key   TEXT NOT NULL,
    merchant_name  TEXT NOT NULL,
    category_id    BLOB,
    version        BIGINT NOT NULL,
    PRIMARY KEY (user_id, transaction_id)
);
CREATE INDEX merchant_history_by_merchant ON merchant_history (user_id, merchant_key, version);
CREATE INDEX merchant_history_by_category ON merchant_history (user_id, category_id);

-- Ledger event ids already learned from (the kit's inbox).
CREATE TABLE handled_events (
    event_id   BLOB PRIMARY KEY,
    handled_ms BIGINT NOT NULL
);
CREATE INDEX handled_events_by_time ON handled_events (handled_ms);
