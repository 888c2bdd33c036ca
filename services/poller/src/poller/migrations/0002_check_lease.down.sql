ALTER TABLE poller.tasks DROP COLUMN IF EXISTS recheck;
ALTER TABLE poller.tasks DROP COLUMN IF EXISTS checking_until;
