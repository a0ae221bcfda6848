-- Text search (`ListTransactionsRequest.text`, a case-insensitive
-- substring of the description or merchant) through a trigram index:
-- `search_text LIKE '%…%'` reads the index instead of every row of the
-- user. pg_trgm ships with Postgres (contrib) and is a trusted extension:
-- the role that may create the service's schema may create it too.
--
-- The extension may already be installed in another schema than this
-- service's (which alone is on the search path), so its operator class
-- is named with the schema it is in.
--
-- Building the index locks writes to `transactions` while it runs (about
-- 20 s per million rows on two cores). On a large table, build it first
-- without blocking writes, and this migration then finds it:
--   CREATE INDEX CONCURRENTLY transactions_search_trgm
--       ON ledger.transactions USING gin (search_text <schema>.gin_trgm_ops);
DO $$
DECLARE
    trgm_schema name;
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    SELECT n.nspname INTO STRICT trgm_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS transactions_search_trgm ON transactions '
        'USING gin (search_text %I.gin_trgm_ops)',
        trgm_schema
    );
END
$$;
