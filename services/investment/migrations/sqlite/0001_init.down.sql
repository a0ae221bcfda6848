DROP TABLE outbox;
DROP TABLE close_revisions;
DROP TABLE closes;
DROP TABLE idempotency_keys;
DROP TABLE activities;
DROP TABLE instruments;
DROP TABLE portfolios;
