DROP TABLE handled_events;
DROP TABLE category_moves;
DROP TABLE account_days;
DROP TABLE merchant_days;
DROP TABLE category_days;
DROP TABLE facts;
DROP TABLE tracked;
