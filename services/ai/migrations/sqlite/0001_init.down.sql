DROP TABLE handled_events;
DROP TABLE merchant_history;
DROP TABLE rules;
