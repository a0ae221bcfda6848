DROP TABLE outbox;
DROP TABLE known_clients;
