-- The trace of the TaskStarted a task came from: each check continues it (W3C traceparent; NULL when untraced).
ALTER TABLE poller.tasks ADD COLUMN traceparent text;
