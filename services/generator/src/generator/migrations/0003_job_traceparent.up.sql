-- The trace of the request a job came from: the scheduler works the job later, in a loop of its own,
-- and continues that trace (W3C traceparent; NULL when untraced).
ALTER TABLE generator.jobs ADD COLUMN traceparent text;
