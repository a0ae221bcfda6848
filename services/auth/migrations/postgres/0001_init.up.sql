-- Auth's tables live in the `auth` schema (set as search_path by the kit).

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    -- Normalized (lower-case) address; one account per mailbox.
    email         TEXT NOT NULL UNIQUE,
    -- argon2id PHC string.
    password_hash TEXT NOT NULL,
    create_time   TIMESTAMPTZ NOT NULL,
    update_time   TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    create_time   TIMESTAMPTZ NOT NULL,
    -- Absolute end of the session, however often it is refreshed.
    expire_time   TIMESTAMPTZ NOT NULL,
    revoke_time   TIMESTAMPTZ,
    revoke_reason TEXT
);
CREATE INDEX sessions_active_by_user ON sessions (user_id) WHERE revoke_time IS NULL;

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash  BYTEA PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    create_time TIMESTAMPTZ NOT NULL,
    -- Set when the token is exchanged; a second use revokes the session.
    use_time    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    -- PKCS#8 PEM of the RSA private key.
    private_key_pem TEXT NOT NULL,
    -- JWK public components, base64url.
    public_n        TEXT NOT NULL,
    public_e        TEXT NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL,
    -- No token is signed with the key after this.
    retire_time     TIMESTAMPTZ NOT NULL,
    -- The key leaves the JWKS after this (retire_time + token lifetime).
    expire_time     TIMESTAMPTZ NOT NULL
);
