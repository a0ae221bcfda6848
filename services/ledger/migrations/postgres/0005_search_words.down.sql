DROP INDEX transactions_search_words;
