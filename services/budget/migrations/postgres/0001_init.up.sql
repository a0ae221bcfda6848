-- Budgets and their categories, the alerts raised, the spending projection
-- built from ledger events, and the outbox of budget events.

CREATE TABLE budgets (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL,
    name         TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    -- weekly, monthly, yearly or custom
    period       TEXT NOT NULL,
    start_date   DATE NOT NULL,
    end_date     DATE,
    -- Ascending percentages, comma-separated ("80,100").
    thresholds   TEXT NOT NULL,
    create_time  TIMESTAMPTZ NOT NULL,
    update_time  TIMESTAMPTZ NOT NULL
);
CREATE INDEX budgets_by_user ON budgets (user_id, id);

CREATE TABLE budget_categories (
    budget_id   UUID NOT NULL,
    user_id     UUID NOT NULL,
    category_id UUID NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (budget_id, category_id)
);
CREATE INDEX budget_categories_by_category ON budget_categories (user_id, category_id);

-- Savings goals: on an account's balance, or on what was put into a
-- category since the start date (exactly one of the two).
CREATE TABLE goals (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL,
    name         TEXT NOT NULL,
    currency     TEXT NOT NULL,
    target_minor BIGINT NOT NULL,
    target_date  DATE NOT NULL,
    start_date   DATE NOT NULL,
    account_id   UUID,
    category_id  UUID,
    create_time  TIMESTAMPTZ NOT NULL,
    update_time  TIMESTAMPTZ NOT NULL
);
CREATE INDEX goals_by_user ON goals (user_id, id);

-- Envelope plans, their categories (envelopes and income) and the money
-- assigned per month (months as YYYY-MM).
CREATE TABLE budget_plans (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL,
    name         TEXT NOT NULL,
    currency     TEXT NOT NULL,
    start_month  TEXT NOT NULL,
    overspending TEXT NOT NULL,
    create_time  TIMESTAMPTZ NOT NULL
);
CREATE INDEX budget_plans_by_user ON budget_plans (user_id, id);

CREATE TABLE plan_categories (
    plan_id     UUID NOT NULL,
    category_id UUID NOT NULL,
    -- envelope or income
    role        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (plan_id, category_id)
);

CREATE TABLE plan_assignments (
    plan_id      UUID NOT NULL,
    month        TEXT NOT NULL,
    category_id  UUID NOT NULL,
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (plan_id, month, category_id)
);

-- One row per budget, period and threshold crossed: the alert is raised by
-- the insert that creates the row, so never twice.
CREATE TABLE budget_alerts (
    budget_id    UUID NOT NULL,
    period_start DATE NOT NULL,
    threshold    INTEGER NOT NULL,
    spent_minor  BIGINT NOT NULL,
    create_time  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (budget_id, period_start, threshold)
);

-- The projection: the last version seen of every ledger transaction (the
-- microseconds of its update time, or of its deletion), so that events
-- applied out of order or twice change nothing, and when it was applied
-- (the budget's clock, for the rebuild)...
CREATE TABLE tracked_transactions (
    user_id        UUID NOT NULL,
    transaction_id UUID NOT NULL,
    version        BIGINT NOT NULL,
    deleted        BOOLEAN NOT NULL,
    applied_at     BIGINT NOT NULL,
    PRIMARY KEY (user_id, transaction_id)
);

-- Categories the ledger deleted, and where their transactions went: a
-- change older than the deletion that arrives after it is moved the same
-- way.
CREATE TABLE deleted_categories (
    user_id       UUID NOT NULL,
    category_id   UUID NOT NULL,
    reassigned_to UUID,
    version       BIGINT NOT NULL,
    PRIMARY KEY (user_id, category_id)
);

-- ...and what each one counts in each category (one row per category, or
-- per split), which budget figures sum.
CREATE TABLE spending_entries (
    user_id        UUID NOT NULL,
    transaction_id UUID NOT NULL,
    category_id    UUID NOT NULL,
    currency       TEXT NOT NULL,
    day            DATE NOT NULL,
    amount_minor   BIGINT NOT NULL,
    split          BOOLEAN NOT NULL
);
CREATE INDEX spending_by_category ON spending_entries (user_id, category_id, day);
CREATE INDEX spending_by_transaction ON spending_entries (user_id, transaction_id);

-- Ledger events already applied (kept a week).
CREATE TABLE handled_events (
    event_id   UUID PRIMARY KEY,
    handled_ms BIGINT NOT NULL
);
CREATE INDEX handled_events_by_time ON handled_events (handled_ms);

-- Budget events committed with the change they announce (see the kit's
-- outbox relay).
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
