-- Portfolios, instruments and activities; the idempotency keys of
-- creates; daily closes and exchange rates with their revisions; and the
-- outbox of investment events.
-- SQLite: ids are 16-byte blobs, instants RFC 3339 text and dates
-- YYYY-MM-DD text, as sqlx encodes them.

CREATE TABLE portfolios (
    id                BLOB PRIMARY KEY,
    user_id           BLOB NOT NULL,
    name              TEXT NOT NULL,
    account_id        BLOB,
    base_currency     TEXT NOT NULL,
    -- fifo or average
    cost_basis_method TEXT NOT NULL,
    create_time       TEXT NOT NULL,
    update_time       TEXT NOT NULL
);
CREATE INDEX portfolios_by_user ON portfolios (user_id, id);

CREATE TABLE instruments (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL,
    symbol      TEXT NOT NULL,
    isin        TEXT,
    name        TEXT NOT NULL,
    -- stock, etf, fund, bond, crypto or cash
    kind        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    create_time TEXT NOT NULL,
    UNIQUE (user_id, symbol)
);

-- One row per activity; which columns are set depends on the kind (see
-- freedumb.investment.v1.Activity). Quantities, prices and ratios are
-- exact decimal strings.
CREATE TABLE activities (
    id              BLOB PRIMARY KEY,
    user_id         BLOB NOT NULL,
    portfolio_id    BLOB NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    activity_date   TEXT NOT NULL,
    instrument_id   BLOB REFERENCES instruments (id),
    quantity        TEXT,
    price           TEXT,
    amount_currency TEXT,
    amount_minor    BIGINT,
    fee_currency    TEXT,
    fee_minor       BIGINT,
    split_ratio     TEXT,
    cash_account_id BLOB,
    note            TEXT NOT NULL,
    create_time     TEXT NOT NULL
);
CREATE INDEX activities_by_portfolio ON activities (user_id, portfolio_id, activity_date, id);
CREATE INDEX activities_by_instrument ON activities (instrument_id);

CREATE TABLE idempotency_keys (
    user_id      BLOB NOT NULL,
    method       TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    resource_id  BLOB NOT NULL,
    create_time  TEXT NOT NULL,
    PRIMARY KEY (user_id, method, request_id)
);

-- Daily closes of a series: an instrument's symbol, or BASE/QUOTE for an
-- exchange rate (units of quote per unit of base).
CREATE TABLE closes (
    series     TEXT NOT NULL,
    day        TEXT NOT NULL,
    close      TEXT NOT NULL,
    source     TEXT NOT NULL,
    fetch_time TEXT NOT NULL,
    PRIMARY KEY (series, day)
);

-- Every change of a recorded close.
CREATE TABLE close_revisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    series      TEXT NOT NULL,
    day         TEXT NOT NULL,
    old_close   TEXT NOT NULL,
    new_close   TEXT NOT NULL,
    source      TEXT NOT NULL,
    revise_time TEXT NOT NULL
);
CREATE INDEX close_revisions_by_day ON close_revisions (series, day);

-- Investment events committed with the change they announce (see the
-- kit's outbox relay).
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
