-- The read model of the ledger's events: the transactions applied (their
-- version and facts), the sums per day (by category, merchant and
-- account), the category deletions, and the events already applied.

-- The last version applied per transaction (its update time, or its
-- deletion's, in microseconds); `touched_ms` is when, on this service's
-- clock (a rebuild deletes only what no event touched since it started).
CREATE TABLE tracked (
    transaction_id UUID PRIMARY KEY,
    user_id        UUID NOT NULL,
    version        BIGINT NOT NULL,
    deleted        BOOLEAN NOT NULL,
    touched_ms     BIGINT NOT NULL
);
CREATE INDEX tracked_by_user ON tracked (user_id, touched_ms);

-- What each live transaction contributes: one row per split (part), or
-- one for the whole; the nil id for no category.
CREATE TABLE facts (
    transaction_id UUID NOT NULL,
    part           INTEGER NOT NULL,
    user_id        UUID NOT NULL,
    account_id     UUID NOT NULL,
    currency       TEXT NOT NULL,
    day            DATE NOT NULL,
    category_id    UUID NOT NULL,
    merchant       TEXT NOT NULL,
    amount_minor   BIGINT NOT NULL,
    transfer       BOOLEAN NOT NULL,
    PRIMARY KEY (transaction_id, part)
);
CREATE INDEX facts_by_category ON facts (user_id, category_id);
CREATE INDEX facts_by_transaction ON facts (user_id, transaction_id);

-- Sums per day, transfers excepted: by category (the nil id for none)...
CREATE TABLE category_days (
    user_id       UUID NOT NULL,
    currency      TEXT NOT NULL,
    day           DATE NOT NULL,
    category_id   UUID NOT NULL,
    inflow_minor  BIGINT NOT NULL,
    outflow_minor BIGINT NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (user_id, currency, day, category_id)
);

-- ...and by merchant.
CREATE TABLE merchant_days (
    user_id       UUID NOT NULL,
    currency      TEXT NOT NULL,
    day           DATE NOT NULL,
    merchant      TEXT NOT NULL,
    inflow_minor  BIGINT NOT NULL,
    outflow_minor BIGINT NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (user_id, currency, day, merchant)
);

-- Each account's net change per day, transfers included (for balances
-- over time).
CREATE TABLE account_days (
    user_id    UUID NOT NULL,
    account_id UUID NOT NULL,
    day        DATE NOT NULL,
    net_minor  BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (user_id, account_id, day)
);

-- Deleted categories: where their transactions went (none: they lost
-- their category), and when (microseconds).
CREATE TABLE category_moves (
    user_id       UUID NOT NULL,
    category_id   UUID NOT NULL,
    reassigned_to UUID,
    version       BIGINT NOT NULL,
    PRIMARY KEY (user_id, category_id)
);

-- Ledger events already applied (kept a week).
CREATE TABLE handled_events (
    event_id   UUID PRIMARY KEY,
    handled_ms BIGINT NOT NULL
);
CREATE INDEX handled_events_by_time ON handled_events (handled_ms);
