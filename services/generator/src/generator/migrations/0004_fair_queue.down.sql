DROP INDEX IF EXISTS generator.jobs_fair_idx;
DROP TABLE IF EXISTS generator.fair_clock;
DROP TABLE IF EXISTS generator.fair_shares;
ALTER TABLE generator.jobs DROP COLUMN IF EXISTS fair_tag;
