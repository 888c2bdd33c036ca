ALTER TABLE __SCHEMA__.outbox DROP COLUMN traceparent;
