-- Imports as long-running operations: the kit's operations table, and
-- per import what it reads and what it has done so far (updated in the
-- same database transaction as each batch it writes, so the counts match
-- what is stored even after a crash), with its first 1,000 line errors.
-- An import row is written before its operation (it claims the
-- request id), so it does not reference it.

CREATE TABLE operations (
    id            BLOB PRIMARY KEY,
    user_id       BLOB NOT NULL,
    kind          TEXT NOT NULL,
    state         TEXT NOT NULL,
    percent       INTEGER NOT NULL,
    message       TEXT NOT NULL,
    error_reason  TEXT,
    error_message TEXT,
    create_time   TEXT NOT NULL,
    update_time   TEXT NOT NULL
);
CREATE INDEX operations_by_user ON operations (user_id, id);

CREATE TABLE imports (
    operation_id       BLOB PRIMARY KEY,
    user_id            BLOB NOT NULL,
    account_id         BLOB NOT NULL REFERENCES accounts (id),
    format             TEXT NOT NULL,
    file_bytes         INTEGER NOT NULL,
    request_id         TEXT,
    lines_read         INTEGER NOT NULL DEFAULT 0,
    imported           INTEGER NOT NULL DEFAULT 0,
    skipped_duplicates INTEGER NOT NULL DEFAULT 0,
    skipped_pending    INTEGER NOT NULL DEFAULT 0,
    error_count        INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX imports_by_request ON imports (user_id, request_id)
    WHERE request_id IS NOT NULL;

CREATE TABLE import_errors (
    operation_id BLOB NOT NULL REFERENCES imports (operation_id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    line         INTEGER NOT NULL,
    field        TEXT NOT NULL,
    message      TEXT NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
