DROP INDEX goals_by_category;
DROP INDEX goals_by_account;
DROP TABLE goals_reached;
