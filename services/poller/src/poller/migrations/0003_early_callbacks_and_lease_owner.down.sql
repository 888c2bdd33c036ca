ALTER TABLE poller.tasks DROP COLUMN IF EXISTS result_found_at;
ALTER TABLE poller.tasks DROP COLUMN IF EXISTS lease_owner;
DROP TABLE IF EXISTS poller.early_callbacks;
