ALTER TABLE generator.kie_submissions DROP COLUMN answered_at;
DROP INDEX IF EXISTS generator.jobs_lease_idx;
DROP INDEX IF EXISTS generator.jobs_due_idx;
UPDATE generator.jobs SET state = 'failed', failure_reason = 'unknown_outcome' WHERE state = 'in_doubt';
ALTER TABLE generator.jobs DROP COLUMN wasted;
ALTER TABLE generator.jobs DROP COLUMN in_doubt_since;
ALTER TABLE generator.jobs DROP COLUMN gemini_calls;
ALTER TABLE generator.jobs DROP COLUMN attempts;
ALTER TABLE generator.jobs DROP COLUMN lease_until;
ALTER TABLE generator.jobs DROP COLUMN due_at;
ALTER TABLE generator.jobs DROP COLUMN deadline_at;
ALTER TABLE generator.jobs DROP COLUMN request;
ALTER TABLE generator.jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE generator.jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('claimed', 'waiting', 'submitting', 'submitted', 'completed', 'failed'));
