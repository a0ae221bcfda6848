-- The ledger's tables, in the ledger's own SQLite file. UUIDs are 16-byte
-- blobs, instants RFC 3339 text and dates YYYY-MM-DD text, as sqlx encodes
-- them. Every row carries the owning user's id and every query filters on it.

CREATE TABLE profiles (
    user_id     BLOB PRIMARY KEY,
    create_time TEXT NOT NULL
);

CREATE TABLE accounts (
    id                    BLOB PRIMARY KEY,
    user_id               BLOB NOT NULL,
    name                  TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    currency_code         TEXT NOT NULL,
    opening_balance_minor BIGINT NOT NULL,
    balance_minor         BIGINT NOT NULL,
    archived              BOOLEAN NOT NULL DEFAULT FALSE,
    create_time           TEXT NOT NULL,
    update_time           TEXT NOT NULL
);
CREATE INDEX accounts_by_user ON accounts (user_id, id);

CREATE TABLE categories (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    parent_id   BLOB REFERENCES categories (id),
    create_time TEXT NOT NULL
);
CREATE UNIQUE INDEX categories_unique_name
    ON categories (user_id, IFNULL(parent_id, X''), LOWER(name));

CREATE TABLE transactions (
    id                BLOB PRIMARY KEY,
    user_id           BLOB NOT NULL,
    account_id        BLOB NOT NULL REFERENCES accounts (id),
    currency_code     TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    booking_date      TEXT NOT NULL,
    description       TEXT NOT NULL,
    merchant          TEXT NOT NULL,
    search_text       TEXT NOT NULL,
    category_id       BLOB,
    has_splits        BOOLEAN NOT NULL,
    tags              TEXT NOT NULL,
    notes             TEXT NOT NULL,
    transfer_id       BLOB,
    recurring_rule_id BLOB,
    occurrence_date   TEXT,
    import_key        BLOB,
    create_time       TEXT NOT NULL,
    revision          BIGINT NOT NULL,
    update_time       TEXT NOT NULL
);
CREATE INDEX transactions_by_user_date ON transactions (user_id, booking_date DESC, id DESC);
CREATE INDEX transactions_by_account_date ON transactions (account_id, booking_date DESC, id DESC);
CREATE INDEX transactions_by_category ON transactions (user_id, category_id) WHERE category_id IS NOT NULL;
CREATE UNIQUE INDEX transactions_import_once ON transactions (account_id, import_key)
    WHERE import_key IS NOT NULL;
CREATE UNIQUE INDEX transactions_occurrence_once ON transactions (recurring_rule_id, occurrence_date)
    WHERE recurring_rule_id IS NOT NULL;

CREATE TABLE transaction_splits (
    transaction_id BLOB NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    user_id        BLOB NOT NULL,
    category_id    BLOB NOT NULL,
    amount_minor   BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, position)
);
CREATE INDEX transaction_splits_by_category ON transaction_splits (user_id, category_id);

CREATE TABLE transaction_tags (
    transaction_id BLOB NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    tag            TEXT NOT NULL,
    user_id        BLOB NOT NULL,
    PRIMARY KEY (transaction_id, tag)
);
CREATE INDEX transaction_tags_by_tag ON transaction_tags (user_id, tag);

CREATE TABLE transfers (
    id                  BLOB PRIMARY KEY,
    user_id             BLOB NOT NULL,
    from_account_id     BLOB NOT NULL REFERENCES accounts (id),
    to_account_id       BLOB NOT NULL REFERENCES accounts (id),
    from_transaction_id BLOB NOT NULL,
    to_transaction_id   BLOB NOT NULL,
    amount_minor        BIGINT NOT NULL,
    received_minor      BIGINT NOT NULL,
    exchange_rate       TEXT NOT NULL,
    booking_date        TEXT NOT NULL,
    description         TEXT NOT NULL,
    create_time         TEXT NOT NULL
);
CREATE INDEX transfers_by_user ON transfers (user_id, id);

CREATE TABLE recurring_rules (
    id             BLOB PRIMARY KEY,
    user_id        BLOB NOT NULL,
    account_id     BLOB NOT NULL REFERENCES accounts (id),
    currency_code  TEXT NOT NULL,
    amount_minor   BIGINT NOT NULL,
    description    TEXT NOT NULL,
    merchant       TEXT NOT NULL,
    category_id    BLOB,
    tags           TEXT NOT NULL,
    frequency      TEXT NOT NULL,
    interval_count INTEGER NOT NULL,
    start_date     TEXT NOT NULL,
    end_date       TEXT,
    next_index     BIGINT NOT NULL,
    next_date      TEXT,
    create_time    TEXT NOT NULL
);
CREATE INDEX recurring_rules_by_user ON recurring_rules (user_id, id);
CREATE INDEX recurring_rules_due ON recurring_rules (next_date) WHERE next_date IS NOT NULL;

-- The first result of every create that carried a request id.
CREATE TABLE idempotency_keys (
    user_id      BLOB NOT NULL,
    method       TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    response     BLOB NOT NULL,
    create_time  TEXT NOT NULL,
    PRIMARY KEY (user_id, method, request_id)
);

-- Events committed with the change they announce; the relay publishes and
-- deletes them.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    kind        TEXT NOT NULL,
    -- A relay holds the rows it publishes until claim_until_ms (Unix ms).
    claim_token    BLOB,
    claim_until_ms BIGINT NOT NULL DEFAULT 0,
    payload     BLOB NOT NULL,
    create_time TEXT NOT NULL
);
