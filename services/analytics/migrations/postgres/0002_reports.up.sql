-- Reports: their operations (the kit's table), which file each makes, and
-- the file in chunks.

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

CREATE TABLE report_files (
    operation_id UUID PRIMARY KEY REFERENCES operations (id) ON DELETE CASCADE,
    user_id      UUID NOT NULL,
    content_type TEXT NOT NULL,
    file_name    TEXT NOT NULL
);

CREATE TABLE report_chunks (
    operation_id UUID NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
