-- Auth's tables, in the auth service's own SQLite file. UUIDs are 16-byte
-- blobs and instants RFC 3339 text, as sqlx encodes them.

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    -- Normalized (lower-case) address; one account per mailbox.
    email         TEXT NOT NULL UNIQUE,
    -- argon2id PHC string.
    password_hash TEXT NOT NULL,
    create_time   TEXT NOT NULL,
    update_time   TEXT NOT NULL
);

CREATE TABLE sessions (
    id            BLOB PRIMARY KEY,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    create_time   TEXT NOT NULL,
    -- Absolute end of the session, however often it is refreshed.
    expire_time   TEXT NOT NULL,
    revoke_time   TEXT,
    revoke_reason TEXT
);
CREATE INDEX sessions_active_by_user ON sessions (user_id) WHERE revoke_time IS NULL;

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash  BLOB PRIMARY KEY,
    session_id  BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    create_time TEXT NOT NULL,
    -- Set when the token is exchanged; a second use revokes the session.
    use_time    TEXT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    -- PKCS#8 PEM of the RSA private key.
    private_key_pem TEXT NOT NULL,
    -- JWK public components, base64url.
    public_n        TEXT NOT NULL,
    public_e        TEXT NOT NULL,
    create_time     TEXT NOT NULL,
    -- No token is signed with the key after this.
    retire_time     TEXT NOT NULL,
    -- The key leaves the JWKS after this (retire_time + token lifetime).
    expire_time     TEXT NOT NULL
);
