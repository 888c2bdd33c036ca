ALTER TABLE poller.tasks DROP COLUMN traceparent;
