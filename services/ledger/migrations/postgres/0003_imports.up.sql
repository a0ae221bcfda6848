-- Imports as long-running operations: the kit's operations table, and
-- per import what it reads and what it has done so far (updated in the
-- same database transaction as each batch it writes, so the counts match
-- what is stored even after a crash), with its first 1,000 line errors.
-- An import row is written before its operation (it claims the
-- request id), so it does not reference it.

CREATE TABLE operations (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL,
    kind          TEXT NOT NULL,
    state         TEXT NOT NULL,
    percent       INTEGER NOT NULL,
    message       TEXT NOT NULL,
    error_reason  TEXT,
    error_message TEXT,
    create_time   TIMESTAMPTZ NOT NULL,
    update_time   TIMESTAMPTZ NOT NULL
);
CREATE INDEX operations_by_user ON operations (user_id, id);

CREATE TABLE imports (
    operation_id       UUID PRIMARY KEY,
    user_id            UUID NOT NULL,
    account_id         UUID NOT NULL REFERENCES accounts (id),
    format             TEXT NOT NULL,
    file_bytes         BIGINT NOT NULL,
    request_id         TEXT,
    lines_read         BIGINT NOT NULL DEFAULT 0,
    imported           BIGINT NOT NULL DEFAULT 0,
    skipped_duplicates BIGINT NOT NULL DEFAULT 0,
    skipped_pending    BIGINT NOT NULL DEFAULT 0,
    error_count        BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX imports_by_request ON imports (user_id, request_id)
    WHERE request_id IS NOT NULL;

CREATE TABLE import_errors (
    operation_id UUID NOT NULL REFERENCES imports (operation_id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    line         BIGINT NOT NULL,
    field        TEXT NOT NULL,
    message      TEXT NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
