-- The trace context of the span that wrote the event (W3C traceparent), so that the relay publishes it
-- in the same trace even after a restart. NULL: written untraced, or before this column existed.
ALTER TABLE __SCHEMA__.outbox ADD COLUMN traceparent text;
