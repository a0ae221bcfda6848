-- The sessions revoked lately, read when the revocation list (Redis) is
-- restored after it lost them.
CREATE INDEX sessions_by_revoke_time ON sessions (revoke_time) WHERE revoke_time IS NOT NULL;
