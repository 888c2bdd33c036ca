-- Jobs are scheduled in Postgres (no message parked in the consumer): a worker claims a due job
-- under a lease; a paid call whose worker vanished leaves the job `in_doubt`, to be adopted by the
-- provider's callback or settled by the rules, never resent blindly.
ALTER TABLE generator.jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE generator.jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('waiting', 'claimed', 'submitting', 'in_doubt', 'submitted', 'completed', 'failed'));
ALTER TABLE generator.jobs ADD COLUMN request jsonb;             -- the GenerationRequested, to work from
ALTER TABLE generator.jobs ADD COLUMN deadline_at timestamptz;
ALTER TABLE generator.jobs ADD COLUMN due_at timestamptz NOT NULL DEFAULT clock_timestamp();
ALTER TABLE generator.jobs ADD COLUMN lease_until timestamptz;   -- a worker holds the job until then
ALTER TABLE generator.jobs ADD COLUMN attempts integer NOT NULL DEFAULT 0;      -- refused submits so far
ALTER TABLE generator.jobs ADD COLUMN gemini_calls integer NOT NULL DEFAULT 0;  -- possibly billed Gemini calls
ALTER TABLE generator.jobs ADD COLUMN in_doubt_since timestamptz;
-- Paid work that delivered nothing: a lost Gemini answer, a KIE task that appeared after the fallback.
ALTER TABLE generator.jobs ADD COLUMN wasted jsonb NOT NULL DEFAULT '[]'::jsonb;
-- Work a previous version left in a worker's hands is looked at again at once.
UPDATE generator.jobs SET lease_until = clock_timestamp() WHERE state IN ('claimed', 'submitting');
CREATE INDEX jobs_due_idx ON generator.jobs (due_at) WHERE state IN ('waiting', 'in_doubt');
CREATE INDEX jobs_lease_idx ON generator.jobs (lease_until) WHERE state IN ('claimed', 'submitting');

-- A booked KIE slot is held from when the request left until its answer came back.
ALTER TABLE generator.kie_submissions ADD COLUMN answered_at timestamptz;
