ALTER TABLE generator.jobs DROP COLUMN traceparent;
