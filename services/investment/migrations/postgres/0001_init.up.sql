-- Portfolios, instruments and activities; the idempotency keys of
-- creates; daily closes and exchange rates with their revisions; and the
-- outbox of investment events.

CREATE TABLE portfolios (
    id                UUID PRIMARY KEY,
    user_id           UUID NOT NULL,
    name              TEXT NOT NULL,
    account_id        UUID,
    base_currency     TEXT NOT NULL,
    -- fifo or average
    cost_basis_method TEXT NOT NULL,
    create_time       TIMESTAMPTZ NOT NULL,
    update_time       TIMESTAMPTZ NOT NULL
);
CREATE INDEX portfolios_by_user ON portfolios (user_id, id);

CREATE TABLE instruments (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL,
    symbol      TEXT NOT NULL,
    isin        TEXT,
    name        TEXT NOT NULL,
    -- stock, etf, fund, bond, crypto or cash
    kind        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, symbol)
);

-- One row per activity; which columns are set depends on the kind (see
-- freedumb.investment.v1.Activity). Quantities, prices and ratios are
-- exact decimal strings.
CREATE TABLE activities (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL,
    portfolio_id    UUID NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    activity_date   DATE NOT NULL,
    instrument_id   UUID REFERENCES instruments (id),
    quantity        TEXT,
    price           TEXT,
    amount_currency TEXT,
    amount_minor    BIGINT,
    fee_currency    TEXT,
    fee_minor       BIGINT,
    split_ratio     TEXT,
    cash_account_id UUID,
    note            TEXT NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL
);
CREATE INDEX activities_by_portfolio ON activities (user_id, portfolio_id, activity_date, id);
CREATE INDEX activities_by_instrument ON activities (instrument_id);

CREATE TABLE idempotency_keys (
    user_id      UUID NOT NULL,
    method       TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    resource_id  UUID NOT NULL,
    create_time  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, method, request_id)
);

-- Daily closes of a series: an instrument's symbol, or BASE/QUOTE for an
-- exchange rate (units of quote per unit of base).
CREATE TABLE closes (
    series     TEXT NOT NULL,
    day        DATE NOT NULL,
    close      TEXT NOT NULL,
    source     TEXT NOT NULL,
    fetch_time TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (series, day)
);

-- Every change of a recorded close.
CREATE TABLE close_revisions (
    id          BIGSERIAL PRIMARY KEY,
    series      TEXT NOT NULL,
    day         DATE NOT NULL,
    old_close   TEXT NOT NULL,
    new_close   TEXT NOT NULL,
    source      TEXT NOT NULL,
    revise_time TIMESTAMPTZ NOT NULL
);
CREATE INDEX close_revisions_by_day ON close_revisions (series, day);

-- Investment events committed with the change they announce (see the
-- kit's outbox relay).
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
