-- The in-app feed, preferences, webhook endpoints, deliveries (email and
-- webhook, with their attempts), and the ids of the events already handled.

CREATE TABLE notifications (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    -- JSON object of ids ({"budget_id": "..."}).
    attributes  TEXT NOT NULL,
    event_id    UUID NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    read_time   TIMESTAMPTZ,
    -- False when the user turned the feed off for this kind.
    in_feed     BOOLEAN NOT NULL
);
CREATE INDEX notifications_by_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, in_feed, read_time);

-- One JSON document per user who changed the defaults.
CREATE TABLE preferences (
    user_id     UUID PRIMARY KEY,
    body        TEXT NOT NULL,
    update_time TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_endpoints (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL,
    url         TEXT NOT NULL,
    description TEXT NOT NULL,
    -- Stored kind names, comma-separated; empty for every kind.
    kinds       TEXT NOT NULL,
    -- whsec_...: needed to sign, so kept as given (see SECURITY.md).
    secret      TEXT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_by_user ON webhook_endpoints (user_id, id);

-- One row per notification and channel target: written with the
-- notification, claimed by workers for a while, retried with backoff.
CREATE TABLE deliveries (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL,
    -- email or webhook
    channel         TEXT NOT NULL,
    endpoint_id     UUID,
    notification_id UUID NOT NULL,
    kind            TEXT NOT NULL,
    -- webhook: the JSON body; email: the rendered message as JSON.
    payload         TEXT NOT NULL,
    digest          BOOLEAN NOT NULL,
    -- pending, delivered or dead
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    claim_token     UUID,
    claim_until_ms  BIGINT NOT NULL DEFAULT 0,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    create_time     TIMESTAMPTZ NOT NULL,
    deliver_time    TIMESTAMPTZ
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_ms);
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, id);

CREATE TABLE handled_events (
    event_id   UUID PRIMARY KEY,
    handled_ms BIGINT NOT NULL
);
CREATE INDEX handled_events_by_time ON handled_events (handled_ms);
