-- The ledger's tables. Every row carries the owning user's id and every
-- query filters on it. Money is BIGINT minor units; balances are kept by
-- the ledger in the same transaction as the rows that change them.

CREATE TABLE profiles (
    user_id     UUID PRIMARY KEY,
    create_time TIMESTAMPTZ NOT NULL
);

CREATE TABLE accounts (
    id                    UUID PRIMARY KEY,
    user_id               UUID NOT NULL,
    name                  TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    currency_code         TEXT NOT NULL,
    opening_balance_minor BIGINT NOT NULL,
    balance_minor         BIGINT NOT NULL,
    archived              BOOLEAN NOT NULL DEFAULT FALSE,
    create_time           TIMESTAMPTZ NOT NULL,
    update_time           TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_by_user ON accounts (user_id, id);

CREATE TABLE categories (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    parent_id   UUID REFERENCES categories (id),
    create_time TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX categories_unique_name
    ON categories (user_id, COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'), LOWER(name));

CREATE TABLE transactions (
    id                UUID PRIMARY KEY,
    user_id           UUID NOT NULL,
    account_id        UUID NOT NULL REFERENCES accounts (id),
    currency_code     TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    booking_date      DATE NOT NULL,
    description       TEXT NOT NULL,
    merchant          TEXT NOT NULL,
    search_text       TEXT NOT NULL,
    category_id       UUID,
    has_splits        BOOLEAN NOT NULL,
    tags              TEXT NOT NULL,
    notes             TEXT NOT NULL,
    transfer_id       UUID,
    recurring_rule_id UUID,
    occurrence_date   DATE,
    import_key        BYTEA,
    create_time       TIMESTAMPTZ NOT NULL,
    revision          BIGINT NOT NULL,
    update_time       TIMESTAMPTZ NOT NULL
);
CREATE INDEX transactions_by_user_date ON transactions (user_id, booking_date DESC, id DESC);
CREATE INDEX transactions_by_account_date ON transactions (account_id, booking_date DESC, id DESC);
CREATE INDEX transactions_by_category ON transactions (user_id, category_id) WHERE category_id IS NOT NULL;
CREATE UNIQUE INDEX transactions_import_once ON transactions (account_id, import_key)
    WHERE import_key IS NOT NULL;
CREATE UNIQUE INDEX transactions_occurrence_once ON transactions (recurring_rule_id, occurrence_date)
    WHERE recurring_rule_id IS NOT NULL;

CREATE TABLE transaction_splits (
    transaction_id UUID NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    user_id        UUID NOT NULL,
    category_id    UUID NOT NULL,
    amount_minor   BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, position)
);
CREATE INDEX transaction_splits_by_category ON transaction_splits (user_id, category_id);

CREATE TABLE transaction_tags (
    transaction_id UUID NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    tag            TEXT NOT NULL,
    user_id        UUID NOT NULL,
    PRIMARY KEY (transaction_id, tag)
);
CREATE INDEX transaction_tags_by_tag ON transaction_tags (user_id, tag);

CREATE TABLE transfers (
    id                  UUID PRIMARY KEY,
    user_id             UUID NOT NULL,
    from_account_id     UUID NOT NULL REFERENCES accounts (id),
    to_account_id       UUID NOT NULL REFERENCES accounts (id),
    from_transaction_id UUID NOT NULL,
    to_transaction_id   UUID NOT NULL,
    amount_minor        BIGINT NOT NULL,
    received_minor      BIGINT NOT NULL,
    exchange_rate       TEXT NOT NULL,
    booking_date        DATE NOT NULL,
    description         TEXT NOT NULL,
    create_time         TIMESTAMPTZ NOT NULL
);
CREATE INDEX transfers_by_user ON transfers (user_id, id);

CREATE TABLE recurring_rules (
    id             UUID PRIMARY KEY,
    user_id        UUID NOT NULL,
    account_id     UUID NOT NULL REFERENCES accounts (id),
    currency_code  TEXT NOT NULL,
    amount_minor   BIGINT NOT NULL,
    description    TEXT NOT NULL,
    merchant       TEXT NOT NULL,
    category_id    UUID,
    tags           TEXT NOT NULL,
    frequency      TEXT NOT NULL,
    interval_count INTEGER NOT NULL,
    start_date     DATE NOT NULL,
    end_date       DATE,
    next_index     BIGINT NOT NULL,
    next_date      DATE,
    create_time    TIMESTAMPTZ NOT NULL
);
CREATE INDEX recurring_rules_by_user ON recurring_rules (user_id, id);
CREATE INDEX recurring_rules_due ON recurring_rules (next_date) WHERE next_date IS NOT NULL;

-- The first result of every create that carried a request id.
CREATE TABLE idempotency_keys (
    user_id      UUID NOT NULL,
    method       TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    response     BYTEA NOT NULL,
    create_time  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, method, request_id)
);

-- Events committed with the change they announce; the relay publishes and
-- deletes them.
CREATE TABLE outbox (
    seq         BIGSERIAL PRIMARY KEY,
    event_id    UUID NOT NULL,
    user_id     UUID NOT NULL,
    kind        TEXT NOT NULL,
    -- A relay holds the rows it publishes until claim_until_ms (Unix ms).
    claim_token    UUID,
    claim_until_ms BIGINT NOT NULL DEFAULT 0,
    payload     BYTEA NOT NULL,
    create_time TIMESTAMPTZ NOT NULL
);
