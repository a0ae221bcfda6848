-- Whether the ai service chose the transaction's category (see
-- freedumb.ledger.v1.CategorizedBy); a user's change of the category
-- clears it.
ALTER TABLE transactions ADD COLUMN ai_categorized BOOLEAN NOT NULL DEFAULT FALSE;
