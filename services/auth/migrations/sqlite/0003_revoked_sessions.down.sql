DROP INDEX sessions_by_revoke_time;
