DROP TABLE outbox;
DROP TABLE handled_events;
DROP TABLE spending_entries;
DROP TABLE deleted_categories;
DROP TABLE tracked_transactions;
DROP TABLE budget_alerts;
DROP TABLE budget_categories;
DROP TABLE budgets;
