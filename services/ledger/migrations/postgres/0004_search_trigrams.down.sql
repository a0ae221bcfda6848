-- The extension stays: other schemas of the database may use it.
DROP INDEX transactions_search_trgm;
