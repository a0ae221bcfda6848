-- A word index for text searches of several words (see
-- `services/ledger/src/store/sql/search.rs`): the trigram index reads every
-- posting list of a term's trigrams in full, so a term with one common
-- word ("card payment 1234") costs as much as the commonest of its
-- trigrams, tens of milliseconds over a million rows. This index's scan
-- skips through a common word's list to the rows a rare word names.
-- `simple` keeps every word as it is (lower case), with no stemming and no
-- stop words, so a word of the search is a word of the index.
--
-- Building it locks writes to `transactions` while it runs (about 6 s per
-- million rows on two cores). On a large table, build it first without
-- blocking writes, and this migration then finds it:
--   CREATE INDEX CONCURRENTLY transactions_search_words
--       ON ledger.transactions USING gin (to_tsvector('simple', search_text));
CREATE INDEX IF NOT EXISTS transactions_search_words ON transactions
    USING gin (to_tsvector('simple', search_text));
