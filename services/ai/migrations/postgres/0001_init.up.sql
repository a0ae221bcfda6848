-- Categorization rules, run in (stage, id) order; conditions as JSON
-- ([{"field": "merchant", "operator": "contains", "value": "..."}]).
CREATE TABLE rules (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL,
    name        TEXT NOT NULL,
    conditions  TEXT NOT NULL,
    category_id UUID NOT NULL,
    stage       INTEGER NOT NULL,
    stop        BOOLEAN NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    update_time TIMESTAMPTZ NOT NULL
);
CREATE INDEX rules_by_user ON rules (user_id, stage, id);

-- The history learned from the ledger's events: per transaction, its
-- normalized merchant (key and name) and category (NULL: uncategorized, split or
-- deleted), at the version it was last seen.
CREATE TABLE merchant_history (
    user_id        UUID NOT NULL,
    transaction_id UUID NOT NULL,
    merchant_key   TEXT NOT NULL,
    merchant_name  TEXT NOT NULL,
    category_id    UUID,
    version        BIGINT NOT NULL,
    PRIMARY KEY (user_id, transaction_id)
);
CREATE INDEX merchant_history_by_merchant ON merchant_history (user_id, merchant_key, version);
CREATE INDEX merchant_history_by_category ON merchant_history (user_id, category_id);

-- Ledger event ids already learned from (the kit's inbox).
CREATE TABLE handled_events (
    event_id   UUID PRIMARY KEY,
    handled_ms BIGINT NOT NULL
);
CREATE INDEX handled_events_by_time ON handled_events (handled_ms);
