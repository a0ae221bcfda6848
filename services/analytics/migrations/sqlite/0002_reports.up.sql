-- Reports: their operations (the kit's table), which file each makes, and
-- the file in chunks.

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

CREATE TABLE report_files (
    operation_id BLOB PRIMARY KEY REFERENCES operations (id) ON DELETE CASCADE,
    user_id      BLOB NOT NULL,
    content_type TEXT NOT NULL,
    file_name    TEXT NOT NULL
);

CREATE TABLE report_chunks (
    operation_id BLOB NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
