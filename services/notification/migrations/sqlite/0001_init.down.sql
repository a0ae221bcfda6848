DROP TABLE handled_events;
DROP TABLE deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE preferences;
DROP TABLE notifications;
