ALTER TABLE transactions DROP COLUMN ai_categorized;
