-- Registrations waiting for their confirmation by email (when
-- auth.confirm_registration_by_email is on). One row per Register call:
-- those for a new address hold the password hash and the hash of the token
-- sent there; those for an address that has an account hold neither (the
-- message says so instead) and only count towards the cap of messages per
-- address. Rows go when they expire, and every row of an address goes when
-- one of them is confirmed.
CREATE TABLE registration_requests (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL,
    -- The id the account gets once confirmed (the existing account's id
    -- for a request on a taken address).
    user_id       UUID NOT NULL,
    -- SHA-256 of the confirmation token; NULL for a taken address.
    token_hash    BYTEA UNIQUE,
    -- argon2id PHC string; NULL for a taken address.
    password_hash TEXT,
    create_time   TIMESTAMPTZ NOT NULL,
    -- When the token stops working, in Unix milliseconds (compared in SQL
    -- on both backends).
    expire_ms     BIGINT NOT NULL
);
CREATE INDEX registration_requests_by_email ON registration_requests (email);
CREATE INDEX registration_requests_by_expiry ON registration_requests (expire_ms);
